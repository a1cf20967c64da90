"""What the guard components share: putting an intent first, whatever was predicted."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message


def force_intent(message: Message, intent: Dict[str, Any]) -> None:
    """Makes `intent` the message's intent and the head of its ranking.

    Args:
        message: The parsed message.
        intent: The intent to put first, e.g. `{"name": ..., "confidence": 1.0}`.
    """
    ranking: Optional[List[Dict[str, Any]]] = message.get(INTENT_RANKING_KEY)
    rest = [r for r in ranking or [] if r.get("name") != intent["name"]]
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [intent, *rest], add_to_output=True)
