"""A bounded memory of recently delivered ids, to drop duplicate webhook deliveries."""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Optional

from stores.sqlite_file import SQLiteFile


class RecentIds:
    """Remembers up to `size` ids for `ttl` seconds each (oldest forgotten first)."""

    def __init__(
        self,
        size: int = 4096,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Makes an empty memory.

        Args:
            size: The most ids remembered at once.
            ttl: How long an id is remembered, in seconds (platforms retry
                within minutes; Slack's last retry comes after about 5).
            clock: The time source (tests pass a fake one).
        """
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        """How many ids are remembered."""
        return len(self._seen)

    def seen_before(self, key: Optional[str]) -> bool:
        """Whether `key` was delivered recently; remembers it if it was not.

        Args:
            key: The platform's id of the delivery (None or "" is never a duplicate).

        Returns:
            True if `key` was seen within the time to live.
        """
        if not key:
            return False
        now = self._clock()
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if now - seen_at <= self._ttl:
                break
            del self._seen[oldest]
        if key in self._seen:
            return True
        self._seen[key] = now
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return False


class SharedRecentIds:
    """`RecentIds` kept in an SQLite file, shared by the Rasa processes of one machine.

    `make run` starts two Rasa workers: a platform's retry can reach the other
    worker than the first delivery, so the memory must be common to both. Each
    check is one `BEGIN IMMEDIATE` transaction (atomic across processes).
    """

    def __init__(self, path: Path, size: int = 4096, ttl: float = 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        """Opens (creating if needed) the file.

        Args:
            path: The SQLite file.
            size: The most ids remembered at once.
            ttl: How long an id is remembered, in seconds.
            clock: The time source, the same in every process (wall-clock seconds).
        """
        self.path = path
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._file = SQLiteFile(path, "CREATE TABLE IF NOT EXISTS delivery_ids "
                                      "(key TEXT PRIMARY KEY, seen_at REAL NOT NULL);")

    def __len__(self) -> int:
        """How many ids are remembered."""
        (count,) = self._file.connection().execute(
            "SELECT count(*) FROM delivery_ids").fetchone()
        return int(count)

    def seen_before(self, key: Optional[str]) -> bool:
        """Whether `key` was delivered recently, to any process; remembers it if not."""
        if not key:
            return False
        now = self._clock()
        with self._file.transaction() as connection:
            connection.execute("DELETE FROM delivery_ids WHERE seen_at < ?",
                               (now - self._ttl,))
            inserted = connection.execute(
                "INSERT OR IGNORE INTO delivery_ids (key, seen_at) VALUES (?, ?)",
                (key, now)).rowcount
            connection.execute(
                "DELETE FROM delivery_ids WHERE key IN (SELECT key FROM delivery_ids "
                "ORDER BY seen_at DESC LIMIT -1 OFFSET ?)", (self._size,))
        return inserted == 0


#: The SQLite file of the shared memory; unset: each process remembers on its own.
SHARED_FILE_ENV = "DELIVERY_IDS_DB"


def recent_ids() -> RecentIds | SharedRecentIds:
    """The channels' memory: shared through $DELIVERY_IDS_DB if set, else in-process."""
    path = os.environ.get(SHARED_FILE_ENV)
    return SharedRecentIds(Path(path)) if path else RecentIds()
