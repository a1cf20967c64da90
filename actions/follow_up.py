"""Follow-ups answered from the conversation's context.

`ask_about_group` ("what about in pregnancy?") and `ask_follow_up` ("is it
safe?", "could that explain it?", "what about statins?") have no topic of their
own. `ActionAnswerFollowUp` answers them from what the conversation is about:
the `topic` slot and the terms named in earlier turns (`actions.context`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.answering import StoreAction, offer_likely_topics, offer_related
from actions.context import earlier_turns, resolve, terms_in
from nightcramps.contract import TOPIC_SLOT

#: The intent of follow-ups without a group ("is it safe?").
FOLLOW_UP_INTENT = "ask_follow_up"
#: The intent of follow-ups about a group ("what about in pregnancy?").
GROUP_INTENT = "ask_about_group"
FOLLOW_UP_INTENTS = frozenset({FOLLOW_UP_INTENT, GROUP_INTENT})
#: With nothing in the conversation to point to, the classifier's best topic
#: answers a follow-up only if it has at least this confidence.
MIN_TOPIC_CONFIDENCE = 0.1
#: A follow-up with no cue of its own stays on the current topic, unless the
#: classifier gives another topic at least this much confidence ("how would a
#: doctor check for that?" after the conditions answer is about diagnosis).
TOPIC_OVER_CONTEXT = 0.25


def best_topic_intent(action: StoreAction, ranking: List[Dict[str, Any]],
                      minimum: float = MIN_TOPIC_CONFIDENCE) -> Optional[str]:
    """The topic id of the best-ranked topic intent, if it has `minimum` confidence."""
    for candidate in ranking:
        entry = action.store.for_intent(str(candidate.get("name") or ""))
        if entry is not None:
            return entry.id if float(candidate.get("confidence") or 0.0) >= minimum else None
    return None


def answer_follow_up(action: StoreAction, dispatcher: CollectingDispatcher,
                     tracker: Tracker, intent: str) -> List[EventType]:
    """Answers a follow-up of `intent` from context; related topics if nothing fits.

    A group ("what about in pregnancy?") gets the current topic's variant for
    it, else the group's own topic; a group follow-up naming no known group gets
    the related topics. An `ask_follow_up` goes through `actions.context.resolve`;
    with nothing to point to, the classifier's best topic answers it if it is
    confident enough, else the likeliest topics are offered.
    """
    message = tracker.latest_message or {}
    group = action.group_in(tracker)
    current = action.store.get(tracker.get_slot(TOPIC_SLOT) or "")
    if group and current is not None and group in current.variants:
        return action.send_entry(dispatcher, current, current.variants[group])
    group_topic = action.store.topic_for_group(group) if group else None
    if group_topic:
        return action.send_topic(dispatcher, group_topic, group=group)
    if intent != FOLLOW_UP_INTENT:
        return offer_related(action, dispatcher, tracker, current)
    resolution = resolve(
        str(message.get("text") or ""),
        terms_in(message.get("entities") or []),
        earlier_turns(tracker.events or []),
        current.id if current is not None else None,
        action.store.topic_for_term,
    )
    ranking = list(message.get("intent_ranking") or [])
    topic = resolution.topic if resolution is not None else best_topic_intent(action, ranking)
    if resolution is not None and resolution.reason == "current":
        topic = best_topic_intent(action, ranking, TOPIC_OVER_CONTEXT) or topic
    if topic is None or action.store.get(topic) is None:
        # Nothing to point back to, and no confident topic: ask, as when unsure.
        return offer_likely_topics(action, dispatcher, ranking)
    return action.send_topic(dispatcher, topic, group=group)


class ActionAnswerFollowUp(StoreAction):
    """Answers a follow-up from the current topic and the terms named before."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_answer_follow_up"

    def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        """Sends the topic the follow-up points to (see `answer_follow_up`)."""
        intent = str(((tracker.latest_message or {}).get("intent") or {}).get("name") or "")
        return answer_follow_up(self, dispatcher, tracker, intent)
