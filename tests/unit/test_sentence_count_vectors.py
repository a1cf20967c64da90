"""SentenceCountVectorsFeaturizer: the text's sentence counts, as Rasa's, and one empty token row."""

from __future__ import annotations

from pathlib import Path
from typing import List, Type

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import ACTION_TEXT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.sentence_count_vectors import SentenceCountVectorsFeaturizer

TEXTS = ["what causes cramps at night", "does magnesium help my calf cramps",
         "cramps in pregnancy", "how do i stretch my calf"]


def featurized(cls: Type[CountVectorsFeaturizer], tmp_path: Path, texts: List[str]) -> List[Message]:
    """Trains `cls` (char n-grams, as config.yml's second featurizer) and featurizes `texts`."""
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    (tmp_path / cls.__name__).mkdir()
    storage = LocalModelStorage(tmp_path / cls.__name__)
    config = {**cls.get_default_config(), "analyzer": "char_wb", "min_ngram": 2,
              "max_ngram": 4}
    featurizer = cls.create(config, storage, Resource(cls.__name__),
                            ExecutionContext(GraphSchema({}), node_name=cls.__name__))
    training = TrainingData([Message(data={TEXT: text, "intent": "x"}) for text in TEXTS])
    tokenizer.process_training_data(training)
    featurizer.train(training)
    messages = [Message(data={TEXT: text}) for text in texts]
    tokenizer.process(messages)
    featurizer.process(messages)
    return messages


def test_the_text_gets_rasas_sentence_counts_and_no_sequence(tmp_path: Path) -> None:
    texts = ["night cramps in my calf", "magnesum for cramsp", "?"]
    ours = featurized(SentenceCountVectorsFeaturizer, tmp_path, texts)
    stock = featurized(CountVectorsFeaturizer, tmp_path, texts)
    for mine, theirs in zip(ours, stock, strict=True):
        sequence, sentence = mine.get_sparse_features(TEXT)
        stock_sequence, stock_sentence = theirs.get_sparse_features(TEXT)
        assert sequence is not None and stock_sequence is not None
        assert sequence.features.shape == (1, 1) and sequence.features.nnz == 0
        assert sentence is not None and stock_sentence is not None
        assert np.array_equal(sentence.features.toarray(), stock_sentence.features.toarray())
    assert all(m.get_sparse_features(TEXT)[1].features.sum() > 0 for m in ours[:2])


def test_other_attributes_keep_both_matrices(tmp_path: Path) -> None:
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    (tmp_path / "storage").mkdir()
    storage = LocalModelStorage(tmp_path / "storage")
    featurizer = SentenceCountVectorsFeaturizer.create(
        SentenceCountVectorsFeaturizer.get_default_config(), storage, Resource("f"),
        ExecutionContext(GraphSchema({}), node_name="f"))
    training = TrainingData([Message(data={ACTION_TEXT: text}) for text in TEXTS])
    tokenizer.process_training_data(training)
    featurizer.train(training)
    message = Message(data={ACTION_TEXT: "calf cramps at night"})
    tokenizer.process([message])
    featurizer.process([message])
    sequence, sentence = message.get_sparse_features(ACTION_TEXT)
    assert sequence is not None and sentence is not None
