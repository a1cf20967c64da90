"""The project's tracker store, in process on SQLite: redaction and deletion."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import List

import pytest
import yaml
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from actions.privacy import ActionDeleteConversation
from stores.privacy_tracker_store import DELETION_ACTION, PrivacySQLTrackerStore
from tests.privacy.conftest import (
    PII_PARTS,
    PII_QUESTION,
    PII_REDACTED,
    conversation,
    save,
    sqlite_section,
    store_from,
    tracker_store_section,
    turn,
)
from tests.servers import ROOT, TRACKER_STORE


def stored(db: Path, sender: str) -> List[str]:
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute(
            "select data from events where sender_id = ? order by id", (sender,))]


@pytest.mark.parametrize("endpoints", ["endpoints.yml", "endpoints.prod.yml"])
def test_both_profiles_use_the_privacy_store(endpoints: str) -> None:
    assert tracker_store_section(ROOT / endpoints)["type"] == TRACKER_STORE


def test_the_store_is_built_from_endpoints_yml(tmp_path: Path) -> None:
    store = store_from(sqlite_section(tmp_path / "tracker.db"))
    assert isinstance(store, PrivacySQLTrackerStore)
    assert store.engine.url.database == str(tmp_path / "tracker.db")


def test_user_text_is_redacted_in_the_database_only(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    store = store_from(sqlite_section(db))
    tracker = conversation("alice", [PII_QUESTION], time.time())
    save(store, tracker)

    rows = "\n".join(stored(db, "alice"))
    assert not [part for part in PII_PARTS if part in rows]
    assert PII_REDACTED in rows
    # What NLU and the actions saw is untouched; only the stored copy changed.
    assert tracker.latest_message is not None and tracker.latest_message.text == PII_QUESTION
    retrieved = asyncio.run(store.retrieve("alice"))
    assert retrieved is not None and retrieved.latest_message is not None
    assert retrieved.latest_message.text.endswith(PII_REDACTED)
    assert retrieved.latest_message.intent["name"] == "ask_causes"


def test_later_turns_are_appended_after_the_redacted_ones(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    store = store_from(sqlite_section(db))
    tracker = conversation("bob", ["call 07700 900123"], time.time())
    save(store, tracker)
    for event in turn("and at night?", "ask_causes", "Yes.", "action_answer_question",
                      time.time() + 5):
        tracker.update(event)
    save(store, tracker)
    rows = stored(db, "bob")
    assert len(rows) == len(tracker.events)  # nothing stored twice, nothing lost
    assert '"text": "call [phone]"' in rows[3] and '"text": "and at night?"' in rows[-4]


def test_the_deletion_action_deletes_every_session_of_the_conversation(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    store = store_from(sqlite_section(db))
    week_ago = time.time() - 7 * 86400
    save(store, conversation("carol", ["first session"], week_ago))
    tracker = conversation("carol", ["first session"], week_ago)
    for event in conversation("carol", ["second session"], time.time()).events:
        tracker.update(event)
    save(store, tracker)
    save(store, conversation("dave", ["someone else"], time.time()))
    dave_before = stored(db, "dave")

    for event in turn("delete my data", "request_data_deletion", "Done.", DELETION_ACTION,
                      time.time() + 10):
        tracker.update(event)
    save(store, tracker)

    assert stored(db, "carol") == []
    assert asyncio.run(store.retrieve("carol")) is None
    assert stored(db, "dave") == dave_before


def test_other_actions_do_not_delete(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    store = store_from(sqlite_section(db))
    tracker = conversation("erin", ["hello"], time.time())
    tracker.update(ActionExecuted("action_answer_question"))
    tracker.update(UserUttered("delete_conversation"))
    tracker.update(BotUttered("action_delete_conversation"))
    save(store, tracker)
    assert len(stored(db, "erin")) == len(tracker.events)


def test_the_action_and_the_store_agree_on_the_action_name() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    assert ActionDeleteConversation().name() == DELETION_ACTION
    assert DELETION_ACTION in domain["actions"]
    assert "request_data_deletion" in domain["intents"]
