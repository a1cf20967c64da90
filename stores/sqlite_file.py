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
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: Seconds a transaction waits for another process's before failing.
BUSY_TIMEOUT_SECONDS = 30.0


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
            connection.execute("PRAGMA journal_mode=WAL")
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
