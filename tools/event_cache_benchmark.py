"""Reading a long conversation back with and without the event cache, and the cache's memory.

Usage:
    .venv/bin/python -m tools.event_cache_benchmark [--turns 150] [--reads 40]

Stores one conversation of `--turns` turns (each turn the six events the
assistant stores: the user's message with its parse data and ranking, its
featurization flag, the action, the answer with its small print, the topic slot,
and `action_listen`, shaped like those `make run` stores) in a temporary SQLite
file through the project's tracker store. Then reads it back `--reads` times
with the cache (`stores.event_cache`) and without it (`cached_events: 0`),
alternately, and prints the medians. Last, it fills a cache of the default size
with copies of the conversation and prints the memory it holds per event
(tracemalloc). Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import List, Optional

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    DefinePrevUserUtteredFeaturization,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from stores.event_cache import DEFAULT_MAX_EVENTS, EventCache
from stores.sql_tracker_store import ResilientSQLTrackerStore, parse_rows

DOMAIN = Domain.from_dict({"slots": {"topic": {"type": "text", "mappings": [{"type": "custom"}]}},
                           "intents": [f"intent_{n}" for n in range(10)]})
ANSWER = "An answer of about the length the content store gives. " * 12
SMALL_PRINT = {"small_print": {"disclaimer": "General information only. " * 8,
                               "sources": "Sources: four named pages · Reviewed Dec 2026"}}


def turn(number: int) -> List[Event]:
    """One turn's stored events, shaped like the assistant's."""
    at = 1000.0 + number
    text = f"what can I do about the cramps in my calves at night, question {number}"
    ranking = [{"name": f"intent_{n}", "confidence": 0.9 / (n + 1)} for n in range(10)]
    parse = {"intent": ranking[0], "entities": [], "text": text, "intent_ranking": ranking,
             "text_tokens": [[i, i + 3] for i in range(0, len(text) - 3, 5)],
             "red_flag_check": {"rules": "0123456789abcdef", "flags": []}}
    return [UserUttered(text, ranking[0], [], parse, timestamp=at, message_id=f"m{number}",
                        metadata={"model_id": "0" * 32}),
            DefinePrevUserUtteredFeaturization(False, timestamp=at),
            ActionExecuted("action_answer_question", policy="RulePolicy", confidence=1.0,
                           timestamp=at + 0.1),
            BotUttered(ANSWER, {"buttons": None}, SMALL_PRINT, timestamp=at + 0.2),
            SlotSet("topic", f"topic_{number % 20}", timestamp=at + 0.2),
            ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0,
                           timestamp=at + 0.3)]


def conversation(turns: int) -> List[Event]:
    """A session start and `turns` turns."""
    start: List[Event] = [ActionExecuted("action_session_start", timestamp=999.0),
                          SessionStarted(timestamp=999.0),
                          ActionExecuted("action_listen", timestamp=999.0)]
    return start + [event for number in range(turns) for event in turn(number)]


async def read_times(db: Path, events: List[Event], reads: int) -> dict[str, float]:
    """Median milliseconds of a read, with and without the cache, alternately."""
    cached = ResilientSQLTrackerStore(DOMAIN, db=str(db))
    plain = ResilientSQLTrackerStore(DOMAIN, db=str(db), cached_events=0)
    await cached.save(DialogueStateTracker.from_events("long", events, DOMAIN.slots))
    times: dict[str, List[float]] = {"with the cache": [], "without": []}
    for _ in range(reads):
        for name, store in (("with the cache", cached), ("without", plain)):
            began = time.perf_counter()
            tracker = await store.retrieve("long")
            times[name].append((time.perf_counter() - began) * 1000)
            assert tracker is not None and len(tracker.events) == len(events)
    return {name: statistics.median(values) for name, values in times.items()}


def bytes_per_event(db: Path) -> tuple[int, float]:
    """Events a default-size cache holds when full, and tracemalloc's bytes per event."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT id, data FROM events ORDER BY id").fetchall()
    cache = EventCache()
    parse_rows([rows[0][1]])  # classes looked up before measuring
    gc.collect()
    tracemalloc.start()
    number = 0
    while len(cache) + len(rows) <= DEFAULT_MAX_EVENTS:
        cache.events(f"c{number}", [(row_id + 10**7 * number, text) for row_id, text in rows],
                     parse_rows)
        number += 1
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return len(cache), held / max(len(cache), 1)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the measurement and prints it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=150, help="turns of the conversation")
    parser.add_argument("--reads", type=int, default=40, help="reads each way")
    args = parser.parse_args(argv)
    if not 1 <= args.turns <= 2000 or not 1 <= args.reads <= 1000:
        parser.error("--turns must be 1 to 2000 and --reads 1 to 1000")
    events = conversation(args.turns)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "tracker.db"
        medians = asyncio.run(read_times(db, events, args.reads))
        held, per_event = bytes_per_event(db)
    print(f"One conversation of {args.turns} turns ({len(events)} events), "
          f"{args.reads} reads each way, alternately:")
    for name, value in medians.items():
        print(f"  read p50 {name:<15} {value:6.2f} ms")
    print(f"  without / with: {medians['without'] / medians['with the cache']:.2f}")
    print(f"A full cache of the default size: {held} events, {per_event:,.0f} bytes per event, "
          f"{held * per_event / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
