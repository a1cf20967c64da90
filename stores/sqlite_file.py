"""An SQLite file that several processes of one machine change atomically.

Shared by the SQLite lock store and the channels' memory of delivered ids: each
process (and thread) gets its own connection, opened lazily (a forked worker
never reuses its parent's), in WAL mode; every change is one `BEGIN IMMEDIATE`
transaction, which holds SQLite's write lock from its start.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: Seconds a transaction waits for another process's before failing.
BUSY_TIMEOUT_SECONDS = 30.0
#: Pause between two attempts to switch a file to WAL mode.
_WAL_RETRY_SECONDS = 0.01


def enable_wal(connection: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
    """Puts the connection's file in WAL mode, waiting up to `timeout` s for other writers.

    Leaving rollback mode takes the file's exclusive lock. While another connection
    holds a write lock, SQLite refuses at once ("database is locked") instead of
    calling the busy handler: two Rasa workers opening a new file together hit
    this. Once the file is in WAL mode (a setting kept in the file), the pragma
    needs no lock.

    Raises:
        sqlite3.OperationalError: Still locked after `timeout` seconds, or any
            other error.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(_WAL_RETRY_SECONDS)


class SQLiteFile:
    """Per-process connections to one SQLite file, and write transactions on it."""

    def __init__(self, path: Path, schema: str) -> None:
        """Creates the file (and its folder) if needed, with `schema` (idempotent SQL)."""
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection().executescript(schema)

    def connection(self) -> sqlite3.Connection:
        """This process's and thread's connection (autocommit outside `transaction`)."""
        connection = getattr(self._local, "connection", None)
        if connection is None or getattr(self._local, "pid", None) != os.getpid():
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS,
                                         isolation_level=None, check_same_thread=False)
            enable_wal(connection)
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, atomic across processes; rolled back on an error."""
        connection = self.connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
