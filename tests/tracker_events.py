"""A small domain and event sequences for the tracker-store tests."""

from __future__ import annotations

from typing import List

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted

DOMAIN = Domain.from_dict({"slots": {"topic": {"type": "text", "mappings": [{"type": "custom"}]}},
                           "intents": ["greet"]})


def session_start(at: float) -> List[Event]:
    """The events Rasa stores when a session starts at `at`."""
    return [ActionExecuted("action_session_start", timestamp=at), SessionStarted(timestamp=at),
            ActionExecuted("action_listen", timestamp=at)]
