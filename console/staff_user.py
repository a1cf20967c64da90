"""Creates a console account: `python -m console.staff_user --email E --role R` (`make staff-user`).

The password comes from $STAFF_PASSWORD, or is asked for twice at a prompt
(never as an argument: it would land in the shell history and the process
list). Migrates the database first.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

PASSWORD_ENV = "STAFF_PASSWORD"


def read_password() -> Optional[str]:
    """$STAFF_PASSWORD, else the password typed twice (None if the two differ)."""
    given = os.environ.get(PASSWORD_ENV)
    if given:
        return given
    first = getpass.getpass("Password (at least 12 characters): ")
    second = getpass.getpass("Password again: ")
    return first if first == second else None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Creates the account; exit status 0, or 2 with the reason on stderr."""
    from console.accounts import ROLES, AccountError, Accounts
    from console.audit import AuditLog
    from console.database import DatabaseError, engine_for
    from console.migrate import migrate

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--email", required=True)
    parser.add_argument("--role", required=True, choices=sorted(ROLES),
                        help="editor, reviewer (clinical reviewer) or admin")
    parser.add_argument("--endpoints", type=Path, default=Path("endpoints.yml"),
                        help="endpoints file naming the tracker store (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.email.strip():
        parser.error("give the account's e-mail address: make staff-user EMAIL=... ROLE=...")
    try:
        engine = engine_for(args.endpoints)
    except DatabaseError as error:
        print(f"staff-user: {error}", file=sys.stderr)
        return 2
    try:
        migrate(engine)
        password = read_password()
        if password is None:
            print("staff-user: the two passwords differ; nothing created.", file=sys.stderr)
            return 2
        try:
            user = Accounts(engine).create(args.email, args.role, password)
        except AccountError as error:
            print(f"staff-user: {error}", file=sys.stderr)
            return 2
        with engine.begin() as connection:
            AuditLog(engine).record(connection, "make staff-user", "account created",
                                    author=user.email, comment=f"role: {user.role}")
    finally:
        engine.dispose()
    print(f"Created {user.email} ({user.role_name}). Log in to the console with it.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
