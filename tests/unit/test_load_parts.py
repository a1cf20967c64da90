"""The load benchmark's pure parts: the lost-message check and the latency statistics."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any, Dict, List

from tools.load.lost import as_sent, check_conversation, verify
from tools.load.traffic import Exchange, System, conversation_script
from tools.stats import percentile, summary


def user(text: str) -> Dict[str, Any]:
    return {"event": "user", "text": text}


def bot(text: str) -> Dict[str, Any]:
    return {"event": "bot", "text": text, "data": {}}


def answered(text: str, *replies: str) -> Exchange:
    return Exchange("s", text, status=200, replies=[{"text": r} for r in replies])


def test_a_conversation_stored_as_answered_has_no_problems() -> None:
    exchanges = [answered("hi", "Hello!"), answered("cramps?", "First part", "Second part")]
    events = [user("hi"), {"event": "action", "name": "utter_greet"}, bot("Hello!"),
              user("cramps?"), {"event": "action", "name": "action_answer_topic"},
              bot("First part\n\nSecond part")]
    assert check_conversation(exchanges, events) == []
    assert [e.kind for e in exchanges] == ["responses only", "custom action"]


def test_a_missing_user_message_is_reported() -> None:
    problems = check_conversation([answered("hi", "Hello!"), answered("bye", "Bye!")],
                                  [user("hi"), bot("Hello!")])
    assert len(problems) == 1 and "missing ['bye']" in problems[0]


def test_a_changed_bot_message_and_a_failed_request_are_reported() -> None:
    failed = Exchange("s", "again", status=0, error="TimeoutError: ")
    problems = check_conversation([answered("hi", "Hello!"), failed],
                                  [user("hi"), bot("Hello there!")])
    assert any("request failed (TimeoutError" in p for p in problems)
    assert any("stored bot messages ['Hello there!'] != answered ['Hello!']" in p
               for p in problems)


def test_buttons_images_and_attachments_are_sent_as_their_own_messages() -> None:
    event = {"event": "bot", "text": "a\n\nb", "data": {"custom": {"x": 1}, "image": "i.png",
                                                      "attachment": "i.png"}}
    assert as_sent(event) == ["a", "b", None, None]


def test_verify_reads_the_conversations_back_from_sqlite(tmp_path: Path) -> None:
    import json

    db = tmp_path / "tracker.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, "
                           "data TEXT)")
        connection.executemany("INSERT INTO events (sender_id, data) VALUES (?, ?)",
                               [("s", json.dumps(user("hi"))), ("s", json.dumps(bot("Hello!")))])
    system = System("ours", ["http://x"], "t", sqlite=db,
                    exchanges=[answered("hi", "Hello!")])
    result = verify(system)
    assert result["zero_lost"] and result["conversations"] == 1 and result["store"] == "sqlite"
    system.exchanges.append(answered("lost", "?"))
    assert not verify(system)["zero_lost"]


def test_conversation_scripts_run_through_the_stories() -> None:
    stories: List[List[str]] = [["a", "b"], ["c"]]
    assert conversation_script(stories, 1, 4) == ["c", "a", "b", "c"]


def test_percentiles_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0 and percentile([5.0, 1.0], 0) == 1.0
    assert percentile([3.0], 99) == 3.0 and math.isnan(percentile([], 50))
    assert summary([1.0, 2.0, 3.0])["p50_ms"] == 2.0 and summary([])["count"] == 0
