"""Follow-ups answered from the conversation's context.

`ask_about_group` ("what about in pregnancy?") and `ask_follow_up` ("is it
safe?", "could that explain it?", "what about statins?") have no topic of their
own. `ActionAnswerFollowUp` answers them from what the conversation is about:
the `topic` slot and the terms named in earlier turns (`actions.context`).
"""

from __future__ import annotations

from typing import List

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.answering import TOPIC_SLOT, StoreAction, offer_related
from actions.context import earlier_turns, resolve, terms_in

#: The intent of follow-ups without a group ("is it safe?").
FOLLOW_UP_INTENT = "ask_follow_up"


class ActionAnswerFollowUp(StoreAction):
    """Answers a follow-up from the current topic and the terms named before."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_answer_follow_up"

    def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        """Sends the topic the follow-up points to; related topics if none.

        A group ("what about in pregnancy?") gets the current topic's variant for
        it, else the group's own topic; a group follow-up naming no known group
        gets the related topics. An `ask_follow_up` goes through
        `actions.context.resolve`.
        """
        message = tracker.latest_message or {}
        group = self.group_in(tracker)
        current = self.store.get(tracker.get_slot(TOPIC_SLOT) or "")
        if group and current is not None and group in current.variants:
            return self.send_entry(dispatcher, current, current.variants[group])
        group_topic = self.store.topic_for_group(group) if group else None
        if group_topic:
            return self.send_topic(dispatcher, group_topic, group=group)
        if (message.get("intent") or {}).get("name") != FOLLOW_UP_INTENT:
            return offer_related(self, dispatcher, tracker, current)
        resolution = resolve(
            str(message.get("text") or ""),
            terms_in(message.get("entities") or []),
            earlier_turns(tracker.events or []),
            current.id if current is not None else None,
            self.store.topic_for_term,
        )
        if resolution is None or self.store.get(resolution.topic) is None:
            return offer_related(self, dispatcher, tracker, current)
        return self.send_topic(dispatcher, resolution.topic, group=group)
