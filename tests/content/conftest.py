"""A temporary copy of the project's content, data and test data, for the staff tools."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import List

import pytest

from tools.content.check import ERROR, check

ROOT = Path(__file__).resolve().parents[2]
COPIED = ["content", "data", "domain.yml", "config.yml", "tests/heldout", "tests/safety"]


def copy_project(target: Path) -> Path:
    """Copies what the staff tools read into `target`; returns it."""
    for name in COPIED:
        source = ROOT / name
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copyfile(source, destination)
    return target


def remove_lines(path: Path, lines: List[int]) -> None:
    """Deletes the given 1-based lines from a file."""
    kept = [text for number, text in enumerate(path.read_text().splitlines(keepends=True), 1)
            if number not in lines]
    path.write_text("".join(kept))


@pytest.fixture(scope="session")
def clean_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project on which `check` reports no error (made once per session).

    Training examples that the real data gets wrong (e.g. a held-out message also
    used for training; `make check` reports those) are dropped from the copy, so
    each test sees only the problem it introduces. Anything else fails here.
    """
    root = copy_project(tmp_path_factory.mktemp("clean") / "project")
    errors = [p for p in check(root) if p.severity == ERROR]
    by_file: dict[str, List[int]] = {}
    for problem in errors:
        if problem.path.startswith("data/nlu/") and problem.field == "examples":
            by_file.setdefault(problem.path, []).append(problem.line)
    for name, lines in by_file.items():
        remove_lines(root / name, lines)
    remaining = [str(p) for p in check(root) if p.severity == ERROR] if errors else []
    if remaining:
        pytest.fail("the project data has errors `make check` reports:\n" + "\n".join(remaining))
    return root


@pytest.fixture
def project(clean_project: Path, tmp_path: Path) -> Path:
    """A writable copy of the clean project copy, for one test."""
    target = tmp_path / "project"
    shutil.copytree(clean_project, target)
    return target


def set_field(path: Path, key: str, value: str) -> int:
    """Replaces a top-level `key: ...` line of a YAML file; returns its 1-based line."""
    lines = path.read_text().splitlines(keepends=True)
    for number, text in enumerate(lines):
        if re.match(rf"{re.escape(key)}:", text):
            end = number + 1
            while end < len(lines) and lines[end].startswith((" ", "\t")):
                end += 1  # the value's continuation lines
            lines[number:end] = [f"{key}: {value}\n"]
            path.write_text("".join(lines))
            return number + 1
    raise AssertionError(f"{key} not in {path}")


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the first line containing `needle`."""
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def append_examples(path: Path, intent: str, examples: List[str]) -> List[int]:
    """Adds an intent block with examples at the end of an NLU file; returns their lines."""
    text = path.read_text()
    if not text.endswith("\n"):
        text += "\n"
    start = len(text.splitlines())
    block = f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {e}\n" for e in examples)
    path.write_text(text + block)
    return [start + 3 + i for i in range(len(examples))]
