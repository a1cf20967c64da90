"""A pipeline component that installs the project's changes to Rasa when a model loads.

Rasa has no extension point for a few of the changes this project needs (the
"having trouble" answer when the action server fails, the cheaper action calls,
and DIET's lean load and direct prediction call): `runtime.rasa_patches` makes them
(its `PATCHES` lists them), and
this component is its one caller. Rasa creates or loads every pipeline
component whenever a model is loaded, so `rasa run`, `rasa shell`, `rasa test`,
`Agent.load` and `make run` all run with the same changes, whichever channels
are configured. Messages pass through unchanged.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message

from runtime import rasa_patches


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class RasaRuntime(GraphComponent):
    """Installs `runtime.rasa_patches` in the process that loads the model."""

    def __init__(self, installed: List[str]) -> None:
        """Keeps the names of the changes in place (see `installed`)."""
        self.installed = installed

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext) -> RasaRuntime:
        """Installs the changes (once per process) as the model is built or loaded."""
        return cls(rasa_patches.install())

    def process(self, messages: List[Message]) -> List[Message]:
        """Returns the messages unchanged."""
        return messages
