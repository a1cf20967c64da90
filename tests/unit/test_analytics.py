"""The console's analytics queries on a small SQLite tracker store with known counts.

The conversations are Rasa events saved through the project's own tracker store
(`PrivacySQLTrackerStore`, so rows are exactly what the assistant writes, user
text redacted). tests/prod/test_analytics.py checks the same counts on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest
import sqlalchemy as sa
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

from console.analytics import (
    Analytics,
    DayFallbacks,
    DayVolume,
    Period,
    TopicFeedback,
    parse_period,
)
from console.analytics_schema import (
    EVENT_INDEXES,
    FACT_INDEXES,
    FACTS,
    TRIGGERS,
    create_analytics_schema,
    ensure_analytics_schema,
)
from stores.privacy_tracker_store import PrivacySQLTrackerStore
from stores.retention import delete_conversation, purge_older_than
from tools.analytics_benchmark import Generator, load, topics_from

ROOT = Path(__file__).resolve().parents[2]
DAY0, DAY1, DAY2 = dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)
PERIOD = Period(DAY0, DAY2)
#: A message with an e-mail address: analytics must never return any of its text.
PRIVATE_TEXT = "my cramps are awful, write to jane.doe@example.org"


def at(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> float:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second,
                       tzinfo=dt.timezone.utc).timestamp()


def user(text: str, intent: str, channel: str, when: float) -> UserUttered:
    parse_data = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": [],
                  "intent_ranking": [{"name": intent, "confidence": 0.9}]}
    return UserUttered(text, parse_data["intent"], [], parse_data, timestamp=when,
                       input_channel=channel)


def turn(kind: Sequence[str], channel: str, when: float) -> List[Event]:
    """The events Rasa stores for one turn of a given kind."""
    name = kind[0]
    if name == "topic":  # ("topic", intent, content id)
        return [user(PRIVATE_TEXT, kind[1], channel, when),
                ActionExecuted("action_answer_question", timestamp=when + 0.1),
                BotUttered("An answer.", timestamp=when + 0.2),
                SlotSet("topic", kind[2], timestamp=when + 0.3),
                ActionExecuted("action_listen", timestamp=when + 0.4)]
    if name == "urgent":
        return [user("my calf is swollen and hot", "report_urgent_symptoms", channel, when),
                ActionExecuted("action_answer_question", timestamp=when + 0.1),
                BotUttered("Get urgent care.", timestamp=when + 0.2),
                SlotSet("topic", "urgent_care", timestamp=when + 0.3),
                ActionExecuted("action_listen", timestamp=when + 0.4)]
    if name == "fallback":
        return [user("hmm thing", "nlu_fallback", channel, when),
                ActionExecuted("action_offer_topics", timestamp=when + 0.1),
                BotUttered("Did you mean one of these?", timestamp=when + 0.2),
                ActionExecuted("action_listen", timestamp=when + 0.4)]
    if name == "feedback":  # ("feedback", positive|negative, content id)
        intent = f"give_{kind[1]}_feedback"
        return [user(f"/{intent}", intent, channel, when),
                ActionExecuted("action_record_feedback", timestamp=when + 0.1),
                BotUttered("Thank you.", timestamp=when + 0.2),
                SlotSet("feedback_topic", kind[2], timestamp=when + 0.3),
                SlotSet("feedback", kind[1], timestamp=when + 0.4),
                ActionExecuted("action_listen", timestamp=when + 0.5)]
    assert name == "greet"
    return [user("hello", "greet", channel, when),
            ActionExecuted("utter_greet", timestamp=when + 0.1),
            BotUttered("Hi!", timestamp=when + 0.2),
            ActionExecuted("action_listen", timestamp=when + 0.4)]


Turn = Tuple[float, Tuple[str, ...]]
#: sender -> (channel, turns). Days 0-2 are the period; F and G lie outside it.
CONVERSATIONS: Dict[str, Tuple[str, List[Turn]]] = {
    "A": ("rest", [(at(DAY0, 10), ("topic", "ask_causes", "causes")),
                   (at(DAY0, 10, 1), ("topic", "ask_stretches", "stretches")),
                   (at(DAY0, 10, 2), ("feedback", "negative", "stretches")),
                   (at(DAY0, 10, 3), ("fallback",))]),
    "B": ("telegram", [(at(DAY0, 12), ("urgent",)),
                       (at(DAY0, 12, 1), ("topic", "ask_causes", "causes"))]),
    "C": ("rest", [(at(DAY1, 9), ("fallback",)), (at(DAY1, 9, 1), ("fallback",)),
                   (at(DAY1, 9, 2), ("topic", "ask_supplements", "supplements")),
                   (at(DAY1, 9, 3), ("topic", "ask_supplements", "supplements")),
                   (at(DAY1, 9, 4), ("feedback", "positive", "supplements"))]),
    "D": ("facebook", [(at(DAY2, 8), ("topic", "ask_causes", "causes")),
                       (at(DAY2, 8, 1), ("greet",))]),
    # across midnight: counted on both days
    "E": ("telegram", [(at(DAY1, 23, 59, 50), ("topic", "ask_causes", "causes")),
                       (at(DAY2, 0, 0, 30), ("urgent",))]),
    "F": ("rest", [(at(DAY0, 0) - 86400, ("topic", "ask_causes", "causes")),
                   (at(DAY0, 0) - 86000, ("urgent",)),
                   (at(DAY0, 0) - 85000, ("feedback", "positive", "causes"))]),
    "G": ("slack", [(at(DAY2, 0) + 86400, ("fallback",))]),
}

#: What the migration step adds to a tracker store's database.
CREATED = [FACTS, *(name for name, _ in EVENT_INDEXES + FACT_INDEXES), *TRIGGERS]
EXPECTED_VOLUME = [DayVolume(DAY0, 2, 6), DayVolume(DAY1, 2, 6), DayVolume(DAY2, 2, 3)]
EXPECTED_TOPICS = [("causes", 4), ("supplements", 2), ("urgent_care", 2), ("stretches", 1)]
EXPECTED_FALLBACKS = [DayFallbacks(DAY0, 6, 1, 1), DayFallbacks(DAY1, 6, 2, 2),
                      DayFallbacks(DAY2, 3, 0, 0)]
EXPECTED_RED_FLAGS = [(DAY0, 1), (DAY1, 0), (DAY2, 1)]
EXPECTED_FEEDBACK = [TopicFeedback("stretches", 0, 1), TopicFeedback("supplements", 1, 0)]
EXPECTED_CHANNELS = [("rest", 2), ("telegram", 2), ("facebook", 1)]


def tracker(sender: str, channel: str, turns: List[Turn]) -> DialogueStateTracker:
    start = turns[0][0] - 1
    events: List[Event] = [ActionExecuted("action_session_start", timestamp=start),
                           SessionStarted(timestamp=start),
                           ActionExecuted("action_listen", timestamp=start)]
    for when, kind in turns:
        events += turn(kind, channel, when)
    return DialogueStateTracker.from_events(sender, events)


def save_known(store: Any) -> None:
    """Saves the known conversations through a tracker store."""
    for sender, (channel, turns) in CONVERSATIONS.items():
        asyncio.run(store.save(tracker(sender, channel, turns)))


def check_known(analytics: Analytics) -> None:
    """Asserts every query's exact figures for the known conversations."""
    volume = analytics.volume(PERIOD)
    assert volume.days == EXPECTED_VOLUME
    assert (volume.conversations, volume.messages) == (5, 15)
    assert analytics.top_topics(PERIOD) == EXPECTED_TOPICS
    assert analytics.top_topics(PERIOD, limit=2) == EXPECTED_TOPICS[:2]
    fallbacks = analytics.fallbacks(PERIOD)
    assert fallbacks.days == EXPECTED_FALLBACKS
    assert fallbacks.fallback_rate == pytest.approx(3 / 15)
    assert fallbacks.offer_rate == pytest.approx(3 / 15)
    assert analytics.red_flags(PERIOD) == EXPECTED_RED_FLAGS
    assert analytics.feedback(PERIOD) == EXPECTED_FEEDBACK
    assert analytics.channels(PERIOD) == EXPECTED_CHANNELS
    report = analytics.report(PERIOD)
    assert PRIVATE_TEXT.split()[0] not in repr(report) and "jane" not in repr(report)


def facts(engine: sa.engine.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT count(*) FROM {FACTS}")).scalar())


@pytest.fixture
def store(tmp_path: Path) -> PrivacySQLTrackerStore:
    """The known conversations, saved before the analytics schema existed."""
    tracker_store = PrivacySQLTrackerStore(Domain.empty(), dialect="sqlite",
                                           db=str(tmp_path / "tracker.db"))
    save_known(tracker_store)
    return tracker_store


def test_the_migration_fills_the_facts_of_stored_events(
        store: PrivacySQLTrackerStore) -> None:
    assert ensure_analytics_schema(store.engine) == CREATED
    assert ensure_analytics_schema(store.engine) == []  # idempotent
    # a fact per user message (19), topic slot (11), feedback_topic and feedback slot (6)
    assert facts(store.engine) == 19 + 11 + 6
    check_known(Analytics(store.engine))


def test_triggers_keep_the_facts_of_new_events(tmp_path: Path) -> None:
    """Migrated before Rasa created its table; the store then saves as usual."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with engine.begin() as connection:
        assert create_analytics_schema(connection) == CREATED
    tracker_store = PrivacySQLTrackerStore(Domain.empty(), dialect="sqlite",
                                           db=str(tmp_path / "new.db"))
    save_known(tracker_store)
    assert facts(engine) == 36
    check_known(Analytics(tracker_store.engine))
    # a later turn of a conversation adds its facts too, and the store reads it back
    asyncio.run(tracker_store.save(tracker("H", "rest", [(at(DAY2, 9), ("urgent",))])))
    assert len(asyncio.run(tracker_store.retrieve("H")).events) == 8
    assert Analytics(engine).red_flags(PERIOD)[-1] == (DAY2, 2)


def test_deleted_conversations_no_longer_count(store: PrivacySQLTrackerStore) -> None:
    ensure_analytics_schema(store.engine)
    analytics = Analytics(store.engine)
    assert delete_conversation(store.engine, "C") > 0  # "delete my data"
    assert analytics.top_topics(PERIOD) == [("causes", 4), ("urgent_care", 2),
                                            ("stretches", 1)]
    assert analytics.feedback(PERIOD) == EXPECTED_FEEDBACK[:1]
    assert analytics.channels(PERIOD) == [("telegram", 2), ("facebook", 1), ("rest", 1)]
    assert analytics.fallbacks(PERIOD).days[1] == DayFallbacks(DAY1, 1, 0, 0)
    before = facts(store.engine)
    result = purge_older_than(store.engine, at(DAY0, 0))  # make purge: F only
    assert result.conversations == 1
    assert facts(store.engine) == before - 7  # F: 3 user messages, 2 topics, 2 feedback slots
    check_counts = analytics.volume(Period(dt.date(2026, 10, 31), DAY0))
    assert [d.messages for d in check_counts.days] == [0, 0, 4 + 2]


def test_malformed_json_never_blocks_a_save(store: PrivacySQLTrackerStore) -> None:
    ensure_analytics_schema(store.engine)
    with store.engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) "
            "VALUES ('Z', 'user', :at, 'greet', 'not json {')"), {"at": at(DAY2, 12)})
    assert ("(unknown)", 1) in Analytics(store.engine).channels(PERIOD)


def test_user_text_is_stored_redacted(store: PrivacySQLTrackerStore, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "tracker.db") as connection:
        data = " ".join(row[0] for row in connection.execute("SELECT data FROM events"))
    assert "jane.doe" not in data and "[email]" in data


def test_an_empty_period_gives_zeros(store: PrivacySQLTrackerStore) -> None:
    ensure_analytics_schema(store.engine)
    period = Period(dt.date(2025, 1, 1), dt.date(2025, 1, 2))
    report = Analytics(store.engine).report(period)
    assert [d.messages for d in report.volume.days] == [0, 0]
    assert report.volume.conversations == 0
    assert report.topics == [] and report.feedback == [] and report.channels == []
    assert report.fallbacks.fallback_rate == 0.0
    assert report.red_flags == [(dt.date(2025, 1, 1), 0), (dt.date(2025, 1, 2), 0)]


def test_queries_read_indexes_only(store: PrivacySQLTrackerStore) -> None:
    """The slow part was parsing JSON at read time: no query reads `events.data` now."""
    ensure_analytics_schema(store.engine)
    with store.engine.connect() as connection:
        def plan(sql: str) -> str:
            return " ".join(str(row[-1]) for row in connection.execute(
                sa.text(f"EXPLAIN QUERY PLAN {sql}"), PERIOD.bounds()))

        assert "COVERING INDEX ix_events_analytics_user" in plan(
            "SELECT count(DISTINCT sender_id), count(*), sum(intent_name = 'x') FROM events "
            "WHERE type_name = 'user' AND timestamp >= :start AND timestamp < :end")
        assert "COVERING INDEX ix_events_analytics_action" in plan(
            "SELECT count(*) FROM events WHERE action_name = 'a' AND type_name = 'action' "
            "AND timestamp >= :start AND timestamp < :end")
        assert "COVERING INDEX ix_analytics_facts_name" in plan(
            f"SELECT value, count(DISTINCT sender_id) FROM {FACTS} WHERE name = 'topic' "
            f"AND timestamp >= :start AND timestamp < :end GROUP BY value")


def test_the_period_form() -> None:
    today = dt.date(2026, 12, 1)
    assert parse_period(None, None, today) == Period(dt.date(2026, 11, 2), today)
    assert parse_period("2026-11-01", "", today) == Period(dt.date(2026, 11, 1), today)
    assert parse_period("", "2026-10-31", today, 7) == Period(dt.date(2026, 10, 25),
                                                             dt.date(2026, 10, 31))
    for start, end in [("2026-11-05", "2026-11-01"), ("1.11.2026", None),
                       ("2024-01-01", "2026-01-01"), ("<script>", None)]:
        with pytest.raises(ValueError):
            parse_period(start, end, today)
    assert Period(DAY0, DAY2).bounds() == {"start": at(DAY0, 0), "end": at(DAY2, 0) + 86400}


def test_generated_rows_are_what_rasa_writes(tmp_path: Path) -> None:
    """The benchmark's rows read back as Rasa events, columns as Rasa fills them."""
    from stores.sql_tracker_store import event_row

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'bench.db'}")
    generator = Generator(topics_from(ROOT / "content"), seed=3)
    count = load(engine, generator.rows(200, at(DAY0, 0), at(DAY2, 23)))
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
            "FROM events")).fetchall()
    assert len(rows) == count > 200 * 5
    kinds = set()
    for sender, type_name, timestamp, intent, action, data in rows:
        event = Event.from_parameters(json.loads(data))
        expected = event_row(sender, event)
        assert (type_name, timestamp, intent, action) == (
            expected["type_name"], expected["timestamp"], expected["intent_name"],
            expected["action_name"])
        kinds.add((type_name, action or intent))
    for kind in [("user", "nlu_fallback"), ("action", "action_offer_topics"),
                 ("slot", "topic"), ("slot", "feedback"), ("slot", "feedback_topic"),
                 ("user", "report_urgent_symptoms"), ("session_started", None)]:
        assert kind in kinds
    ensure_analytics_schema(engine)
    report = Analytics(engine).report(Period(DAY0, DAY2))
    assert report.volume.conversations == 200
    assert {name for name, _ in report.channels} <= {"rest", "telegram", "facebook", "slack",
                                                     "twilio"}
