"""tools/action_server.py's set-up: refused imports and the content follower."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from stores.content_follower import ContentFollower
from tools.action_server import content_follower, create_argument_parser, refuse_imports


def test_a_refused_module_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "nightcramps_refused_probe", raising=False)
    try:
        assert refuse_imports(["nightcramps_refused_probe", "json"]) == [
            "nightcramps_refused_probe"]  # json is imported already: left alone
        with pytest.raises(ImportError):
            import nightcramps_refused_probe  # type: ignore[import-not-found] # noqa: F401
        import json  # noqa: F401
    finally:
        sys.modules.pop("nightcramps_refused_probe", None)


def test_tensorflow_is_refused_unless_allowed() -> None:
    parser = create_argument_parser()
    assert not parser.parse_args([]).allow_tensorflow
    assert parser.parse_args(["--allow-tensorflow"]).allow_tensorflow


def test_no_database_means_no_follower(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTENT_DB_URL", raising=False)
    assert content_follower(create_argument_parser().parse_args([])) is None


def test_a_database_url_gives_a_follower_of_the_content_folder(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONTENT_DIR", str(tmp_path))
    monkeypatch.setenv("CONTENT_DB_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
    follower = content_follower(create_argument_parser().parse_args([]))
    assert isinstance(follower, ContentFollower) and follower.directory == tmp_path
    assert not (tmp_path / "tracker.db").exists()  # nothing connects before it starts


def test_an_endpoints_file_without_sql_store_is_logged_not_fatal(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("CONTENT_DB_URL", raising=False)
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: redis\n")
    args = create_argument_parser().parse_args(["--endpoints", str(endpoints)])
    with caplog.at_level(logging.ERROR):
        assert content_follower(args) is None
    assert "Not following the approved content versions" in caplog.text
