"""An NLU component that declines cramps and pains elsewhere in the body.

"Stomach cramps at night" or "my hands cramp when I write" use the assistant's
words but are not about leg cramps, and a classifier trained on leg-cramp
questions tends to answer them anyway. When a message names a body part that is
not a leg or a foot (the `other_body_part` entity, from content/vocabulary.yml)
and names no leg, foot or leg condition, the guard turns its intent into
`out_of_scope`, so the user gets the polite decline with a pointer elsewhere.
Conversation skills (greetings, feedback, privacy) keep their intent, and the
RedFlagGuard runs after it, so a red flag still gets the urgent answer.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

OUT_OF_SCOPE_INTENT = "out_of_scope"
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

    def process(self, messages: List[Message]) -> List[Message]:
        """Overrides the intent of messages about other body parts."""
        for message in messages:
            if not self.is_off_topic(message):
                continue
            forced = {"name": self._intent, "confidence": 1.0}
            ranking: Optional[List[Dict[str, Any]]] = message.get(INTENT_RANKING_KEY)
            rest = [r for r in ranking or [] if r.get("name") != self._intent]
            message.set(INTENT, forced, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [forced, *rest], add_to_output=True)
        return messages
