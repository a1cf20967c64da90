"""The login rate limit: failed logins counted per account and per client address.

Failures are stored in the database (`console_login_failures`), so the limit
holds across restarts and processes. A success does not wipe the count: an
attacker who knows one password cannot use it to reset the limit for guesses at
others from the same address.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console import tables
from console.accounts import normal_email


@dataclass(frozen=True)
class Limits:
    """How many failures are allowed within `window` seconds."""

    per_account: int = 5
    per_address: int = 20
    window: float = 15 * 60.0


#: The limits unless the console is told otherwise.
DEFAULT_LIMITS = Limits()


class LoginLimiter:
    """Counts failed logins and says when to refuse further attempts."""

    def __init__(self, engine: Engine, limits: Limits = DEFAULT_LIMITS,
                 clock: Callable[[], float] = time.time) -> None:
        """Works on `engine`'s `console_login_failures` table."""
        self.engine = engine
        self.limits = limits
        self.clock = clock

    def blocked(self, email: str, address: str) -> bool:
        """Whether the account or the address has used up its failures."""
        since = self.clock() - self.limits.window
        failures = tables.login_failures
        with self.engine.connect() as connection:
            per_account = connection.execute(
                sa.select(sa.func.count()).select_from(failures).where(
                    failures.c.account == normal_email(email), failures.c.at > since)).scalar()
            per_address = connection.execute(
                sa.select(sa.func.count()).select_from(failures).where(
                    failures.c.address == address, failures.c.at > since)).scalar()
        return bool(int(per_account or 0) >= self.limits.per_account
                    or int(per_address or 0) >= self.limits.per_address)

    def failed(self, email: str, address: str) -> None:
        """Records a failed login, and forgets failures older than the window."""
        now = self.clock()
        with self.engine.begin() as connection:
            connection.execute(sa.insert(tables.login_failures).values(
                account=normal_email(email)[:254], address=address[:64], at=now))
            connection.execute(sa.delete(tables.login_failures).where(
                tables.login_failures.c.at <= now - self.limits.window))
