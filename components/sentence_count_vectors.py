"""Rasa's CountVectorsFeaturizer, giving the message text sentence features only.

The stock featurizer gives every message two matrices: one row per token
(sequence features) and one for the whole message (sentence features). DIET
without a transformer classifies intents from the sentence position alone: its
feed-forward layers act on each position separately, and with no attention
nothing flows from the token rows to the sentence row. With
`entity_recognition: false` and no masked language model the token rows are
therefore computed, carried and given a zero gradient on every training step,
and then thrown away. Here the text gets its sentence features and, in place of
the token rows, one empty row: DIET's sequence layer insists on sequence
features, and an empty 1 x 1 matrix costs it nothing. Other attributes
(responses, action texts) keep both, as in Rasa.

Configured and trained exactly like `CountVectorsFeaturizer` (same options,
vocabulary, fine-tuning). Only for a DIET without transformer layers, without
entity recognition and without a masked language model: those need the token
rows.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import scipy.sparse
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.shared.nlu.constants import TEXT

Matrices = List[Optional[scipy.sparse.spmatrix]]


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True
)
class SentenceCountVectorsFeaturizer(CountVectorsFeaturizer):
    """Token counts of the whole message text, without the per-token matrix."""

    def _create_features(self, attribute: str, all_tokens: List[List[str]]
                         ) -> Tuple[Matrices, Matrices]:
        """For the text: one empty sequence row, the sentence features Rasa computes."""
        if attribute != TEXT:
            both: Tuple[Matrices, Matrices] = super()._create_features(attribute, all_tokens)
            return both
        vectorizer = self.vectorizers.get(attribute)
        if not vectorizer:
            return [None], [None]
        sentences: Matrices = []
        for tokens in all_tokens:
            if not tokens:  # nothing to featurize
                sentences.append(None)
                continue
            counts = vectorizer.transform([" ".join(tokens)])
            counts.sort_indices()
            sentences.append(counts.tocoo())
        placeholders: Matrices = [None if sentence is None else scipy.sparse.coo_matrix((1, 1))
                                  for sentence in sentences]
        return placeholders, sentences
