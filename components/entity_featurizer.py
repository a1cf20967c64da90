"""A sparse featurizer: which kinds of vocabulary term a message names.

A named sport says "exercise", a named medicine says "medications", a named
mineral says "supplements or electrolytes", whatever words surround it. The
bag-of-words featurizers see "netball" or "lasix" only as rare words; this
component gives the classifier one feature per entity label of the project's
spaCy pipeline (content/vocabulary.yml), set on the tokens the entity ruler
tagged and on the sentence. The vocabulary can then grow without retraining the
words' meaning from examples.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple, Type

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS, TOKENS_NAMES
from rasa.nlu.featurizers.sparse_featurizer.sparse_featurizer import SparseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.nlu.utils.spacy_utils import SpacyNLP
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

Spans = List[Tuple[int, int, str]]


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False
)
class EntityLabelFeaturizer(SparseFeaturizer, GraphComponent):
    """One sparse feature per vocabulary entity label found in the message."""

    @classmethod
    def required_components(cls) -> List[Type[Any]]:
        """The spaCy pipeline (its entity ruler) and a tokenizer come first."""
        return [SpacyNLP, Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The entity labels that become features, in feature order."""
        return {**SparseFeaturizer.get_default_config(),
                "labels": ["group", "mineral", "medication", "condition", "body_part",
                           "activity", "drink", "other_body_part"]}

    def __init__(self, config: Dict[str, Any], name: str) -> None:
        """Keeps the labels.

        Args:
            config: The component's configuration.
            name: The graph node's name (the features' origin).
        """
        super().__init__(name, config)
        self._labels = list(config["labels"])
        self._index = {label: i for i, label in enumerate(self._labels)}

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> EntityLabelFeaturizer:
        """Builds the featurizer (it has nothing to train)."""
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[str, Any]) -> None:
        """The labels must be a non-empty list of distinct names."""
        labels = config.get("labels")
        if not isinstance(labels, list) or not labels or len(set(labels)) != len(labels):
            raise InvalidConfigException("EntityLabelFeaturizer needs a list of distinct "
                                         "entity labels in `labels`")

    def features(self, message: Message) -> Optional[Tuple[scipy.sparse.coo_matrix,
                                                           scipy.sparse.coo_matrix]]:
        """Token and sentence features of a message's text, or None if it has no tokens."""
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        if not tokens:
            return None
        doc = message.get(SPACY_DOCS[TEXT])
        spans: Spans = [(e.start_char, e.end_char, e.label_) for e in getattr(doc, "ents", ())]
        sequence = np.zeros((len(tokens), len(self._labels)))
        sentence = np.zeros((1, len(self._labels)))
        for start, end, label in spans:
            column = self._index.get(label)
            if column is None:
                continue
            sentence[0, column] = 1.0
            for row, token in enumerate(tokens):
                if token.start < end and token.end > start:
                    sequence[row, column] = 1.0
        return scipy.sparse.coo_matrix(sequence), scipy.sparse.coo_matrix(sentence)

    def _featurize(self, message: Message) -> None:
        found = self.features(message)
        if found is not None:
            self.add_features_to_message(found[0], found[1], TEXT, message)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Adds the features to every training example."""
        for example in training_data.training_examples:
            if example.get(TEXT):
                self._featurize(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds the features to live messages."""
        for message in messages:
            self._featurize(message)
        return messages
