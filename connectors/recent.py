"""A bounded memory of recently delivered ids, to drop duplicate webhook deliveries."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Optional


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
