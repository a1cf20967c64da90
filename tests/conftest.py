"""Shared fixtures (a copy of the real content store, the fake platform API) and levels.

Each suite folder is one level of test, marked here so that `-m` selects by what
a test needs (markers are declared in pyproject.toml):

- `tests/unit`: nothing (no model, no server, no service); `make unit` refuses
  to run a unit test that carries any of the markers below;
- `model`: the trained model; `slow`: starts servers or processes;
- `services`: PostgreSQL, Redis or nginx from scripts/services.sh;
- `browser`: headless chromium.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tests.channels.recorder import Recorder

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"

#: The markers of each suite folder (tests/unit has none).
LEVELS = {
    "integration": ("model", "slow"),
    "channels": ("model", "slow"),
    "content": ("model", "slow"),
    "security": ("model", "slow"),
    "browser": ("model", "slow", "browser"),
    "prod": ("model", "slow", "services"),
    "privacy": ("model", "slow", "services"),
    "faults": ("model", "slow", "services"),
    # The console: its server; the browser and PostgreSQL modules add their own marks.
    "console": ("slow",),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks each test with its suite's level (see `LEVELS`)."""
    tests = Path(__file__).resolve().parent
    for item in items:
        parts = item.path.resolve().relative_to(tests).parts
        for marker in LEVELS.get(parts[0], ()) if len(parts) > 1 else ():
            item.add_marker(getattr(pytest.mark, marker))


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
