"""Deletes the conversations whose last event is older than N days (the retention period).

Usage:
    python -m tools.purge_conversations --older-than-days 30 [--endpoints endpoints.yml]
                                          [--dry-run]

Works on the SQL tracker store the endpoints file names (SQLite or PostgreSQL;
`${VAR}` values are substituted from the environment, as Rasa does). A
conversation is deleted whole, with all its sessions, or not at all. Run it daily,
e.g. from cron; it is safe while Rasa is running. Exit status: 0 on success, 2 when
the endpoints file has no SQL tracker store or the database cannot be reached.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parent.parent
SECONDS_PER_DAY = 86400


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--older-than-days", type=float, required=True,
                        help="delete conversations whose last event is older than this")
    parser.add_argument("--endpoints", default="endpoints.yml",
                        help="endpoints file with the tracker store (default: endpoints.yml)")
    parser.add_argument("--dry-run", action="store_true",
                        help="only count what would be deleted")
    args = parser.parse_args(argv)
    if args.older_than_days < 0:
        parser.error("--older-than-days must not be negative")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Purges (or counts) the old conversations and prints how many."""
    args = parse_args(argv)
    import sqlalchemy.exc
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import read_endpoint_config

    from stores.retention import engine_for, purge_older_than

    try:
        config = read_endpoint_config(args.endpoints, "tracker_store")
    except RasaException as error:  # e.g. a ${VAR} that is not set
        print(f"Cannot read {args.endpoints}: {error}", file=sys.stderr)
        return 2
    if config is None:
        print(f"{args.endpoints} has no tracker_store section.", file=sys.stderr)
        return 2
    try:
        engine = engine_for(config)
    except ValueError as error:
        print(f"{args.endpoints}: {error}; only SQL tracker stores can be purged.",
              file=sys.stderr)
        return 2
    cutoff = time.time() - args.older_than_days * SECONDS_PER_DAY
    try:
        result = purge_older_than(engine, cutoff, dry_run=args.dry_run)
    except sqlalchemy.exc.SQLAlchemyError as error:
        detail = getattr(error, "orig", None) or error
        print(f"Database error: {detail}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    verb = "Would delete" if args.dry_run else "Deleted"
    print(f"{verb} {result.conversations} conversation(s) ({result.events} events) "
          f"whose last event is older than {args.older_than_days:g} days.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
