"""Creates or upgrades the console's tables: `python -m console.migrate [--endpoints FILE]`.

Each step of `STEPS` runs once, in order, in its own transaction, and records
the version it reaches in `console_schema_version`; running again does nothing
(idempotent). `make staff-user` and the console's start run it too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from console import analytics_schema, tables

Step = Tuple[int, str, Callable[[Connection], None]]


def _create_v1(connection: Connection) -> None:
    """Users, sessions, login failures, drafts, audit log and publish records."""
    tables.metadata.create_all(connection, tables=[
        tables.users, tables.sessions, tables.login_failures, tables.drafts,
        tables.audit_log, tables.publishes], checkfirst=True)


#: (version reached, what it does, the change), in order. Append; never edit a step.
STEPS: List[Step] = [
    (1, "accounts, sessions, drafts, audit log, publish records", _create_v1),
    # On a large existing store this holds the tracker store's writes while it fills the
    # facts table (35-50 s on 100,000 conversations): upgrade with the assistant stopped.
    (2, "analytics: indexes, facts table, triggers", analytics_schema.migration_step),
]


def current_version(connection: Connection) -> int:
    """The version the database has reached (0 before the first migration)."""
    if not sa.inspect(connection).has_table(tables.schema_version.name):
        return 0
    version = connection.execute(sa.select(sa.func.max(tables.schema_version.c.version)))
    return int(version.scalar() or 0)


def migrate(engine: Engine, steps: Sequence[Step] = STEPS) -> List[int]:
    """Runs the steps the database has not had yet.

    Args:
        engine: The tracker store's database.
        steps: The migration steps (the project's by default).

    Returns:
        The versions applied now (empty when the database was up to date).
    """
    applied: List[int] = []
    with engine.begin() as connection:
        tables.metadata.create_all(connection, tables=[tables.schema_version], checkfirst=True)
    for version, _description, change in steps:
        with engine.begin() as connection:
            if current_version(connection) >= version:
                continue
            change(connection)
            connection.execute(sa.delete(tables.schema_version))
            connection.execute(sa.insert(tables.schema_version).values(version=version))
        applied.append(version)
    return applied


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Migrates the database of an endpoints file's tracker store."""
    from console.database import DatabaseError, engine_for

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--endpoints", type=Path, default=Path("endpoints.yml"),
                        help="endpoints file naming the tracker store (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        engine = engine_for(args.endpoints)
    except DatabaseError as error:
        print(f"console.migrate: {error}", file=sys.stderr)
        return 2
    try:
        applied = migrate(engine)
    except sa.exc.SQLAlchemyError as error:
        print(f"console.migrate: database error: {getattr(error, 'orig', error)}",
              file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    done = ", ".join(map(str, applied)) if applied else "none needed"
    print(f"Console tables at version {STEPS[-1][0]} (steps applied: {done}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
