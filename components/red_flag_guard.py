"""An NLU component that overrides the classifier when a red flag is present.

It runs last in the pipeline, after the intent classifier and the
FallbackClassifier. When the deterministic safety net (nightcramps/safety.py) finds a
red-flag symptom in the message, the intent becomes `report_urgent_symptoms` with
full confidence, so dialogue management sends the urgent-care answer whatever the
classifier thought. So does an unsure prediction (`nlu_fallback`) whose likeliest
intent is the urgent one: an emergency never gets "did you mean" buttons.
Messages without a red flag keep their classification.
Every message also gets the guard's verdict under `red_flag_check` (the rules'
fingerprint and the flags found, never any text), which the action server
reuses instead of matching the same text against the same rules again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.intents import force_intent
from nightcramps.contract import FALLBACK_INTENT, URGENT_INTENT
from nightcramps.safety import CHECK_KEY, SafetyNet

RED_FLAGS_KEY = "red_flags"
#: The flag recorded when the classifier, not a rule, found the emergency.
CLASSIFIER_FLAG = "classifier"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class RedFlagGuard(GraphComponent):
    """Forces the urgent-care intent when the safety net sees a red flag."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The rules file, relative to the directory Rasa runs in."""
        return {"rules_file": "content/safety.yml", "intent": URGENT_INTENT}

    def __init__(self, config: Dict[str, Any], safety_net: SafetyNet) -> None:
        """Keeps the compiled safety net.

        Args:
            config: The component's configuration.
            safety_net: The deterministic matcher.
        """
        self._intent = str(config["intent"])
        self._net = safety_net

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RedFlagGuard:
        """Compiles the safety rules when the model is loaded."""
        return cls(config, SafetyNet.from_file(Path(config["rules_file"])))

    def _unsure_about_urgent(self, message: Message) -> bool:
        """Whether the classifier was unsure and its likeliest intent is the urgent one."""
        if (message.get(INTENT) or {}).get("name") != FALLBACK_INTENT:
            return False
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or []
                   if r.get("name") != FALLBACK_INTENT]
        return bool(ranking) and ranking[0].get("name") == self._intent

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leaves training data as it is: the guard only acts on live messages."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Records the check on every message; overrides the intent on a red flag."""
        for message in messages:
            check = self._net.check(message.get(TEXT))
            message.set(CHECK_KEY, check, add_to_output=True)
            flags = check["flags"]
            if not flags and self._unsure_about_urgent(message):
                # Unsure, but its likeliest guess is an emergency: an emergency
                # must never get "did you mean" buttons.
                flags = [CLASSIFIER_FLAG]
            if not flags:
                continue
            force_intent(message, {"name": self._intent, "confidence": 1.0})
            message.set(RED_FLAGS_KEY, flags, add_to_output=True)
        return messages
