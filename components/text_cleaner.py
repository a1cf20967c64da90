"""An NLU component that cleans message text before anything else reads it.

Runs first in the pipeline. It removes HTML/XML tags (and the contents of
script and style elements), control characters and runs of whitespace, and caps
the length, so markup, terminal escapes or a pasted 10,000-character blob cannot
sway the classifier. What remains is what the user actually wrote; a message
that was only markup becomes empty and falls back. The tracker still keeps the
original text, and nothing a user types is ever echoed back. The cleaning itself
(linear in the length of the text) is `nightcramps.text_limits`.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nightcramps import text_limits


def clean_text(text: str, max_length: int) -> str:
    """The text the NLU reads: `text_limits.strip_markup`, then `text_limits.clean_text`."""
    return text_limits.clean_text(text_limits.strip_markup(text), max_length)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False
)
class TextCleaner(GraphComponent):
    """Strips markup and control characters from the message text."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Messages are cut to this many characters after cleaning."""
        return {"max_length": text_limits.MAX_MESSAGE_LENGTH}

    def __init__(self, config: Dict[str, Any]) -> None:
        """Keeps the configuration."""
        self._max_length = int(config["max_length"])

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextCleaner:
        """Creates the component."""
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Cleans training examples the same way as live messages."""
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Cleans each message's text in place."""
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str):
                message.set(TEXT, clean_text(text, self._max_length))
        return messages
