"""Approved content versions on SQLite: publish, follow into a content folder, export."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
import sqlalchemy as sa

from nightcramps.content_store import YamlContentStore
from nightcramps.schema import ContentError
from stores.content_follower import ContentFollower
from stores.content_versions import (
    ContentVersions,
    checked_file_name,
    engine_for_url,
    write_atomically,
)
from tools import export_content

NEW_ANSWER = "Nobody knows for sure what causes them; tired muscles are the main suspect."


def changed_answer(content: Path, answer: str = NEW_ANSWER) -> str:
    """topics/causes.yml with its answer replaced."""
    text = (content / "topics" / "causes.yml").read_text()
    return re.sub(r"(?ms)^answer: >-\n.*?(?=^\S)", f"answer: {answer}\n", text)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tracker.db'}"


@pytest.fixture
def versions(url: str, content_copy: Path) -> ContentVersions:
    return ContentVersions(engine_for_url(url), content_copy)


def test_publish_stores_numbered_versions(versions: ContentVersions, content_copy: Path) -> None:
    assert versions.latest_version() == 0
    assert versions.changes_since(0) == []
    first = versions.publish("topics/causes.yml", changed_answer(content_copy), "dr.reviewer")
    second = versions.publish("topics/causes.yml", changed_answer(content_copy, "Second."),
                              "dr.other")
    assert (first, second) == (1, 2) and versions.latest_version() == 2
    assert [v.version for v in versions.changes_since(0)] == [1, 2]
    [change] = versions.changes_since(1)
    assert change.file_name == "topics/causes.yml" and change.approved_by == "dr.other"
    assert "answer: Second." in change.text and change.approved_at.tzinfo is not None
    assert versions.latest_files()["topics/causes.yml"].version == 2


@pytest.mark.parametrize("change, field", [
    (lambda text: text.replace("intent: ask_causes\n", ""), "intent"),
    (lambda text: text.replace("id: causes", "id: reasons"), "id"),
    (lambda text: text.replace("related: [", "related: [no_such_topic, "), "related"),
    (lambda text: text.replace("sources: [", "sources: [made_up_source, "), "sources"),
    (lambda text: text + "colour: blue\n", "colour"),
    (lambda text: "answer: [unclosed\n", "-"),
])
def test_invalid_content_is_refused_with_its_field(
        versions: ContentVersions, content_copy: Path,
        change: Callable[[str], str], field: str) -> None:
    with pytest.raises(ContentError) as refused:
        versions.publish("topics/causes.yml", change(changed_answer(content_copy)), "dr.reviewer")
    assert str(refused.value.path) == "topics/causes.yml" and refused.value.field == field
    assert str(refused.value).startswith("topics/causes.yml")
    assert versions.latest_version() == 0


@pytest.mark.parametrize("name", ["safety.yml", "../store.yml", "topics/../../x.yml",
                                  "topics/a/b.yml", "/etc/passwd", "topics/causes.yaml"])
def test_only_the_stores_files_can_be_published(versions: ContentVersions, name: str) -> None:
    with pytest.raises(ValueError, match="cannot be published"):
        versions.publish(name, "x: 1\n", "dr.reviewer")


def test_a_publish_needs_who_approved_it(versions: ContentVersions, content_copy: Path) -> None:
    with pytest.raises(ValueError, match="approved_by"):
        versions.publish("topics/causes.yml", changed_answer(content_copy), " ")
    with pytest.raises(ValueError, match="longer than"):
        versions.publish("topics/causes.yml", changed_answer(content_copy), "x" * 256)


def test_a_new_topic_is_checked_against_the_published_ones(
        versions: ContentVersions, content_copy: Path) -> None:
    text = (content_copy / "topics" / "causes.yml").read_text()
    new = (text.replace("id: causes", "id: night_sweats")
           .replace("intent: ask_causes", "intent: ask_night_sweats"))
    assert versions.publish("topics/night_sweats.yml", new, "dr.reviewer") == 1
    # A later file may name the published topic, though content/ does not hold it.
    related = changed_answer(content_copy).replace("related: [", "related: [night_sweats, ")
    assert versions.publish("topics/causes.yml", related, "dr.reviewer") == 2
    assert checked_file_name("./topics/night_sweats.yml") == "topics/night_sweats.yml"


def test_the_follower_writes_new_versions_and_the_store_serves_them(
        versions: ContentVersions, content_copy: Path, tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    for part in ("store.yml", "vocabulary.yml", "topics"):
        source = content_copy / part
        target = served / part
        if source.is_dir():
            target.mkdir()
            for topic in source.glob("*.yml"):
                (target / topic.name).write_text(topic.read_text())
        else:
            target.write_text(source.read_text())
    store = YamlContentStore(served, reload_interval=0)
    follower = ContentFollower(versions, served)
    assert follower.poll_once() == []
    versions.publish("topics/causes.yml", changed_answer(content_copy), "dr.reviewer")
    assert follower.poll_once() == ["topics/causes.yml"] and follower.version == 1
    entry = store.get("causes")
    assert entry is not None and entry.answer == NEW_ANSWER
    assert follower.poll_once() == []  # nothing new
    assert not list(served.rglob("*.tmp"))
    # A follower that starts later catches up with the newest version at once.
    versions.publish("topics/causes.yml", changed_answer(content_copy, "Third."), "dr.reviewer")
    late = ContentFollower(versions, served)
    assert late.poll_once() == ["topics/causes.yml"] and late.version == 2
    assert "answer: Third." in (served / "topics" / "causes.yml").read_text()


def test_the_follower_survives_a_database_outage_and_catches_up(
        content_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "db-later"  # the database cannot be opened until the folder exists
    url = f"sqlite:///{folder / 'tracker.db'}"
    follower = ContentFollower(ContentVersions(engine_for_url(url), content_copy), content_copy,
                               interval=0.05)
    caplog.set_level(logging.INFO, logger="stores.content_follower")
    follower.start()
    try:
        deadline = time.monotonic() + 10
        while not follower.failing and time.monotonic() < deadline:
            time.sleep(0.05)
        assert follower.failing
        assert "Cannot read the approved content versions" in caplog.text
        folder.mkdir()
        ContentVersions(engine_for_url(url), content_copy).publish(
            "topics/causes.yml", changed_answer(content_copy), "dr.reviewer")
        deadline = time.monotonic() + 30
        while follower.version < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert follower.version == 1 and not follower.failing
        assert NEW_ANSWER in (content_copy / "topics" / "causes.yml").read_text()
        assert "can be read again" in caplog.text
    finally:
        follower.stop()
    assert not any(t.name == "content-follower" for t in threading.enumerate())


def test_atomic_writes_leave_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "topics" / "x.yml"
    assert write_atomically(path, "a: 1\n")
    assert not write_atomically(path, "a: 1\n")  # same text: untouched
    assert write_atomically(path, "a: 2\n") and path.read_text() == "a: 2\n"
    assert [p.name for p in path.parent.iterdir()] == ["x.yml"]


def test_export_writes_the_latest_versions(
        url: str, versions: ContentVersions, content_copy: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "export"
    assert export_content.main(["--content-db", url, "--to", str(target)]) == 0
    assert "nothing to export" in capsys.readouterr().out
    versions.publish("topics/causes.yml", changed_answer(content_copy, "Old."), "dr.reviewer")
    versions.publish("topics/causes.yml", changed_answer(content_copy), "dr.reviewer")
    assert export_content.main(["--content-db", url, "--to", str(target)]) == 0
    assert "Wrote 1 file(s) of content version 2" in capsys.readouterr().out
    assert NEW_ANSWER in (target / "topics" / "causes.yml").read_text()
    assert export_content.main(["--content-db", url, "--to", str(target)]) == 0
    assert "already holds content version 2" in capsys.readouterr().out


def test_export_reports_an_unreachable_database(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'tracker.db'}"
    assert export_content.main(["--content-db", url, "--to", str(tmp_path)]) == 2
    assert "Database error" in capsys.readouterr().err


def test_the_table_is_shared_by_every_process(url: str, content_copy: Path) -> None:
    one = ContentVersions(engine_for_url(url), content_copy)
    other = ContentVersions(engine_for_url(url), content_copy)
    one.publish("topics/causes.yml", changed_answer(content_copy), "dr.reviewer")
    assert other.latest_version() == 1
    assert sa.inspect(other.engine).has_table("content_versions")
