"""docs/content-guide.md: every command it tells staff to type exists and works."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest

from tests.content.conftest import ROOT
from tools.content import check

GUIDE = ROOT / "docs" / "content-guide.md"


def guide_commands(guide: Path = GUIDE) -> List[str]:
    """The commands in the guide's bash blocks (`export` lines set variables only)."""
    blocks = re.findall(r"```bash\n(.*?)```", guide.read_text(), flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith(("export ", "#"))]


def missing_make_targets(guide: Path, makefile: Path) -> List[str]:
    """The guide's `make ...` commands whose target (or variable) the Makefile lacks."""
    text = makefile.read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.M))
    missing = []
    for command in guide_commands(guide):
        words = command.split()
        if words[0] != "make":
            continue
        if words[1] not in targets:
            missing.append(command)
        for variable in (w.split("=")[0] for w in words[2:] if "=" in w):
            if not re.search(rf"\$\(({variable})\)", text):
                missing.append(command)
    return sorted(set(missing))


def test_guide_commands_are_make_targets_or_tested_modules() -> None:
    commands = guide_commands()
    assert "make check" in commands and "make rollback" in commands
    for command in commands:
        assert command.startswith(("make ", ".venv/bin/python -m tools.content.")), command


def test_every_make_command_in_the_guide_is_a_makefile_target() -> None:
    assert missing_make_targets(GUIDE, ROOT / "Makefile") == []


def test_the_guides_python_commands_work(clean_project: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    for command in guide_commands():
        words = command.split()
        if words[:3] == [".venv/bin/python", "-m", "tools.content.check"]:
            assert check.main([*words[3:], "--root", str(clean_project)]) == 0
            assert "OK" in capsys.readouterr().out


def test_the_guides_example_output_matches_check_output() -> None:
    example = re.search(r"```\n(content/topics/\S+:\d+: error: .*)\n```", GUIDE.read_text())
    assert example is not None
    problem = check.Problem("content/topics/diet.yml", 12, check.ERROR, "sources",
                            "'xyz' is not in content/store.yml's source list")
    assert str(problem) == example.group(1)


def test_the_tests_the_guide_names_exist() -> None:
    table = GUIDE.read_text().split("## Which test covers which command")[1]
    files = set(re.findall(r"`(tests/[\w/]+\.py)`", table))
    assert files
    sources = ""
    for name in files:
        assert (ROOT / name).exists(), name
        sources += (ROOT / name).read_text()
    for test in re.findall(r"`(test_\w+?)(?:\.\.\.)?`", table):
        assert f"def {test}" in sources, test
