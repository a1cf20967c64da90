"""Keeps Python's full garbage collections from pausing a server for a quarter second.

A loaded model is about 630,000 Python objects (TensorFlow, spaCy, Rasa's graph).
Python's collector walks all of them on every full (generation 2) collection,
which took about 260 ms on this machine; every request in flight on that worker
waited for it, and those pauses were the slowest 1% of answers under load
(docs/performance.md). `gc.freeze()` moves the objects alive at that moment into
a permanent generation the collector skips, so later collections only walk what
was created since. Objects are still freed by reference counting as usual.

`ModelFreezer.freeze_loaded(agent)` is called when the server has started (the model is
loaded by then) and after each request: the first request served by a newly
loaded model (`make publish`, `PUT /model`) unfreezes, collects the old model's
objects and freezes the new one, so publishing does not leave old models behind.
"""

from __future__ import annotations

import gc
import logging
import threading
from typing import Any, Optional

logger = logging.getLogger(__name__)

class ModelFreezer:
    """Freezes the objects alive when a model is loaded, once per loaded model.

    The REST channel keeps one per process (`gc.freeze` is per process).
    """

    def __init__(self) -> None:
        """Starts with no model frozen."""
        self._lock = threading.Lock()
        self._frozen_for: Optional[int] = None

    def freeze_loaded(self, agent: Any) -> bool:
        """Freezes the objects alive now, if `agent`'s model is not the one frozen last.

        Args:
            agent: Rasa's `Agent` (`app.ctx.agent`), or None before one exists.

        Returns:
            Whether a freeze happened (False when there is no model yet, or it is the
            model frozen last time).
        """
        processor = getattr(agent, "processor", None)
        if processor is None or id(processor) == self._frozen_for:  # every request: no lock
            return False
        with self._lock:
            if id(processor) == self._frozen_for:
                return False
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self._frozen_for = id(processor)
        logger.debug("Froze %d objects of the loaded model for the garbage collector.",
                     gc.get_freeze_count())
        return True


def freeze_now() -> None:
    """Collects, then freezes everything alive (for servers without a model to track)."""
    gc.collect()
    gc.freeze()
