"""The load run's wall-clock limit."""

from __future__ import annotations

import time
from dataclasses import dataclass


class OutOfTime(Exception):
    """The run's wall-clock limit was reached."""


@dataclass
class Deadline:
    """The run's wall-clock limit."""

    at: float

    def left(self) -> float:
        """Seconds left."""
        return self.at - time.monotonic()

    def check(self) -> None:
        """Raises `OutOfTime` once the limit is reached."""
        if self.left() <= 0:
            raise OutOfTime()
