"""Which topic answers which intent, read from the content store.

The content store (`nightcramps.content_store`) owns the lookup (`for_intent`,
`entries`); these helpers give the staff tools the maps they need from it.
Each takes the store's folder (the project's `content/`, or a copy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from nightcramps.content_store import Entry, YamlContentStore
from nightcramps.contract import URGENT_INTENT


def entries(content: Path) -> List[Entry]:
    """The topics of the content store in the folder `content`."""
    return YamlContentStore(content).entries()


def topic_for_intent(content: Path) -> Dict[str, str]:
    """Intent -> the id of the topic that answers it."""
    return {entry.intent: entry.id for entry in entries(content)}


def topic_titles(content: Path) -> Dict[str, str]:
    """Intent -> the title of the topic that answers it."""
    return {entry.intent: entry.title for entry in entries(content)}


def topic_intents(content: Path) -> List[str]:
    """The intents answered from the content store, red flags excepted, sorted."""
    return sorted(intent for intent in topic_for_intent(content) if intent != URGENT_INTENT)
