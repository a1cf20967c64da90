"""A lock store in an SQLite file, so several Rasa workers on one machine need no Redis.

Rasa serialises the messages of one conversation with a ticket lock
(`rasa/core/lock_store.py`). Its in-memory store works only inside one process,
so Rasa refuses more than one Sanic worker with it; its Redis store needs a
server. `SQLiteLockStore` keeps the tickets in a small SQLite file that every
worker process on the machine opens, which lets the default profile run
`SANIC_WORKERS` > 1 with no service to install (docs/performance.md).

Every change is one `BEGIN IMMEDIATE` transaction, so SQLite's file lock makes
it atomic across processes: issuing a ticket (numbered from a per-conversation
counter that only grows), dropping expired tickets, finishing a ticket. Expiry
works as in Rasa's `TicketLock`: a ticket expires `lock_lifetime` seconds after it
was issued, and expired tickets are dropped. The lock "exists" while it holds a
ticket.

    lock_store:
      type: stores.sqlite_lock_store.SQLiteLockStore
      db: locks.db            # relative to the working directory, like tracker.db

Only for processes on one machine: SQLite's locking is not reliable over a
network file system. Across machines, use the production profile's Redis store.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from pathlib import Path
from typing import Optional

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from stores.sqlite_file import SQLiteFile

logger = logging.getLogger(__name__)

DEFAULT_DB = "locks.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lock_tickets (
    conversation_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (conversation_id, number)
);
CREATE TABLE IF NOT EXISTS lock_counters (
    conversation_id TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
"""


class SQLiteLockStore(LockStore):
    """Ticket locks in an SQLite file shared by the worker processes of one machine."""

    def __init__(self, db: str = DEFAULT_DB,
                 endpoint_config: Optional[EndpointConfig] = None) -> None:
        """Opens (and creates if needed) the lock file.

        Args:
            db: Path of the SQLite file.
            endpoint_config: The endpoints file's `lock_store` section; its `db`
                replaces the argument (this is how Rasa creates the store).
        """
        if endpoint_config is not None:
            db = str(endpoint_config.kwargs.get("db") or DEFAULT_DB)
        self.path = Path(db)
        self._file = SQLiteFile(self.path, _SCHEMA)

    @staticmethod
    def _prune(connection: sqlite3.Connection, conversation_id: str, now: float) -> None:
        connection.execute("DELETE FROM lock_tickets WHERE conversation_id = ? AND expires < ?",
                           (conversation_id, now))

    def get_lock(self, conversation_id: str) -> Optional[TicketLock]:
        """The conversation's tickets as Rasa's `TicketLock`, or None if it holds none."""
        rows = self._file.connection().execute(
            "SELECT number, expires FROM lock_tickets WHERE conversation_id = ? "
            "ORDER BY number", (conversation_id,)).fetchall()
        if not rows:
            return None
        return TicketLock(conversation_id, deque(Ticket(int(n), float(e)) for n, e in rows))

    def delete_lock(self, conversation_id: str) -> None:
        """Drops every ticket of the conversation."""
        with self._file.transaction() as connection:
            connection.execute("DELETE FROM lock_tickets WHERE conversation_id = ?",
                               (conversation_id,))

    def save_lock(self, lock: TicketLock) -> None:
        """Replaces the conversation's tickets with `lock`'s (unused by Rasa's flow here)."""
        with self._file.transaction() as connection:
            connection.execute("DELETE FROM lock_tickets WHERE conversation_id = ?",
                               (lock.conversation_id,))
            connection.executemany(
                "INSERT INTO lock_tickets (conversation_id, number, expires) VALUES (?, ?, ?)",
                [(lock.conversation_id, t.number, t.expires) for t in lock.tickets])

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Adds a ticket that expires in `lock_lifetime` seconds, in one transaction.

        Returns:
            The ticket's number, greater than any issued before for the conversation.

        Raises:
            LockError: The lock file could not be written.
        """
        try:
            now = time.time()
            with self._file.transaction() as connection:
                self._prune(connection, conversation_id, now)
                connection.execute(
                    "INSERT INTO lock_counters (conversation_id, last) VALUES (?, 1) "
                    "ON CONFLICT (conversation_id) DO UPDATE SET last = last + 1",
                    (conversation_id,))
                (number,) = connection.execute(
                    "SELECT last FROM lock_counters WHERE conversation_id = ?",
                    (conversation_id,)).fetchone()
                connection.execute(
                    "INSERT INTO lock_tickets (conversation_id, number, expires) VALUES (?, ?, ?)",
                    (conversation_id, number, now + float(lock_lifetime)))
            return int(number)
        except sqlite3.Error as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        """Drops the conversation's expired tickets."""
        with self._file.transaction() as connection:
            self._prune(connection, conversation_id, time.time())

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Removes the ticket (and expired ones)."""
        with self._file.transaction() as connection:
            self._prune(connection, conversation_id, time.time())
            connection.execute(
                "DELETE FROM lock_tickets WHERE conversation_id = ? AND number = ?",
                (conversation_id, ticket_number))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Finishes the ticket; with no ticket left the lock is gone, in the same step."""
        self.finish_serving(conversation_id, ticket_number)
