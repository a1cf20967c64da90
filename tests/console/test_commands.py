"""The console's commands: `python -m console.migrate` and `make staff-user`'s, run through their `main`."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from console.accounts import Accounts
from console.database import engine_for
from tests.console.conftest import sqlite_endpoints
from tools.processes import ROOT


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> Callable[..., Run]:
    """Runs `python -m <module> args` in this process (its `main`), with STAFF_PASSWORD."""
    def run_module(module: str, *args: str, password: str = "") -> Run:
        monkeypatch.setenv("STAFF_PASSWORD", password)
        main = importlib.import_module(module).main
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse refusing an argument
            code = int(exit_.code or 0)
        out = capsys.readouterr()
        return Run(code, out.out, out.err)

    return run_module


def test_migrate_and_staff_user(tmp_path: Path, run: Callable[..., Run]) -> None:
    endpoints = str(sqlite_endpoints(tmp_path))
    first = run("console.migrate", "--endpoints", endpoints)
    assert first.returncode == 0 and "steps applied: 1" in first.stdout, first.stderr
    again = run("console.migrate", "--endpoints", endpoints)
    assert again.returncode == 0 and "none needed" in again.stdout

    created = run("console.staff_user", "--email", "Dr.Lee@example.org", "--role", "reviewer",
                  "--endpoints", endpoints, password="a clinical password")
    assert created.returncode == 0 and "dr.lee@example.org (Clinical reviewer)" in created.stdout
    twice = run("console.staff_user", "--email", "dr.lee@example.org", "--role", "admin",
                "--endpoints", endpoints, password="another password 1")
    assert twice.returncode == 2 and "has an account already" in twice.stderr
    short = run("console.staff_user", "--email", "x@example.org", "--role", "editor",
                "--endpoints", endpoints, password="short")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    assert run("console.staff_user", "--email", "x@example.org", "--role", "owner",
               "--endpoints", endpoints, password="a long password 1").returncode == 2

    engine = engine_for(Path(endpoints))
    try:
        user = Accounts(engine).check("dr.lee@example.org", "a clinical password")
        assert user is not None and user.role == "reviewer"
    finally:
        engine.dispose()


def test_the_make_target_runs_the_command() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^staff-user:.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert recipe is not None
    assert "-m console.staff_user" in recipe.group(1) and "$(EMAIL)" in recipe.group(1)
    assert "$(ROLE)" in recipe.group(1)
