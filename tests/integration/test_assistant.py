"""End to end: REST channel -> trained model -> action server -> content store -> SQLite."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from nightcramps.content_store import YamlContentStore
from nightcramps.small_print import SmallPrint
from tests.servers import BIN, ROOT, Assistant
from tools.processes import free_port

PHRASINGS = yaml.safe_load((ROOT / "tests" / "safety" / "red_flag_phrasings.yml").read_text())
STORE = YamlContentStore(ROOT / "content")
DISCLAIMER = STORE.disclaimer


def texts(replies: list) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def small_prints(replies: list) -> list:
    """The small print of each REST message that has one (its `custom`)."""
    return [r["custom"]["small_print"] for r in replies
            if isinstance(r.get("custom"), dict) and "small_print" in r["custom"]]


def assert_answered_with_small_print(replies: list, topic: str) -> None:
    """The contract on the REST channel: the topic's answer is one message, with the
    disclaimer and the topic's sources line as its small print."""
    entry = STORE.get(topic)
    assert entry is not None
    expected = SmallPrint.for_entry(entry, DISCLAIMER, STORE.sources).as_metadata()["small_print"]
    [answer] = [r for r in replies if small_prints([r])]
    assert entry.answer in answer["text"]
    assert answer["custom"]["small_print"] == expected
    assert expected["sources"].startswith("Source") and " · Reviewed " in expected["sources"]
    assert DISCLAIMER not in texts(replies)  # no message of its own


def test_causes_question_gets_answer_disclaimer_and_topic(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    replies = assistant.say("why do my legs keep cramping at night?", sender)
    causes = STORE.get("causes")
    assert causes is not None
    assert replies[0]["text"] == causes.answer
    assert_answered_with_small_print(replies, "causes")
    assert assistant.topic(sender) == "causes"


def test_follow_up_about_pregnancy_uses_context(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    assistant.say("what causes night leg cramps", sender)
    replies = assistant.say("what about in pregnancy?", sender)
    pregnancy = STORE.get("pregnancy")
    assert pregnancy is not None and pregnancy.answer in texts(replies)
    assert_answered_with_small_print(replies, "pregnancy")
    assert assistant.topic(sender) == "pregnancy"


def test_tell_me_more_offers_related_topics(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    assistant.say("what foods help with leg cramps", sender)
    replies = assistant.say("tell me more", sender)
    diet = STORE.get("diet")
    assert diet is not None
    payloads = [b["payload"] for r in replies for b in r.get("buttons") or []]
    assert payloads == [f"/{STORE.get(t).intent}" for t in diet.related]  # type: ignore[union-attr]


def test_button_payload_answers_that_topic(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    replies = assistant.say("/ask_stretches", sender)
    stretches = STORE.get("stretches")
    assert stretches is not None and stretches.answer in texts(replies)
    assert_answered_with_small_print(replies, "stretches")
    assert assistant.topic(sender) == "stretches"


@pytest.mark.parametrize("item", PHRASINGS["red_flags"], ids=lambda i: i["text"][:40])
def test_red_flags_always_get_urgent_care(assistant: Assistant, item: dict) -> None:
    sender = uuid.uuid4().hex
    replies = assistant.say(item["text"], sender)
    urgent = STORE.get("urgent_care")
    assert urgent is not None and urgent.answer in texts(replies)
    assert_answered_with_small_print(replies, "urgent_care")
    assert assistant.topic(sender) == "urgent_care"


def test_red_flag_mid_conversation_overrides_faq(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    assistant.say("what stretches help before bed", sender)
    replies = assistant.say("tell me more, also my calf is now swollen hot and red", sender)
    assert STORE.get("urgent_care").answer in texts(replies)  # type: ignore[union-attr]
    assert assistant.topic(sender) == "urgent_care"


@pytest.mark.parametrize("text", ["how many mg of magnesium should i take for cramps",
                                  "can you diagnose what's wrong with my legs"])
def test_doses_and_diagnoses_get_see_a_doctor(assistant: Assistant, text: str) -> None:
    sender = uuid.uuid4().hex
    replies = assistant.say(text, sender)
    assert STORE.get("see_a_doctor").answer in texts(replies)  # type: ignore[union-attr]
    assert_answered_with_small_print(replies, "see_a_doctor")
    assert assistant.topic(sender) == "see_a_doctor"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", "utter_greet"),
        ("are you a bot?", "utter_iamabot"),
        ("can I talk to a real person please", "utter_human_help"),
        ("what's the weather like in paris tomorrow", "utter_out_of_scope"),
        ("how do I get rid of a migraine", "utter_out_of_scope"),
    ],
)
def test_conversation_skills_leave_topic_empty(assistant: Assistant, text: str,
                                               expected: str) -> None:
    sender = uuid.uuid4().hex
    replies = assistant.say(text, sender)
    assert replies and texts(replies).strip()
    events = assistant.tracker(sender)["events"]
    assert expected in [e.get("name") for e in events if e["event"] == "action"]
    assert assistant.topic(sender) is None


@pytest.mark.parametrize("text", ["/confirm_data_deletion", "/cancel_data_deletion"])
def test_a_turn_no_rule_covers_gets_one_offer_then_waits(assistant: Assistant,
                                                          text: str) -> None:
    # A yes or no with no question before it: the core fallback answers once.
    sender = uuid.uuid4().hex
    replies = assistant.say(text, sender)
    # The topic list, with the disclaimer as its small print (no sources line).
    assert small_prints(replies) == [{"disclaimer": DISCLAIMER}]
    assert DISCLAIMER not in texts(replies)
    actions = [e.get("name") for e in assistant.tracker(sender)["events"]
               if e["event"] == "action"]
    assert actions[-2:] == ["action_offer_topics", "action_listen"]
    assert actions.count("action_offer_topics") == 1


def test_what_can_i_ask_lists_topics_from_the_store(assistant: Assistant) -> None:
    replies = assistant.say("what can you help me with?")
    for entry in STORE.entries():
        assert entry.title in texts(replies)


BAD_INPUTS = {
    "empty": "",
    "whitespace": "   \n\t ",
    "ten_thousand_chars": "cramp " * 1666 + "abcd",
    "emoji_only": "🦵😫🌙",
    "control_characters": "\x00\x01\x07\x1b[31m\x7f",
    "other_language": "¿Por qué tengo calambres en las piernas por la noche?",
    "html_script": "<script>alert('x')</script><b>hello</b><img src=x onerror=alert(1)>",
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_gets_a_sensible_reply(assistant: Assistant, name: str) -> None:
    sender = uuid.uuid4().hex
    replies = assistant.say(BAD_INPUTS[name], sender)
    reply = texts(replies)
    assert reply.strip(), f"no reply to {name}"
    assert "<script" not in reply and "<b>" not in reply and "<img" not in reply
    assert "\x00" not in reply
    topic = assistant.topic(sender)
    if name != "ten_thousand_chars":
        assert topic is None, f"{name} got a content answer: {topic}"


def test_server_survives_bad_input(assistant: Assistant) -> None:
    for text in BAD_INPUTS.values():
        assistant.say(text)
    assert assistant.say("hi")


def test_answer_edit_goes_live_without_retraining(assistant: Assistant) -> None:
    path = assistant.content / "topics" / "diet.yml"
    original = path.read_text()
    data = yaml.safe_load(original)
    data["answer"] = "Freshly edited by the content team."
    try:
        path.write_text(yaml.safe_dump(data))
        time.sleep(1.2)  # the store checks files at most once a second
        replies = assistant.say("/ask_diet")
        assert "Freshly edited by the content team." in texts(replies)
    finally:
        path.write_text(original)
        time.sleep(1.2)


def test_conversations_are_stored_in_sqlite(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    assistant.say("why do I get cramps in my calves at night", sender)
    with sqlite3.connect(assistant.db) as db:
        rows = db.execute("select type_name from events where sender_id = ?",
                          (sender,)).fetchall()
    kinds = [r[0] for r in rows]
    assert "user" in kinds and "bot" in kinds


def test_action_server_refuses_to_start_without_disclaimer(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    store_file = content / "store.yml"
    data = yaml.safe_load(store_file.read_text())
    del data["disclaimer"]
    store_file.write_text(yaml.safe_dump(data))
    env = {**os.environ, "CONTENT_DIR": str(content), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.run(
        [str(BIN / "rasa"), "run", "actions", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert process.returncode != 0
    assert "disclaimer" in process.stdout + process.stderr
