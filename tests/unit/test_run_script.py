"""tools/run.py's command line: bad replica settings are refused before anything starts."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from tools import run

ROOT = Path(run.__file__).resolve().parent.parent


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


def test_one_worker_per_server_unless_sanic_workers_says_otherwise() -> None:
    assert run.workers({}, 1) == "1"
    assert run.workers({}, 3) == "1"
    assert run.workers({"SANIC_WORKERS": "4"}, 1) == "4"


def test_one_worker_when_models_are_published_through_the_api() -> None:
    assert run.workers({"RASA_API_TOKEN": "s3cret"}, 1) == "1"


URL = "http://127.0.0.1:6123/webhook"


def test_the_action_url_follows_the_port_and_interface_of_the_started_server() -> None:
    assert run.action_server_url({}, 6123) == URL
    assert run.action_server_url({"ACTION_SERVER_HOST": "0.0.0.0"}, 6123) == URL
    assert run.action_server_url({"ACTION_SERVER_HOST": "10.0.0.5"}, 6123) == \
        "http://10.0.0.5:6123/webhook"


def test_the_default_endpoints_are_used_as_they_are_when_the_port_matches(
        tmp_path: Path) -> None:
    copy = tmp_path / "copy.yml"
    env: Dict[str, str] = {}
    assert run.endpoints_calling("endpoints.yml", "http://127.0.0.1:5055/webhook", env,
                                 copy) == "endpoints.yml"
    assert not copy.exists() and env == {}


def test_another_actions_port_gets_a_copy_with_only_the_url_changed(tmp_path: Path) -> None:
    copy = tmp_path / "build" / "endpoints.yml"
    env: Dict[str, str] = {}
    used = run.endpoints_calling("endpoints.yml", URL, env, copy)
    assert used == str(copy) and env == {}
    original = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    changed = yaml.safe_load(copy.read_text())
    assert changed["action_endpoint"]["url"] == URL
    original["action_endpoint"]["url"] = URL
    assert changed == original  # stores, selective domain: all kept


def test_the_production_profile_gets_the_url_through_its_variable(tmp_path: Path) -> None:
    copy = tmp_path / "copy.yml"
    env = {"ACTION_SERVER_URL": "http://127.0.0.1:5055/webhook"}
    assert run.endpoints_calling("endpoints.prod.yml", URL, env, copy) == "endpoints.prod.yml"
    assert env["ACTION_SERVER_URL"] == URL and not copy.exists()


def test_an_endpoints_file_without_an_action_endpoint_gets_one(tmp_path: Path) -> None:
    source = tmp_path / "endpoints.yml"
    source.write_text("tracker_store:\n  type: SQL\n  db: t.db\n")
    copy = tmp_path / "copy.yml"
    used = run.endpoints_calling(str(source), URL, {}, copy)
    assert yaml.safe_load(Path(used).read_text()) == {
        "tracker_store": {"type": "SQL", "db": "t.db"}, "action_endpoint": {"url": URL}}


@pytest.mark.parametrize("text", [None, "- a list\n- not a mapping\n", "key: [unclosed\n"])
def test_a_missing_or_broken_endpoints_file_is_refused_before_anything_starts(
        text: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "endpoints.yml"
    if text is not None:
        source.write_text(text)
    error = refuse(["--endpoints", str(source), "--web-port", "0"], capsys, monkeypatch)
    assert "endpoints file" in error


def test_the_action_server_follows_content_versions_only_on_a_database_server(
        tmp_path: Path) -> None:
    assert run.follow_content("endpoints.yml") == []
    assert run.follow_content("endpoints.prod.yml") == ["--endpoints", "endpoints.prod.yml"]
    sqlite = tmp_path / "endpoints.yml"
    sqlite.write_text("tracker_store:\n  type: x\n  dialect: sqlite\n  db: t.db\n")
    assert run.follow_content(str(sqlite)) == []
