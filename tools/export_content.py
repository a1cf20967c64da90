"""Writes the latest approved content versions into content/, for git.

Usage:
    python -m tools.export_content [--content-db URL | --endpoints endpoints.yml] [--to content]

The approved versions live in the `content_versions` table of the conversations'
database (stores/content_versions.py): `$CONTENT_DB_URL` or `--content-db`, else
the SQL tracker store of `--endpoints` (default endpoints.yml; `${VAR}`s are
substituted from the environment, so `endpoints.prod.yml` reads PostgreSQL's
settings from `scripts/services.sh env`). The newest version of each published
file is written (atomically) where it differs; then commit content/ as usual.
Exit status: 0 on success, 2 when the database cannot be read.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """The command line."""
    from stores.content_versions import CONTENT_DB_ENV

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content-db", default=os.environ.get(CONTENT_DB_ENV) or None,
                        help=f"SQLAlchemy URL of the database (default: ${CONTENT_DB_ENV})")
    parser.add_argument("--endpoints", default=str(ROOT / "endpoints.yml"),
                        help="endpoints file whose SQL tracker store holds the versions "
                             "(used without --content-db; default: endpoints.yml)")
    parser.add_argument("--to", type=Path, default=ROOT / "content",
                        help="content folder to write into (default: content/)")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Exports the newest version of every published file; prints what changed."""
    args = parse_args(argv)
    import sqlalchemy.exc

    from stores.content_versions import ContentVersions, engine_from, write_versions

    try:
        engine = engine_from(args.content_db, args.endpoints)
    except ValueError as error:
        print(f"Cannot open the content versions: {error}", file=sys.stderr)
        return 2
    if engine is None:
        print("No database given (--content-db or --endpoints).", file=sys.stderr)
        return 2
    try:
        latest = ContentVersions(engine, args.to).latest_files()
    except sqlalchemy.exc.SQLAlchemyError as error:
        print(f"Database error: {getattr(error, 'orig', None) or error}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if not latest:
        print("No approved content versions yet; nothing to export.")
        return 0
    written = write_versions(latest, args.to)
    newest = max(version.version for version in latest.values())
    if written:
        print(f"Wrote {len(written)} file(s) of content version {newest} into {args.to}: "
              + ", ".join(written))
    else:
        print(f"{args.to} already holds content version {newest}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
