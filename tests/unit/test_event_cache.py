"""The per-process cache of parsed events: reused while a row is unchanged, bounded, forgetful."""

from __future__ import annotations

import json
from typing import List, Optional, Tuple

import pytest
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered

from stores.event_cache import EventCache
from stores.sql_tracker_store import parse_rows


class CountingParser:
    """`parse_rows`, counting the texts it is given."""

    def __init__(self) -> None:
        self.parsed: List[str] = []

    def __call__(self, texts: List[str]) -> List[Optional[Event]]:
        self.parsed.extend(texts)
        return parse_rows(texts)


def rows(*events: Event, first_id: int = 1) -> List[Tuple[int, str]]:
    return [(first_id + n, json.dumps(event.as_dict())) for n, event in enumerate(events)]


TURN = (UserUttered("hi", {"name": "greet", "confidence": 0.9}, timestamp=1.0),
        ActionExecuted("utter_greet", timestamp=2.0), SlotSet("topic", "causes", timestamp=3.0))


def test_rows_already_read_are_not_parsed_again() -> None:
    cache, parse = EventCache(), CountingParser()
    first = cache.events("c1", rows(*TURN), parse)
    assert first == list(TURN) and len(parse.parsed) == 3
    later = rows(*TURN, ActionExecuted("action_listen", timestamp=4.0))
    second = cache.events("c1", later, parse)
    assert second == [*TURN, ActionExecuted("action_listen", timestamp=4.0)]
    assert len(parse.parsed) == 4  # only the new row
    assert all(a is b for a, b in zip(first, second[:3], strict=True))  # reused
    assert len(cache) == 4


def test_a_row_whose_text_changed_is_parsed_again() -> None:
    cache, parse = EventCache(), CountingParser()
    cache.events("c1", rows(*TURN), parse)
    redacted = UserUttered("[redacted]", {"name": "greet", "confidence": 0.9}, timestamp=1.0)
    events = cache.events("c1", rows(redacted, *TURN[1:]), parse)
    assert events[0] == redacted and events[0].text == "[redacted]"
    assert len(parse.parsed) == 4


def test_rows_gone_from_the_database_leave_memory_at_the_next_read() -> None:
    cache = EventCache()
    cache.events("c1", rows(*TURN), parse_rows)
    assert cache.events("c1", rows(*TURN[2:], first_id=3), parse_rows) == [TURN[2]]
    assert len(cache) == 1
    cache.forget("c1")
    assert len(cache) == 0
    cache.forget("never-read")


def test_skipped_rows_stay_skipped_and_are_not_parsed_again() -> None:
    cache, parse = EventCache(), CountingParser()
    stored = [(1, json.dumps({"event": "topic", "topic": "old"})), *rows(*TURN, first_id=2)]
    assert cache.events("c1", stored, parse) == list(TURN)
    assert cache.events("c1", stored, parse) == list(TURN)
    assert len(parse.parsed) == 4


def test_the_least_recently_read_conversations_are_dropped_first() -> None:
    cache, parse = EventCache(max_events=7), CountingParser()
    cache.events("old", rows(*TURN), parse)
    cache.events("recent", rows(*TURN, first_id=10), parse)
    cache.events("old", rows(*TURN), parse)  # read again: now the most recent
    cache.events("new", rows(*TURN, first_id=20), parse)  # 9 > 7: "recent" goes
    assert len(cache) == 6 and len(parse.parsed) == 9
    cache.events("old", rows(*TURN), parse)
    assert len(parse.parsed) == 9  # still cached
    cache.events("recent", rows(*TURN, first_id=10), parse)
    assert len(parse.parsed) == 12  # parsed again


def test_a_conversation_larger_than_the_cache_is_parsed_each_time() -> None:
    cache, parse = EventCache(max_events=2), CountingParser()
    assert cache.events("c1", rows(*TURN), parse) == list(TURN)
    assert cache.events("c1", rows(*TURN), parse) == list(TURN)
    assert len(parse.parsed) == 6 and len(cache) == 0


def test_zero_keeps_nothing_and_a_negative_size_is_refused() -> None:
    cache = EventCache(max_events=0)
    assert cache.events("c1", rows(*TURN), parse_rows) == list(TURN) and len(cache) == 0
    with pytest.raises(ValueError, match="0 or more"):
        EventCache(max_events=-1)
