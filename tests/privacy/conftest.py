"""Fixtures of the privacy tests.

The PostgreSQL tests reuse the production profile's services fixture (local
PostgreSQL and Redis, a fresh database per session; see tests/prod/conftest.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict, Iterable, List

import yaml
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from tests.prod.conftest import conversation_id, services  # noqa: F401 (fixtures)
from tests.servers import ROOT

DAY = 86400.0
#: An e-mail, a phone number and a question the model answers with the `supplements`
#: topic (intent `ask_about_supplements`). Contact details are noise to the classifier:
#: with a vaguer question it may offer topics instead (docs/privacy-and-security.md).
PII_QUESTION = ("do magnesium supplements help night leg cramps? email me at "
                "jane.doe@example.org or call 07700 900123")
PII_REDACTED = "email me at [email] or call [phone]"
PII_TOPIC, PII_INTENT = "supplements", "ask_about_supplements"
PII_PARTS = ["jane.doe", "example.org", "07700", "900123"]


def tracker_store_section(endpoints: Path) -> Dict[str, Any]:
    """The `tracker_store` section of an endpoints file, as written."""
    return dict(yaml.safe_load(endpoints.read_text())["tracker_store"])


def store_from(section: Dict[str, Any]) -> TrackerStore:
    """The tracker store Rasa builds from an endpoints file's section."""
    return TrackerStore.create(EndpointConfig.from_dict(section), domain=Domain.empty())


def sqlite_section(db: Path) -> Dict[str, Any]:
    """endpoints.yml's tracker store, on `db`."""
    return {**tracker_store_section(ROOT / "endpoints.yml"), "db": str(db)}


def turn(text: str, intent: str, answer: str, action: str, at: float) -> List[Event]:
    """A user message, the action that answered it and the listen after it."""
    parse_data = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    return [UserUttered(text, parse_data["intent"], [], parse_data, timestamp=at),
            ActionExecuted(action, timestamp=at + 0.1), BotUttered(answer, timestamp=at + 0.2),
            ActionExecuted("action_listen", timestamp=at + 0.3)]


def conversation(sender: str, texts: Iterable[str], at: float) -> DialogueStateTracker:
    """A tracker with a session start and one turn per text, starting at `at`."""
    events: List[Event] = [ActionExecuted("action_session_start", timestamp=at),
                           SessionStarted(timestamp=at),
                           ActionExecuted("action_listen", timestamp=at)]
    for number, text in enumerate(texts, start=1):
        events += turn(text, "ask_causes", "Cramps have many causes.",
                       "action_answer_question", at + number)
    return DialogueStateTracker.from_events(sender, events)


def save(store: TrackerStore, tracker: DialogueStateTracker) -> None:
    asyncio.run(store.save(tracker))


def reply_text(replies: List[Dict[str, Any]]) -> str:
    """The text of the bot's messages, joined."""
    return "\n".join(str(reply.get("text") or "") for reply in replies)


def answer_of(topic: str) -> str:
    """The content store's answer of a topic."""
    from nightcramps.content_store import YamlContentStore

    entry = YamlContentStore(ROOT / "content").get(topic)
    assert entry is not None
    return entry.answer


def response_text(name: str) -> str:
    """The text of a domain response (the first variant)."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    return str(domain["responses"][name][0]["text"])


#: "Do you want me to delete this conversation...?" and its button payloads.
ASK_DELETION = "utter_ask_delete_conversation"
CONFIRM, CANCEL = "/confirm_data_deletion", "/cancel_data_deletion"
