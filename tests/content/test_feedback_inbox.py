"""Feedback after answers, and the inbox of `python -m tools.content.inbox`.

The inbox tests write conversations with Rasa's own SQL tracker store and real
events into an SQLite file, and triage them on a temporary copy of the project.
The end-to-end test runs the real assistant (tests/servers.py): it needs the
trained model (`NIGHT_CRAMPS_MODEL` may point at another one).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest
import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from tools.content import inbox
from tools.content.check import ERROR, check


def user(text: str, intent: str, confidence: float,
         ranking: Optional[Sequence[tuple[str, float]]] = None) -> UserUttered:
    """A user message as Rasa stores it, with its parse data."""
    ranked = [{"name": n, "confidence": c} for n, c in (ranking or [(intent, confidence)])]
    return UserUttered(text, {"name": intent, "confidence": confidence},
                       parse_data={"intent": {"name": intent, "confidence": confidence},
                                   "intent_ranking": ranked, "entities": [], "text": text})


def answer(action: str, topic: str) -> List[Event]:
    """An answering action's events: the action, its message, the topic slot."""
    return [ActionExecuted(action), BotUttered("an answer"), SlotSet("topic", topic),
            ActionExecuted("action_listen")]


def store_conversations(db: Path, conversations: Dict[str, List[Event]]) -> None:
    """Saves conversations with Rasa's SQL tracker store into an SQLite file."""
    from rasa.core.tracker_store import SQLTrackerStore

    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))

    async def save_all() -> None:
        for sender, events in conversations.items():
            await store.save(DialogueStateTracker.from_events(
                sender, [ActionExecuted("action_session_start"), SessionStarted(),
                         ActionExecuted("action_listen"), *events]))

    asyncio.run(save_all())
    store.engine.dispose()


FALLBACK_TEXT = "legs go all funny and tight when i lie down"
UNSURE_TEXT = "what sorts of things calm a cramp down fast"
CONFIDENT_TEXT = "why do my calves cramp at night"
SIMILAR = ["do cramps get worse swimming in cold water", "do cramps get worse when swimming in cold water?"]


def conversations() -> Dict[str, List[Event]]:
    """Fallbacks, an unsure answer rated "Not really", a confident answer, similar texts."""
    return {
        "fallback-user": [
            user(FALLBACK_TEXT, "nlu_fallback", 0.5,
                 [("nlu_fallback", 0.5), ("ask_causes", 0.41), ("ask_stretches", 0.2)]),
            ActionExecuted("action_offer_topics"), BotUttered("Did you mean..."),
            ActionExecuted("action_listen"),
            user("/ask_causes", "ask_causes", 1.0),  # a button click: never listed
            *answer("action_answer_question", "causes"),
        ],
        "feedback-user": [
            user(CONFIDENT_TEXT, "ask_causes", 0.97),
            *answer("action_answer_question", "causes"),
            user(UNSURE_TEXT, "ask_quick_relief", 0.55,
                 [("ask_quick_relief", 0.55), ("ask_stretches", 0.3)]),
            *answer("action_answer_question", "quick_relief"),
            user("/give_negative_feedback", "give_negative_feedback", 1.0),
            ActionExecuted("action_record_feedback"),
            SlotSet("feedback_topic", "quick_relief"), SlotSet("feedback", "negative"),
            ActionExecuted("action_listen"),
        ],
        "swimmer-1": [user(SIMILAR[0], "nlu_fallback", 0.4,
                           [("nlu_fallback", 0.4), ("ask_about_exercise", 0.35)]),
                      ActionExecuted("action_offer_topics")],
        "swimmer-2": [user(SIMILAR[1], "ask_about_exercise", 0.45),
                      *answer("action_answer_question", "exercise")],
    }


@pytest.fixture
def tracker_db(tmp_path: Path) -> Path:
    db = tmp_path / "tracker.db"
    store_conversations(db, conversations())
    return db


def listing(project: Path, db: Path) -> Dict[str, inbox.Message]:
    """The open inbox, by message text."""
    groups = inbox.inbox(project, f"sqlite:///{db}")
    return {m.text: m for g in groups for m in g.messages}


def open_id(project: Path, db: Path, text: str) -> str:
    return listing(project, db)[text].id


def run_inbox(project: Path, db: Path, *args: str) -> int:
    return inbox.main([*args, "--root", str(project), "--db", str(db)])


def test_the_inbox_lists_fallbacks_unsure_answers_and_negative_feedback(
    project: Path, tracker_db: Path
) -> None:
    found = listing(project, tracker_db)
    assert set(found) == {FALLBACK_TEXT, UNSURE_TEXT, *SIMILAR}
    assert found[FALLBACK_TEXT].reasons == ["fallback"]
    assert found[FALLBACK_TEXT].suggested_topic == "causes"
    assert found[UNSURE_TEXT].reasons == ["unsure (0.55)", "negative feedback (quick_relief)"]
    assert found[UNSURE_TEXT].suggested_topic == "quick_relief"
    # Stable ids: the same store gives the same ids.
    assert open_id(project, tracker_db, FALLBACK_TEXT) == found[FALLBACK_TEXT].id


def test_similar_messages_are_grouped_with_the_suggested_topic(
    project: Path, tracker_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = inbox.inbox(project, f"sqlite:///{tracker_db}")
    swimming = [g for g in groups if g.messages[0].text in SIMILAR]
    assert len(swimming) == 1 and len(swimming[0].messages) == 2
    assert swimming[0].suggested_topic == "exercise"
    assert len(groups) == 3
    assert run_inbox(project, tracker_db) == 0
    out = capsys.readouterr().out
    assert "4 message(s) in 3 group(s)" in out and swimming[0].id in out


def test_an_assignment_lands_under_the_intent_and_leaves_the_inbox(
    project: Path, tracker_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message_id = open_id(project, tracker_db, FALLBACK_TEXT)
    target = inbox.nlu_file_for(project, "ask_causes")
    before = target.read_text()
    assert run_inbox(project, tracker_db, "assign", message_id, "causes") == 0
    assert "Next: make check" in capsys.readouterr().out
    after = target.read_text()
    assert len(after.splitlines()) == len(before.splitlines()) + 1
    assert f"    - {FALLBACK_TEXT}\n" in after and after.replace(f"    - {FALLBACK_TEXT}\n", "") == before
    # Rasa reads it under the right intent, and `make check` stays clean.
    examples = RasaYAMLReader().read(target).intent_examples
    assert any(e.get("text") == FALLBACK_TEXT and e.get("intent") == "ask_causes"
               for e in examples)
    assert [p for p in check(project) if p.severity == ERROR] == []
    assert FALLBACK_TEXT not in listing(project, tracker_db)
    decisions = yaml.safe_load((project / inbox.TRIAGE_FILE).read_text())["decisions"]
    assert decisions[0]["id"] == message_id and decisions[0]["decision"] == "assigned"
    assert FALLBACK_TEXT not in (project / inbox.TRIAGE_FILE).read_text()  # ids only
    # Deciding it again: it is no longer open.
    assert run_inbox(project, tracker_db, "ignore", message_id) == 1
    assert "not an open message" in capsys.readouterr().err


def test_a_duplicate_assignment_is_refused(
    project: Path, tracker_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tracker_db.parent / "second.db"
    # Someone else typed the same question, differently punctuated and cased.
    store_conversations(db, {"a": [user(FALLBACK_TEXT, "nlu_fallback", 0.3)],
                             "b": [user(FALLBACK_TEXT.upper() + "!!", "nlu_fallback", 0.3)]})
    first, second = (m.id for m in inbox.find_messages(inbox.read_events(f"sqlite:///{db}"),
                                                         {}, 0.6))
    assert run_inbox(project, db, "assign", first, "causes") == 0
    target = inbox.nlu_file_for(project, "ask_causes")
    text = target.read_text()
    assert run_inbox(project, db, "assign", second, "stretches") == 1
    err = capsys.readouterr().err
    assert "already a training example" in err and "ask_causes" in err
    assert target.read_text() == text
    assert second in {m.id for m in listing(project, db).values()}  # still open


def test_held_out_out_of_scope_and_ignore(
    project: Path, tracker_db: Path
) -> None:
    found = listing(project, tracker_db)
    heldout = project / inbox.HELDOUT_FILE
    assert run_inbox(project, tracker_db, "assign", found[UNSURE_TEXT].id, "quick_relief",
                     "--heldout") == 0
    assert any(e.get("text") == UNSURE_TEXT and e.get("intent") == "ask_quick_relief"
               for e in RasaYAMLReader().read(heldout).intent_examples)
    group = next(g for g in inbox.inbox(project, f"sqlite:///{tracker_db}")
                 if g.messages[0].text in SIMILAR)
    assert run_inbox(project, tracker_db, "out-of-scope", group.id) == 0
    out_of_scope = inbox.nlu_file_for(project, "out_of_scope")
    added = [e.get("text") for e in RasaYAMLReader().read(out_of_scope).intent_examples
             if e.get("intent") == "out_of_scope"]
    assert SIMILAR[0] in added and SIMILAR[1] in added
    assert run_inbox(project, tracker_db, "ignore", found[FALLBACK_TEXT].id) == 0
    assert listing(project, tracker_db) == {}
    assert [p for p in check(project) if p.severity == ERROR] == []


def test_the_store_is_found_through_the_endpoints_file(project: Path, tracker_db: Path) -> None:
    endpoints = project / "endpoints.yml"
    endpoints.write_text(f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {tracker_db.name}\n")
    (project / tracker_db.name).write_bytes(tracker_db.read_bytes())
    url = inbox.database_url(endpoints, project)
    assert url == f"sqlite:///{project / tracker_db.name}"
    assert len(listing(project, project / tracker_db.name)) == 4
    endpoints.write_text("tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: db.local\n"
                         "  port: 5432\n  db: rasa\n  username: rasa\n  password: ${PGPASS}\n")
    os.environ["PGPASS"] = "s3cret"
    try:
        assert inbox.database_url(endpoints, project) == "postgresql://rasa:s3cret@db.local:5432/rasa"
    finally:
        del os.environ["PGPASS"]


# -- end to end: the real assistant ------------------------------------------------------


def buttons(messages: List[Dict[str, Any]]) -> List[str]:
    return [b["payload"] for m in messages for b in m.get("buttons") or []]


def test_not_really_is_recorded_against_the_answer_and_reaches_the_inbox(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests import servers

    model = Path(os.environ.get("NIGHT_CRAMPS_MODEL", str(servers.MODEL)))
    monkeypatch.setattr(servers, "MODEL", model)
    sender = uuid.uuid4().hex
    question = "what can i do right now, my calf is cramping"
    with servers.running_assistant(tmp_path / "assistant") as assistant:
        first = assistant.say("why do my legs cramp up at night?", sender)
        assert "/give_negative_feedback" not in buttons(first)
        second = assistant.say(question, sender)
        assert assistant.topic(sender) == "quick_relief"
        assert second[-1]["text"] == "Did that answer help?"
        assert buttons(second)[-2:] == ["/give_positive_feedback", "/give_negative_feedback"]
        reply = assistant.say("/give_negative_feedback", sender)
        assert "other words" in reply[0]["text"] and buttons(reply)
        slots = assistant.tracker(sender)["slots"]
        assert slots["feedback"] == "negative" and slots["feedback_topic"] == "quick_relief"
        found = listing(project, assistant.db)
    assert "negative feedback (quick_relief)" in found[question].reasons
