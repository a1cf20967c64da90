"""A long conversation through the real model and action server, with and without the event cache."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, List, Tuple

import numpy as np
from rasa.core.agent import Agent
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from stores.event_cache import EventCache
from stores.sql_tracker_store import ResilientSQLTrackerStore
from tools.load.traffic import load_stories
from tools.turn_budget import agent_in_process

TURNS = 45


def outline(tracker: DialogueStateTracker | None) -> List[Tuple[Any, ...]]:
    """What a user and the content team would see of the conversation, without timestamps."""
    assert tracker is not None
    seen: List[Tuple[Any, ...]] = []
    for event in tracker.events:
        if isinstance(event, UserUttered):
            seen.append(("user", event.text, event.intent_name))
        elif isinstance(event, BotUttered):
            seen.append(("bot", event.text, str(event.data)))
        elif isinstance(event, ActionExecuted):
            seen.append(("action", event.action_name))
        elif isinstance(event, SlotSet):
            seen.append(("slot", event.key, str(event.value)))
    return seen


async def converse(agent: Agent, sender: str, texts: List[str]) -> None:
    random.seed(7)  # Rasa picks among a response's variations at random
    np.random.seed(7)
    for text in texts:
        await agent.handle_text(text, sender_id=sender)


async def test_a_long_conversation_reads_and_answers_the_same_with_the_cache(
        tmp_path: Path) -> None:
    texts = [text for story in load_stories() for text in story]
    texts = (texts * (TURNS // len(texts) + 1))[:TURNS]
    async with agent_in_process(tmp_path) as (agent, _, _):
        store = getattr(agent.tracker_store, "_tracker_store", agent.tracker_store)
        assert isinstance(store, ResilientSQLTrackerStore)
        cache = store.event_cache
        await converse(agent, "cached", texts)
        assert len(cache) > 4 * TURNS  # the conversation's events were reused, not re-read
        store.event_cache = EventCache(0)
        await converse(agent, "uncached", texts)
        fresh = [await store.retrieve(sender) for sender in ("cached", "uncached")]
        assert outline(fresh[0]) == outline(fresh[1])
        assert sum(1 for row in outline(fresh[0]) if row[0] == "user") == TURNS
        # What the cache hands back is what the database holds.
        store.event_cache = cache
        cached = await store.retrieve("cached")
        assert cached is not None and fresh[0] is not None
        assert (cached.current_state(EventVerbosity.ALL)
                == fresh[0].current_state(EventVerbosity.ALL))
