"""Freezing the loaded model's objects for the garbage collector, once per model."""

from __future__ import annotations

import gc
import weakref
from types import SimpleNamespace
from typing import Iterator

import pytest

from runtime import gc_tuning


@pytest.fixture
def freezer() -> Iterator[gc_tuning.ModelFreezer]:
    yield gc_tuning.ModelFreezer()
    gc.unfreeze()


class Model:
    """Stands in for a model's objects: a reference cycle, freed only by the collector."""

    def __init__(self) -> None:
        self.me = self


def test_each_loaded_model_is_frozen_once(freezer: gc_tuning.ModelFreezer) -> None:
    assert not freezer.freeze_loaded(None)
    assert not freezer.freeze_loaded(SimpleNamespace(processor=None))
    first = SimpleNamespace(processor=Model())
    assert freezer.freeze_loaded(first)
    assert gc.get_freeze_count() > 0
    assert not freezer.freeze_loaded(first)  # the same model: nothing to do


def test_a_replaced_model_is_collected_and_the_new_one_frozen(
        freezer: gc_tuning.ModelFreezer) -> None:
    old = Model()
    gone = weakref.ref(old)
    assert freezer.freeze_loaded(SimpleNamespace(processor=old))
    del old
    gc.collect()
    assert gone() is not None  # frozen: full collections skip it
    new = SimpleNamespace(processor=Model())
    assert freezer.freeze_loaded(new)
    assert gone() is None  # unfrozen and collected when the new model was frozen
