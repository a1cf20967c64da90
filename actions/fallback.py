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

from actions.answering import StoreAction, offer_likely_topics
from actions.follow_up import FOLLOW_UP_INTENTS, answer_follow_up
from nightcramps.contract import FALLBACK_INTENT, TOPIC_SLOT


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
        return offer_likely_topics(self, dispatcher, ranking)
