"""The real action server and Rasa server (trained model, SQLite) on loopback."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.servers import BIN, ROOT, Assistant, running_assistant

__all__ = ["BIN", "ROOT", "Assistant"]


@pytest.fixture(scope="session")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    """One assistant shared by the whole session."""
    with running_assistant(tmp_path_factory.mktemp("assistant")) as running:
        yield running
