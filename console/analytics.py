"""Analytics for the content console, read from the tracker store's `events` table.

The table is Rasa's `SQLTrackerStore` one (`rasa/core/tracker_store.py`: one row
per event with `sender_id`, `type_name`, `timestamp`, `intent_name`,
`action_name` and the event as JSON in `data`), written by
`stores.privacy_tracker_store`, which redacts user text before it is stored.
These queries go further: none of them reads any text, redacted or not. They
read only event types, intent and action names, the values of the `topic`,
`feedback_topic` and `feedback` slots (content ids and positive/negative) and
the `input_channel` of user events.

What each figure counts, over whole UTC days from `Period.start` to `Period.end`:

- **messages**: user events (typed messages and button clicks); **conversations**:
  distinct conversation ids with at least one user message that day (or, for the
  total, in the period);
- **top topics**: how often the answering actions set the `topic` slot to each
  content id (actions/answering.py: every answer from the store sets it);
- **fallback rate**: user messages the classifier marked `nlu_fallback`, over all
  messages; **"did you mean" rate**: runs of `action_offer_topics` (the unsure
  classifier's buttons, and Rasa's core fallback), over all messages;
- **red-flag answers**: `topic` set to `urgent_care` (the safety net's answer);
- **feedback per topic**: the replies to "Did that answer help?"
  (actions/feedback.py): each `feedback` slot (positive/negative) with the
  `feedback_topic` set just before it in the same conversation;
- **channel mix**: conversations per `input_channel` of their user messages in
  the period.

Each query answers within 2 s on 100,000 conversations (SQLite and PostgreSQL)
with what `console.analytics_schema` adds to the database (indexes, and the
`analytics_facts` table that triggers keep in step with `events`: channels and
slot values without parsing JSON at read time); `python -m
tools.analytics_benchmark` measures it. Run `python -m console.migrate` first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.analytics_schema import CHANNEL, FACTS
from nightcramps.contract import FALLBACK_INTENT, FEEDBACK_SLOT, FEEDBACK_TOPIC_SLOT, TOPIC_SLOT

DAY_SECONDS = 86400
#: The longest period one page may ask for (bounds every query's work).
MAX_DAYS = 366
#: The "did you mean" action (actions/fallback.py).
OFFER_ACTION = "action_offer_topics"
#: The content id of the safety net's urgent-care answer (actions/answering.py).
URGENT_TOPIC = "urgent_care"
POSITIVE, NEGATIVE = "positive", "negative"
#: How long before a reply its `feedback_topic` may lie (both come from one action
#: run, a moment apart), so a reply early on the first day still finds its topic.
FEEDBACK_WINDOW_SECONDS = 3600
#: Shown for a missing channel or topic.
UNKNOWN = "(unknown)"

@dataclass(frozen=True)
class Period:
    """Whole UTC days from `start` to `end`, both included."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        """Refuses an empty or over-long period."""
        if self.end < self.start:
            raise ValueError("the end date is before the start date")
        if self.days > MAX_DAYS:
            raise ValueError(f"at most {MAX_DAYS} days at a time")

    @property
    def days(self) -> int:
        """How many days the period covers."""
        return (self.end - self.start).days + 1

    def bounds(self) -> Dict[str, float]:
        """The query parameters: Unix times of the first instant and the one after."""
        start = dt.datetime.combine(self.start, dt.time(), tzinfo=dt.timezone.utc)
        return {"start": start.timestamp(), "end": start.timestamp() + self.days * DAY_SECONDS}

    def dates(self) -> List[dt.date]:
        """Every day of the period, in order."""
        return [self.start + dt.timedelta(days=n) for n in range(self.days)]

    @classmethod
    def last_days(cls, days: int, today: dt.date) -> Period:
        """The `days` days up to and including `today`."""
        return cls(today - dt.timedelta(days=days - 1), today)


@dataclass(frozen=True)
class DayVolume:
    """One day's user messages and conversations."""

    day: dt.date
    conversations: int
    messages: int


@dataclass(frozen=True)
class Volume:
    """Messages and conversations per day, and over the whole period."""

    days: List[DayVolume]
    conversations: int  # distinct conversations in the period (not the sum of days)
    messages: int


@dataclass(frozen=True)
class DayFallbacks:
    """One day's messages, fallbacks and "did you mean" offers."""

    day: dt.date
    messages: int
    fallbacks: int
    offers: int


@dataclass(frozen=True)
class Fallbacks:
    """Fallbacks and "did you mean" offers per day, with the period's rates."""

    days: List[DayFallbacks]

    @property
    def messages(self) -> int:
        """User messages in the period."""
        return sum(day.messages for day in self.days)

    @property
    def fallback_rate(self) -> float:
        """Share of messages classified `nlu_fallback` (0 with no messages)."""
        return sum(d.fallbacks for d in self.days) / self.messages if self.messages else 0.0

    @property
    def offer_rate(self) -> float:
        """Runs of the "did you mean" action per message (0 with no messages)."""
        return sum(d.offers for d in self.days) / self.messages if self.messages else 0.0


@dataclass(frozen=True)
class TopicFeedback:
    """The feedback replies about one topic."""

    topic: str
    positive: int
    negative: int

    @property
    def total(self) -> int:
        """All replies about the topic."""
        return self.positive + self.negative


@dataclass(frozen=True)
class Report:
    """Every figure of the analytics page, for one period."""

    period: Period
    volume: Volume
    topics: List[Tuple[str, int]]
    fallbacks: Fallbacks
    red_flags: List[Tuple[dt.date, int]]
    feedback: List[TopicFeedback]
    channels: List[Tuple[str, int]]


def _day(dialect: str, column: str = "timestamp") -> str:
    """SQL for the UTC day number (days since 1970-01-01) of a Unix time column."""
    if dialect == "sqlite":
        return f"CAST({column} / {DAY_SECONDS} AS INTEGER)"
    return f"CAST(floor({column} / {DAY_SECONDS}) AS BIGINT)"


def _date(day_number: Any) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day_number))


class Analytics:
    """The console's analytics queries over the tracker store's `events` table."""

    def __init__(self, engine: Engine) -> None:
        """Takes the tracker store's engine (SQLite or PostgreSQL).

        Args:
            engine: An engine on the database holding Rasa's `events` table.
        """
        self.engine = engine
        self.dialect = engine.dialect.name
    def _rows(self, sql: str, period: Period, **params: Any) -> List[Tuple[Any, ...]]:
        with self.engine.connect() as connection:
            result = connection.execute(sa.text(sql), {**period.bounds(), **params})
            return [tuple(row) for row in result]

    def _per_day(self, period: Period, counts: Mapping[int, int]) -> List[Tuple[dt.date, int]]:
        first = (period.start - dt.date(1970, 1, 1)).days
        return [(day, int(counts.get(first + n, 0))) for n, day in enumerate(period.dates())]

    def volume(self, period: Period) -> Volume:
        """User messages and conversations per day, and in the whole period.

        Grouped by (day, conversation) first rather than `count(DISTINCT ...)`:
        PostgreSQL then hashes instead of sorting. (Summing those rows in Python
        instead of a second scan for the period's total was slower on SQLite:
        2.1 s against 1.0 s, docs/performance.md.)
        """
        day = _day(self.dialect)
        rows = self._rows(
            f"SELECT day, count(*), sum(messages) FROM ("
            f" SELECT {day} AS day, sender_id, count(*) AS messages FROM events "
            f" WHERE type_name = 'user' AND timestamp >= :start AND timestamp < :end "
            f" GROUP BY {day}, sender_id) per_conversation GROUP BY day", period)
        by_day = {int(row[0]): (int(row[1]), int(row[2])) for row in rows}
        total = self._rows(
            "SELECT count(*) FROM (SELECT sender_id FROM events WHERE type_name = 'user' "
            "AND timestamp >= :start AND timestamp < :end GROUP BY sender_id) conversations",
            period)
        first = (period.start - dt.date(1970, 1, 1)).days
        days = [DayVolume(day, *by_day.get(first + n, (0, 0)))
                for n, day in enumerate(period.dates())]
        return Volume(days, int(total[0][0] or 0), sum(d.messages for d in days))

    def top_topics(self, period: Period, limit: int = 10) -> List[Tuple[str, int]]:
        """The content ids answered most often, with their counts, most first."""
        rows = self._rows(
            f"SELECT value, count(*) AS answers FROM {FACTS} WHERE name = :slot "
            f"AND timestamp >= :start AND timestamp < :end AND value IS NOT NULL "
            f"GROUP BY value ORDER BY answers DESC, value LIMIT :limit",
            period, slot=TOPIC_SLOT, limit=limit)
        return [(str(topic), int(count)) for topic, count in rows]

    def fallbacks(self, period: Period) -> Fallbacks:
        """Messages, `nlu_fallback` messages and "did you mean" offers per day."""
        day = _day(self.dialect)
        messages = self._rows(
            f"SELECT {day}, count(*), "
            f"sum(CASE WHEN intent_name = :fallback THEN 1 ELSE 0 END) FROM events "
            f"WHERE type_name = 'user' AND timestamp >= :start AND timestamp < :end "
            f"GROUP BY {day}", period, fallback=FALLBACK_INTENT)
        offers = dict(self._rows(
            f"SELECT {day}, count(*) FROM events WHERE action_name = :offer "
            f"AND type_name = 'action' AND timestamp >= :start AND timestamp < :end "
            f"GROUP BY {day}", period, offer=OFFER_ACTION))
        by_day = {int(row[0]): (int(row[1]), int(row[2] or 0)) for row in messages}
        first = (period.start - dt.date(1970, 1, 1)).days
        days = []
        for n, date in enumerate(period.dates()):
            count, fallback = by_day.get(first + n, (0, 0))
            days.append(DayFallbacks(date, count, fallback, int(offers.get(first + n, 0))))
        return Fallbacks(days)

    def red_flags(self, period: Period) -> List[Tuple[dt.date, int]]:
        """Urgent-care (red-flag) answers per day."""
        day = _day(self.dialect)
        rows = self._rows(
            f"SELECT {day}, count(*) FROM {FACTS} WHERE name = :slot "
            f"AND timestamp >= :start AND timestamp < :end AND value = :urgent "
            f"GROUP BY {day}", period, slot=TOPIC_SLOT, urgent=URGENT_TOPIC)
        return self._per_day(period, {int(d): int(c) for d, c in rows})

    def feedback(self, period: Period) -> List[TopicFeedback]:
        """Positive and negative feedback replies per topic, most replies first.

        `action_record_feedback` sets `feedback_topic` and then `feedback` in one
        run, so each `feedback` fact's topic is the fact just before it in the same
        conversation (a window function: one pass, no lookup per reply).
        """
        rows = self._rows(
            f"SELECT topic, verdict, count(*) FROM ("
            f" SELECT name, timestamp, value AS verdict, "
            f"  LAG(name) OVER (PARTITION BY sender_id ORDER BY event_id) AS previous, "
            f"  LAG(value) OVER (PARTITION BY sender_id ORDER BY event_id) AS topic "
            f" FROM {FACTS} WHERE name IN (:topic_slot, :feedback_slot) "
            f" AND timestamp >= :early AND timestamp < :end) replies "
            f"WHERE name = :feedback_slot AND previous = :topic_slot "
            f"AND timestamp >= :start GROUP BY topic, verdict", period,
            early=period.bounds()["start"] - FEEDBACK_WINDOW_SECONDS,
            topic_slot=FEEDBACK_TOPIC_SLOT, feedback_slot=FEEDBACK_SLOT)
        counts: Dict[str, List[int]] = {}
        for name, verdict, count in rows:
            pair = counts.setdefault(str(name) if name is not None else UNKNOWN, [0, 0])
            if verdict == POSITIVE:
                pair[0] += int(count)
            elif verdict == NEGATIVE:
                pair[1] += int(count)
        found = [TopicFeedback(name, positive, negative)
                 for name, (positive, negative) in counts.items() if positive + negative]
        return sorted(found, key=lambda f: (-f.total, f.topic))

    def channels(self, period: Period) -> List[Tuple[str, int]]:
        """Conversations per channel of their user messages in the period, most first.

        A conversation id belongs to one channel (each channel names its users its
        own way), so the counts add up to the period's conversations.
        """
        rows = self._rows(
            f"SELECT value, count(*) FROM (SELECT value, sender_id FROM {FACTS} "
            f" WHERE name = :channel AND timestamp >= :start AND timestamp < :end "
            f" GROUP BY value, sender_id) per_conversation GROUP BY value", period,
            channel=CHANNEL)
        merged: Dict[str, int] = {}
        for name, count in rows:
            key = str(name) if name else UNKNOWN
            merged[key] = merged.get(key, 0) + int(count)
        return sorted(merged.items(), key=lambda item: (-item[1], item[0]))

    def report(self, period: Period, topics: int = 10) -> Report:
        """Every figure of the analytics page for `period`."""
        return Report(period, self.volume(period), self.top_topics(period, topics),
                      self.fallbacks(period), self.red_flags(period), self.feedback(period),
                      self.channels(period))


#: The queries, by name, as the benchmark times them.
QUERIES = ("volume", "top_topics", "fallbacks", "red_flags", "feedback", "channels")


def parse_period(start: Optional[str], end: Optional[str], today: dt.date,
                 default_days: int = 30) -> Period:
    """The period of the page's date-range form (ISO dates; blanks mean the default).

    Args:
        start: The `start` field (YYYY-MM-DD) or None.
        end: The `end` field (YYYY-MM-DD) or None.
        today: The current UTC date.
        default_days: Days shown when both fields are blank (up to `end`, or today).

    Raises:
        ValueError: A date is malformed, the end is before the start, or the
            period is longer than `MAX_DAYS`.
    """
    def parsed(value: Optional[str], name: str) -> Optional[dt.date]:
        text = (value or "").strip()
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"the {name} date must look like 2026-12-01") from None

    first, last = parsed(start, "start"), parsed(end, "end")
    last = last or today
    first = first or last - dt.timedelta(days=default_days - 1)
    return Period(first, last)
