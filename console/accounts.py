"""Staff accounts: roles, bcrypt password hashes, creating and checking accounts."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import bcrypt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console import tables

EDITOR = "editor"
REVIEWER = "reviewer"
ADMIN = "admin"
#: Every role, with how the console names it.
ROLES: Dict[str, str] = {EDITOR: "Editor", REVIEWER: "Clinical reviewer", ADMIN: "Admin"}
#: Roles that may approve or reject drafts (never their own).
SIGN_OFF_ROLES = (REVIEWER, ADMIN)
MIN_PASSWORD_LENGTH = 12
#: bcrypt reads at most 72 bytes of a password; longer ones are refused, not cut.
MAX_PASSWORD_BYTES = 72
BCRYPT_ROUNDS = 12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """An account cannot be created as asked (bad e-mail, role or password, or taken)."""


@dataclass(frozen=True)
class User:
    """A staff account, without its password hash."""

    id: int
    email: str
    role: str

    @property
    def role_name(self) -> str:
        """The role as the console names it."""
        return ROLES.get(self.role, self.role)

    @property
    def can_sign_off(self) -> bool:
        """Whether the account may approve or reject others' drafts."""
        return self.role in SIGN_OFF_ROLES


@functools.lru_cache(maxsize=4)
def _no_account_hash(rounds: int) -> bytes:
    """A hash checked when the account is unknown, so a login takes as long either way."""
    return bcrypt.hashpw(b"no account", bcrypt.gensalt(rounds))


def normal_email(email: str) -> str:
    """An e-mail address as accounts are keyed: trimmed, lower case."""
    return email.strip().lower()


def password_problem(password: str) -> Optional[str]:
    """Why a password cannot be used, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return f"must be at most {MAX_PASSWORD_BYTES} bytes"
    return None


class Accounts:
    """The staff accounts of one database."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time,
                 rounds: int = BCRYPT_ROUNDS) -> None:
        """Works on `engine`'s `console_users` table (migrated beforehand).

        Args:
            engine: The database.
            clock: The current time in seconds since the epoch.
            rounds: bcrypt's cost factor (log2 of its iterations).
        """
        self.engine = engine
        self.clock = clock
        self.rounds = rounds

    def create(self, email: str, role: str, password: str) -> User:
        """Creates an account.

        Raises:
            AccountError: The e-mail, role or password is unusable, or the
                e-mail has an account already.
        """
        email = normal_email(email)
        if not _EMAIL.match(email) or len(email) > 254:
            raise AccountError(f"not an e-mail address: {email!r}")
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        problem = password_problem(password)
        if problem:
            raise AccountError(f"the password {problem}")
        hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(self.rounds))
        try:
            with self.engine.begin() as connection:
                result = connection.execute(sa.insert(tables.users).values(
                    email=email, role=role, password_hash=hashed.decode("ascii"),
                    created_at=self.clock(), disabled=False))
        except sa.exc.IntegrityError:
            raise AccountError(f"{email} has an account already") from None
        return User(int(result.inserted_primary_key[0]), email, role)

    def check(self, email: str, password: str) -> Optional[User]:
        """The account whose e-mail and password these are, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(tables.users).where(
                tables.users.c.email == normal_email(email))).first()
        encoded = password.encode("utf-8")
        if row is None or row.disabled or len(encoded) > MAX_PASSWORD_BYTES:
            bcrypt.checkpw(b"-", _no_account_hash(self.rounds))
            return None
        if not bcrypt.checkpw(encoded, row.password_hash.encode("ascii")):
            return None
        return User(row.id, row.email, row.role)

    def get(self, user_id: int) -> Optional[User]:
        """The enabled account with this id, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(tables.users).where(
                tables.users.c.id == user_id)).first()
        return None if row is None or row.disabled else User(row.id, row.email, row.role)

    def all(self) -> List[User]:
        """Every enabled account, by e-mail."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(tables.users).where(
                tables.users.c.disabled.is_(False)).order_by(tables.users.c.email)).all()
        return [User(row.id, row.email, row.role) for row in rows]
