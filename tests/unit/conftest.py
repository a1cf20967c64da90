"""Fixtures of the action tests: a content store in tmp_path and the real safety net."""

from __future__ import annotations

from pathlib import Path

import pytest

from nightcramps.content_store import YamlContentStore
from nightcramps.safety import SafetyNet

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(content_copy: Path) -> YamlContentStore:
    """The project's content store, copied to tmp_path, reloaded on every read."""
    return YamlContentStore(content_copy, reload_interval=0)


@pytest.fixture(scope="module")
def net() -> SafetyNet:
    """The project's safety net (content/safety.yml)."""
    return SafetyNet.from_file(ROOT / "content" / "safety.yml")


#: What a unit test may not need (see tests/conftest.py).
HEAVY_MARKERS = ("model", "services", "browser", "slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuses a unit test marked as needing a model, a server, a service or a browser."""
    here = Path(__file__).resolve().parent
    heavy = [item.nodeid for item in items
             if here in item.path.resolve().parents
             and any(item.get_closest_marker(name) for name in HEAVY_MARKERS)]
    if heavy:
        raise pytest.UsageError(f"unit tests must need no model, server, service or browser; "
                                f"move these to another suite: {heavy}")
