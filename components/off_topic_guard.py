"""An NLU component that draws the line of scope with the vocabulary.

"Stomach cramps at night" or "my hands cramp when I write" use the assistant's
words but are not about leg cramps, and a classifier trained on leg-cramp
questions tends to answer them anyway. When a message names a body part that is
not a leg or a foot (the `other_body_part` entity, from content/vocabulary.yml)
and names no leg, foot or leg condition, the guard turns its intent into
`out_of_scope`, so the user gets the polite decline with a pointer elsewhere.
Conversation skills (greetings, feedback, privacy) keep their intent, and the
RedFlagGuard runs after it, so a red flag still gets the urgent answer.

The other way round, a classifier trained on many near misses can call a plain
leg-cramp question out of scope ("how do i get rid of a cramp fast"). When the
classifier says `out_of_scope` without being sure (below `doubt_below`) about a
message that says "cramp" and names no other body part, the guard takes the
likeliest topic intent instead if it has at least `min_topic_confidence`, else
`nlu_fallback`, so the user is offered the likeliest topics rather than declined.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.intents import force_intent
from nightcramps.contract import FALLBACK_INTENT, OUT_OF_SCOPE_INTENT, TOPIC_INTENT_PREFIX

#: Words that make a message about cramps (not "cramped", "cramps my style" aside).
CRAMP_WORDS = r"\b(?:cramp|cramps|cramping|charley horses?|charlie horses?)\b"
#: Intents the guard never overrides: they are not questions about a body part.
KEEP_INTENTS = (
    "report_urgent_symptoms", "greet", "goodbye", "thank", "ask_if_bot",
    "ask_what_can_i_ask", "request_human", "give_positive_feedback",
    "give_negative_feedback", "request_data_deletion", "confirm_data_deletion",
    "cancel_data_deletion", "out_of_scope",
)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class OffTopicBodyPartGuard(GraphComponent):
    """Turns questions about other body parts into `out_of_scope`."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The entity labels that decide, and the intents left alone."""
        return {
            "off_topic_labels": ["other_body_part"],
            "in_scope_labels": ["body_part", "condition"],
            "keep_intents": list(KEEP_INTENTS),
            "intent": OUT_OF_SCOPE_INTENT,
            "cramp_words": CRAMP_WORDS,
            "doubt_below": 0.9,
            "min_topic_confidence": 0.05,
            "topic_intents_prefix": TOPIC_INTENT_PREFIX,
        }

    def __init__(self, config: Dict[str, Any]) -> None:
        """Keeps the configuration.

        Args:
            config: The component's configuration.
        """
        self._off = frozenset(config["off_topic_labels"])
        self._in = frozenset(config["in_scope_labels"])
        self._keep = frozenset(config["keep_intents"])
        self._intent = str(config["intent"])
        self._cramp = re.compile(str(config["cramp_words"]), re.IGNORECASE)
        self._doubt_below = float(config["doubt_below"])
        self._min_topic = float(config["min_topic_confidence"])
        self._topic_prefix = str(config["topic_intents_prefix"])

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> OffTopicBodyPartGuard:
        """Builds the guard from its configuration."""
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leaves training data as it is: the guard only acts on live messages."""
        return training_data

    def is_off_topic(self, message: Message) -> bool:
        """Whether the message names only body parts outside the legs."""
        labels = {e.get("entity") for e in message.get(ENTITIES) or []}
        intent = (message.get(INTENT) or {}).get("name")
        return bool(labels & self._off) and not labels & self._in and intent not in self._keep

    def doubted_out_of_scope(self, message: Message) -> Optional[Dict[str, Any]]:
        """The intent to use instead of an unsure `out_of_scope` about cramps, if any."""
        intent = message.get(INTENT) or {}
        labels = {e.get("entity") for e in message.get(ENTITIES) or []}
        if (intent.get("name") != self._intent or labels & self._off
                or float(intent.get("confidence") or 0.0) >= self._doubt_below
                or not self._cramp.search(str(message.get(TEXT) or ""))):
            return None
        for candidate in message.get(INTENT_RANKING_KEY) or []:
            name = str(candidate.get("name") or "")
            if name in (self._intent, FALLBACK_INTENT) or name in self._keep:
                continue
            if (name.startswith(self._topic_prefix)
                    and float(candidate.get("confidence") or 0.0) >= self._min_topic):
                return dict(candidate)
            break
        return {"name": FALLBACK_INTENT, "confidence": float(intent.get("confidence") or 0.0)}

    def process(self, messages: List[Message]) -> List[Message]:
        """Declines other body parts; doubts an unsure out-of-scope about cramps."""
        for message in messages:
            if self.is_off_topic(message):
                force_intent(message, {"name": self._intent, "confidence": 1.0})
            elif (instead := self.doubted_out_of_scope(message)) is not None:
                force_intent(message, instead)
        return messages
