"""Server-side sessions: a random token in the cookie, its hash and CSRF token in the database.

A session ends after `idle_seconds` without a request (30 minutes by default),
or when its user logs out. Each has its own CSRF token, which every form and
htmx request must send back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console import tables

DEFAULT_IDLE_SECONDS = 30 * 60.0
#: last_seen is written at most this often per session (not on every request).
TOUCH_SECONDS = 30.0


def token_hash(token: str) -> str:
    """What the database keeps of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_token(given: Optional[str], expected: str) -> bool:
    """Whether a CSRF token sent back is the expected one (constant time)."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


@dataclass(frozen=True)
class Session:
    """A live session: whose it is and its CSRF token."""

    user_id: int
    csrf_token: str


class Sessions:
    """The sessions of one database."""

    def __init__(self, engine: Engine, idle_seconds: float = DEFAULT_IDLE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        """Works on `engine`'s `console_sessions` table.

        Args:
            engine: The database.
            idle_seconds: A session unused this long is over.
            clock: The current time in seconds since the epoch.
        """
        self.engine = engine
        self.idle_seconds = idle_seconds
        self.clock = clock

    def create(self, user_id: int) -> Tuple[str, Session]:
        """Starts a session; returns the cookie's token and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(user_id, secrets.token_urlsafe(32))
        now = self.clock()
        with self.engine.begin() as connection:
            connection.execute(sa.delete(tables.sessions).where(
                tables.sessions.c.last_seen < now - self.idle_seconds))
            connection.execute(sa.insert(tables.sessions).values(
                token_hash=token_hash(token), user_id=user_id,
                csrf_token=session.csrf_token, created_at=now, last_seen=now))
        return token, session

    def get(self, token: Optional[str]) -> Optional[Session]:
        """The live session of a cookie's token (None if unknown or idle too long)."""
        if not token:
            return None
        key = token_hash(token)
        now = self.clock()
        sessions = tables.sessions
        with self.engine.begin() as connection:
            row = connection.execute(sa.select(sessions).where(
                sessions.c.token_hash == key)).first()
            if row is None:
                return None
            if row.last_seen < now - self.idle_seconds:
                connection.execute(sa.delete(sessions).where(sessions.c.token_hash == key))
                return None
            if now - row.last_seen > TOUCH_SECONDS:
                connection.execute(sa.update(sessions).where(
                    sessions.c.token_hash == key).values(last_seen=now))
        return Session(row.user_id, row.csrf_token)

    def end(self, token: Optional[str]) -> None:
        """Ends the session of a cookie's token (logout)."""
        if token:
            with self.engine.begin() as connection:
                connection.execute(sa.delete(tables.sessions).where(
                    tables.sessions.c.token_hash == token_hash(token)))
