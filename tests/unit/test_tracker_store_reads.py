"""Reading trackers back through the event cache gives what Rasa's own store reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import List

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from stores.event_cache import EventCache
from stores.privacy_tracker_store import PrivacySQLTrackerStore
from stores.sql_tracker_store import ResilientSQLTrackerStore
from tests.tracker_events import DOMAIN, session_start


def turn(number: int) -> List[Event]:
    at = 10.0 * number
    return [UserUttered(f"hi {number}", {"name": "greet", "confidence": 0.9}, timestamp=at,
                        message_id=f"m{number}"),
            ActionExecuted("utter_greet", timestamp=at + 1),
            BotUttered(f"Hello {number}!", timestamp=at + 2),
            SlotSet("topic", f"topic {number}", timestamp=at + 3),
            ActionExecuted("action_listen", timestamp=at + 4)]


START = session_start(1.0)


def state(tracker: DialogueStateTracker | None) -> object:
    assert tracker is not None
    return tracker.current_state(EventVerbosity.ALL)


async def test_cached_reads_match_rasas_store_turn_by_turn(tmp_path: Path) -> None:
    db = str(tmp_path / "tracker.db")
    ours = ResilientSQLTrackerStore(DOMAIN, db=db)
    other_worker = ResilientSQLTrackerStore(DOMAIN, db=db, cached_events=0)
    stock = SQLTrackerStore(DOMAIN, db=db)
    events = list(START)
    for number in range(1, 13):
        events += turn(number)
        writer = other_worker if number % 3 == 0 else ours  # turns handled elsewhere too
        await writer.save(DialogueStateTracker.from_events("c1", events, DOMAIN.slots))
        assert state(await ours.retrieve("c1")) == state(await stock.retrieve("c1"))
    assert len(ours.event_cache) == len(events)
    # A new session: only its events are read, and only they stay cached.
    events += [*session_start(500.0), *turn(60)]
    await ours.save(DialogueStateTracker.from_events("c1", events, DOMAIN.slots))
    assert state(await ours.retrieve("c1")) == state(await stock.retrieve("c1"))
    assert len(ours.event_cache) == 8
    full = await ours.retrieve_full_tracker("c1")
    assert state(full) == state(await stock.retrieve_full_tracker("c1"))


async def test_a_row_changed_in_the_database_is_read_as_stored(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    ours = ResilientSQLTrackerStore(DOMAIN, db=str(db))
    await ours.save(DialogueStateTracker.from_events("c1", [*START, *turn(1)], DOMAIN.slots))
    assert (await ours.retrieve("c1")).latest_message.text == "hi 1"  # type: ignore[union-attr]
    with sqlite3.connect(db) as connection:  # as a redaction of the stored text would
        connection.execute("UPDATE events SET data = replace(data, '\"hi 1\"', '\"[text]\"') "
                           "WHERE type_name = 'user'")
    tracker = await ours.retrieve("c1")
    assert tracker is not None and tracker.latest_message is not None
    assert tracker.latest_message.text == "[text]"


async def test_deleting_a_conversation_empties_its_cache(tmp_path: Path) -> None:
    cache = EventCache()
    store = PrivacySQLTrackerStore(DOMAIN, db=str(tmp_path / "tracker.db"), event_cache=cache)
    events = [*START, *turn(1)]
    await store.save(DialogueStateTracker.from_events("c1", events, DOMAIN.slots))
    await store.save(DialogueStateTracker.from_events("c2", events, DOMAIN.slots))
    await store.retrieve("c1")
    await store.retrieve("c2")
    assert len(cache) == 2 * len(events)
    deleting = DialogueStateTracker.from_events(
        "c1", [*events, UserUttered("/delete_my_data", {"name": "delete_my_data"}),
               ActionExecuted("action_delete_conversation")], DOMAIN.slots)
    await store.save(deleting)
    assert await store.retrieve("c1") is None
    assert len(cache) == len(events)  # c2's events only


def test_the_cache_size_comes_from_the_endpoints_file(tmp_path: Path) -> None:
    from rasa.core.tracker_store import TrackerStore
    from rasa.utils.endpoints import EndpointConfig

    config = EndpointConfig(type="stores.sql_tracker_store.ResilientSQLTrackerStore",
                            dialect="sqlite", db=str(tmp_path / "t.db"), cached_events=5)
    store = TrackerStore.create(config, DOMAIN)
    assert isinstance(store, ResilientSQLTrackerStore) and store.event_cache.max_events == 5
