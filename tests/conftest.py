"""Shared fixtures: a copy of the real content store, the fake platform API."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tests.channels.recorder import Recorder

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of the project's content store."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target


@pytest.fixture(scope="session")
def recorder() -> Iterator[Recorder]:
    """The messaging platforms' APIs, faked on loopback; records every outbound call."""
    fake = Recorder().start()
    try:
        yield fake
    finally:
        fake.stop()
