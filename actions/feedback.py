"""Asking whether an answer helped, and how the answer is recorded.

The question is unobtrusive and deterministic: it follows the **second** answer
from the content store in a conversation session, once per session, never an
urgent-care answer (safety advice is not up for a rating). It is a separate
message after the answer, with two buttons whose payloads are the intents
`give_positive_feedback` and `give_negative_feedback` (people may also type
"not really"). `action_record_feedback` (actions/answering.py) then sets the
`feedback_topic` slot to the content id the answer came from and the `feedback`
slot to `positive` or `negative`, so the tracker store holds the feedback next
to the conversation, where the inbox (tools/content/inbox.py) finds it.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Mapping, Optional

from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.channels import Choice, send_choices
from nightcramps.contract import TOPIC_SLOT

#: The question follows this answer of a session (1 = the first answer).
ASK_AFTER_ANSWER = 2
#: Answers that never get the question.
NOT_RATED_TOPICS = frozenset({"urgent_care"})
POSITIVE = "positive"
NEGATIVE = "negative"
POSITIVE_INTENT = "give_positive_feedback"
NEGATIVE_INTENT = "give_negative_feedback"
QUESTION = "Did that answer help?"
CHOICES: List[Choice] = [
    ("Yes, it helped", f"/{POSITIVE_INTENT}"),
    ("Not really", f"/{NEGATIVE_INTENT}"),
]
THANKS_POSITIVE = "Thank you, I'm glad it helped."
THANKS_NEGATIVE = (
    "Thank you for telling me; it helps us improve the answers. "
    "You can ask again in other words"
)


def topics_answered(events: Iterable[Mapping[str, Any]]) -> List[str]:
    """The content ids answered in the latest session, in order (rated ones only).

    Args:
        events: The tracker's events as dicts (`Tracker.events`).
    """
    answered: List[str] = []
    for event in events:
        kind = event.get("event")
        if kind == "session_started":
            answered = []
        elif kind == "slot" and event.get("name") == TOPIC_SLOT:
            value = event.get("value")
            if isinstance(value, str) and value not in NOT_RATED_TOPICS:
                answered.append(value)
    return answered


def answered_topic(new_events: Iterable[EventType]) -> Optional[str]:
    """The content id an action's own events set `topic` to, if any."""
    topic = None
    for event in new_events:
        if event.get("event") == "slot" and event.get("name") == TOPIC_SLOT:
            topic = event.get("value")
    return topic if isinstance(topic, str) else None


def should_ask(events: Iterable[Mapping[str, Any]], new_events: Iterable[EventType]) -> bool:
    """Whether the answer just given (`new_events`) is the one to ask about.

    Args:
        events: The conversation's events before the action ran.
        new_events: The events the answering action returns.
    """
    topic = answered_topic(new_events)
    if topic is None or topic in NOT_RATED_TOPICS:
        return False
    return len(topics_answered(events)) + 1 == ASK_AFTER_ANSWER


def ask_for_feedback(
    dispatcher: CollectingDispatcher,
    events: Iterable[Mapping[str, Any]],
    new_events: Iterable[EventType],
) -> bool:
    """Sends "Did that answer help?" with two buttons when `should_ask` says so.

    Returns:
        Whether the question was sent.
    """
    if not should_ask(events, new_events):
        return False
    send_choices(dispatcher, QUESTION, CHOICES)
    return True
