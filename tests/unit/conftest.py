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
