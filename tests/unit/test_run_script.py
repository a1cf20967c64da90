"""scripts/run.py's command line: bad replica settings are refused before anything starts."""

from __future__ import annotations

import subprocess
from typing import List

import pytest

from scripts import run


def refuse(argv: List[str], capsys: pytest.CaptureFixture[str],
           monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs `run.main(argv)`, which must exit 2 without starting a process."""
    started: List[object] = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(a))
    with pytest.raises(SystemExit) as exit_info:
        run.main(argv)
    assert exit_info.value.code == 2 and started == []
    return capsys.readouterr().err


def test_replicas_need_the_production_profile(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    error = refuse(["--replicas", "2"], capsys, monkeypatch)
    assert "--endpoints endpoints.prod.yml" in error


def test_at_least_one_replica(capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    error = refuse(["--replicas", "0", "--endpoints", "endpoints.prod.yml"], capsys, monkeypatch)
    assert "at least 1" in error


def test_one_server_gets_two_workers_and_replicas_one_each() -> None:
    assert run.workers({}, 1) == "2"
    assert run.workers({}, 3) == "1"
    assert run.workers({"SANIC_WORKERS": "4"}, 1) == "4"


def test_one_worker_when_models_are_published_through_the_api() -> None:
    assert run.workers({"RASA_API_TOKEN": "s3cret"}, 1) == "1"
