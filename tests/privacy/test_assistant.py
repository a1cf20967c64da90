"""End to end on SQLite: REST -> model -> action server -> the project's tracker store.

The assistant runs as `make run` runs it (tests/servers.py), with the HTTP API off:
the tests read the SQLite file directly.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Iterator, List

import pytest

from actions.privacy import DELETED_TEXT
from tests.privacy.conftest import (
    ASK_DELETION,
    CANCEL,
    CONFIRM,
    PII_INTENT,
    PII_PARTS,
    PII_QUESTION,
    PII_REDACTED,
    PII_TOPIC,
    answer_of,
    reply_text,
    response_text,
)
from tests.servers import Assistant, running_assistant

#: Words that appear nowhere in the code, the model or the content.
DISTINCTIVE = ["quokkabridge", "zanzibarite"]


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    with running_assistant(tmp_path_factory.mktemp("privacy"), enable_api=False) as running:
        yield running


def rows(assistant: Assistant, sender: str | None = None) -> List[str]:
    """The stored events (JSON) of one conversation, or of all."""
    query, args = "select data from events order by id", ()
    if sender is not None:
        query, args = "select data from events where sender_id = ? order by id", (sender,)
    with sqlite3.connect(assistant.db) as connection:
        return [row[0] for row in connection.execute(query, args)]


def test_identifiers_are_redacted_before_storage_and_the_message_understood(
        assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    replies = assistant.say(PII_QUESTION, sender)
    assert answer_of(PII_TOPIC) in reply_text(replies)  # NLU saw the question
    stored = "\n".join(rows(assistant, sender))
    assert PII_REDACTED in stored
    with sqlite3.connect(assistant.db) as connection:
        intents = [row[0] for row in connection.execute(
            "select intent_name from events where sender_id = ? and type_name = 'user'",
            (sender,))]
    assert intents == [PII_INTENT]
    everything = "\n".join(rows(assistant))
    assert not [part for part in PII_PARTS if part in everything]


def test_delete_my_data_asks_then_removes_the_conversation(assistant: Assistant) -> None:
    sender, bystander = uuid.uuid4().hex, uuid.uuid4().hex
    assistant.say("hi", bystander)
    assistant.say("what causes night leg cramps", sender)
    assistant.say("i'm 34 weeks pregnant, does that matter?", sender)
    bystander_rows = rows(assistant, bystander)

    [question] = assistant.say("please delete everything i told you", sender)
    assert question["text"] == response_text(ASK_DELETION)
    assert [b["payload"] for b in question["buttons"]] == [CONFIRM, CANCEL]
    assert "34 weeks" in "\n".join(rows(assistant, sender))  # nothing deleted yet

    replies = assistant.say(CONFIRM, sender)

    assert reply_text(replies) == DELETED_TEXT
    assert rows(assistant, sender) == []
    assert rows(assistant, bystander) == bystander_rows
    # Writing again starts a new conversation that remembers nothing.
    assistant.say("what about in pregnancy?", sender)
    stored = "\n".join(rows(assistant, sender))
    assert "what about in pregnancy?" in stored
    assert "34 weeks" not in stored and "night leg cramps" not in stored
    assert '"topic", "value": "causes"' not in stored


def test_a_typed_yes_also_deletes(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    assistant.say("what causes night leg cramps", sender)
    assistant.say("forget this conversation", sender)
    assert reply_text(assistant.say("yes, delete it", sender)) == DELETED_TEXT
    assert rows(assistant, sender) == []


def test_no_keeps_the_conversation(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    assistant.say("what causes night leg cramps", sender)
    assistant.say("erase what i told you", sender)
    assert reply_text(assistant.say(CANCEL, sender)) == response_text("utter_keep_conversation")
    stored = "\n".join(rows(assistant, sender))
    assert "what causes night leg cramps" in stored
    # The context survives: a follow-up still refers to the causes topic.
    assistant.say("what about in pregnancy?", sender)
    assert '"name": "topic", "value": "pregnancy"' in "\n".join(rows(assistant, sender))


def test_a_yes_without_the_question_deletes_nothing(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    assistant.say("what causes night leg cramps", sender)
    before = len(rows(assistant, sender))
    replies = assistant.say(CONFIRM, sender)
    assert DELETED_TEXT not in reply_text(replies)
    assert len(rows(assistant, sender)) > before


def test_logs_hold_no_message_text(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    assistant.say(f"do {DISTINCTIVE[0]} cramps happen at night", sender)
    assistant.say(f"{DISTINCTIVE[1]} {PII_QUESTION}", sender)
    assistant.say("forget this conversation", sender)
    assistant.say(CONFIRM, sender)
    logs = {name: (assistant.logs / name).read_text(errors="replace")
            for name in ("rasa.log", "actions.log")}
    assert "Rasa server is up and running" in logs["rasa.log"]  # the right files
    for name, text in logs.items():
        leaked = [word for word in [*DISTINCTIVE, *PII_PARTS, "forget this conversation"]
                  if word in text]
        assert not leaked, f"{name} holds message text: {leaked}"
