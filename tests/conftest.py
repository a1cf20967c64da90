"""Shared fixtures: a copy of the real content store in tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of the project's content store."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target
