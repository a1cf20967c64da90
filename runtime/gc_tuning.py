"""Keeps Python's full garbage collections from pausing a server for a quarter second.

A loaded model is about 630,000 Python objects (TensorFlow, spaCy, Rasa's graph).
Python's collector walks all of them on every full (generation 2) collection,
which took about 260 ms on this machine; every request in flight on that worker
waited for it, and those pauses were the slowest 1% of answers under load
(docs/performance.md). `gc.freeze()` moves the objects alive at that moment into
a permanent generation the collector skips, so later collections only walk what
was created since. Objects are still freed by reference counting as usual.

`freeze_loaded(agent)` is called when the server has started (the model is
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

_lock = threading.Lock()
_frozen_for: Optional[int] = None


def freeze_loaded(agent: Any) -> bool:
    """Freezes the objects alive now, once per loaded model.

    Args:
        agent: Rasa's `Agent` (`app.ctx.agent`), or None before one exists.

    Returns:
        Whether a freeze happened (False when there is no model yet, or it is the
        model frozen last time).
    """
    global _frozen_for
    processor = getattr(agent, "processor", None)
    if processor is None or id(processor) == _frozen_for:  # every request: no lock
        return False
    with _lock:
        if id(processor) == _frozen_for:
            return False
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        _frozen_for = id(processor)
    logger.debug("Froze %d objects of the loaded model for the garbage collector.",
                 gc.get_freeze_count())
    return True


def freeze_now() -> None:
    """Collects, then freezes everything alive (for servers without a model to track)."""
    gc.collect()
    gc.freeze()
