"""What the assistant does when the classifier is unsure.

The FallbackClassifier turns a low-confidence or ambiguous prediction (small
margin between the top two intents) into `nlu_fallback`. Instead of guessing,
`action_offer_topics` offers the 2-3 most likely topics as buttons and lets the
user type instead, so the assistant never gives a confident wrong answer. When
the likeliest intent was a follow-up ("is that safe?") and the conversation has
a topic, the follow-up is answered from context instead. It is also the core
fallback, for a turn that no rule or story covers.
"""

from __future__ import annotations

from typing import List

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.answering import TOPIC_SLOT, StoreAction, send_topic_list
from actions.channels import send_choices
from actions.follow_up import FOLLOW_UP_INTENTS, answer_follow_up

FALLBACK_INTENT = "nlu_fallback"

#: At most this many topics are offered.
MAX_CHOICES = 3
#: A topic must have at least this confidence to be offered.
MIN_CONFIDENCE = 0.05
OFFER_TEXT = (
    "I'm not sure I understood. Did you mean one of these? "
    "You can also rephrase your question."
)
NOT_UNDERSTOOD_TEXT = (
    "Sorry, I didn't understand that. Please ask about night-time leg cramps "
    "in other words."
)


class ActionOfferTopics(StoreAction):
    """Offers the likeliest topics as buttons when the classifier is unsure."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_offer_topics"

    def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        """Offers up to three topics from the intent ranking, or the topic list."""
        ranking = (tracker.latest_message or {}).get("intent_ranking") or []
        best = next((str(c.get("name")) for c in ranking
                     if c.get("name") not in (None, FALLBACK_INTENT)), None)
        if best in FOLLOW_UP_INTENTS and tracker.get_slot(TOPIC_SLOT):
            # An unsure "is that safe?" mid-conversation points back to the topic.
            return answer_follow_up(self, dispatcher, tracker, str(best))
        topic_ids: List[str] = []
        for candidate in ranking:
            entry = self.store.for_intent(candidate.get("name") or "")
            if entry is None or (candidate.get("confidence") or 0.0) < MIN_CONFIDENCE:
                continue
            topic_ids.append(entry.id)
            if len(topic_ids) == MAX_CHOICES:
                break
        if not topic_ids:
            dispatcher.utter_message(text=NOT_UNDERSTOOD_TEXT)
            return send_topic_list(self.store, dispatcher)
        send_choices(dispatcher, OFFER_TEXT, self.choices_for(topic_ids))
        return []
