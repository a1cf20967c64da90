"""Against stock Rasa: DIET trained on SentenceCountVectorsFeaturizer predicts what it
predicts on CountVectorsFeaturizer, for config.yml's DIET settings (no transformer,
no entities), to the last digit, while its inputs hold no token rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Type

import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.sentence_count_vectors import SentenceCountVectorsFeaturizer
from tests.servers import ROOT

EXAMPLES = {
    "ask_causes": ["what causes cramps at night", "why do my legs cramp in bed",
                   "reason for night cramps", "what triggers leg cramps"],
    "ask_supplements": ["does magnesium help", "should i take magnesium for cramps",
                        "are supplements any good", "will potassium stop the cramps"],
    "ask_stretches": ["how do i stretch my calf", "which stretches help",
                      "stretching before bed", "show me a calf stretch"],
}
PROBES = ["why do i get cramps", "magnesum for cramsp", "calf strech at night", "hello"]


def config_steps(name: str) -> Dict[str, Dict[str, Any]]:
    """config.yml's settings of its featurizers (by analyzer) and of its DIET."""
    steps = yaml.safe_load((ROOT / "config.yml").read_text())["pipeline"]
    return {("char" if s.get("analyzer") == "char_wb" else "word") if "Vectors" in s["name"]
            else s["name"]: s for s in steps if "Vectors" in s["name"] or s["name"] == name}


def rankings(featurizer_class: Type[CountVectorsFeaturizer], tmp_path: Path
             ) -> List[List[Dict[str, Any]]]:
    """Trains config.yml's two featurizers (as `featurizer_class`) and DIET; ranks PROBES."""
    settings = config_steps("DIETClassifier")
    storage_path = tmp_path / featurizer_class.__name__
    storage_path.mkdir()
    storage = LocalModelStorage(storage_path)
    context = ExecutionContext(GraphSchema({}), node_name="test")
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    featurizers = []
    for kind in ("word", "char"):
        config = {**featurizer_class.get_default_config(),
                  **{k: v for k, v in settings[kind].items() if k != "name"}}
        featurizers.append(featurizer_class.create(config, storage, Resource(kind), context))
    diet_config = {**DIETClassifier.get_default_config(),
                   **{k: v for k, v in settings["DIETClassifier"].items() if k != "name"},
                   "epochs": 3}
    diet = DIETClassifier.create(diet_config, storage, Resource("diet"), context)
    training = TrainingData([Message(data={TEXT: text, INTENT: intent})
                             for intent, texts in EXAMPLES.items() for text in texts])
    tokenizer.process_training_data(training)
    for featurizer in featurizers:
        featurizer.train(training)
        featurizer.process_training_data(training)
    diet.train(training)
    probes = [Message(data={TEXT: text}) for text in PROBES]
    tokenizer.process(probes)
    for featurizer in featurizers:
        featurizer.process(probes)
    diet.process(probes)
    return [message.get(INTENT_RANKING_KEY) for message in probes]


@pytest.mark.slow
def test_same_rankings_as_stock_count_vectors(tmp_path: Path) -> None:
    settings = config_steps("DIETClassifier")["DIETClassifier"]
    assert settings.get("number_of_transformer_layers") == 0  # what makes them equal
    assert settings.get("entity_recognition") is False
    stock = rankings(CountVectorsFeaturizer, tmp_path)
    ours = rankings(SentenceCountVectorsFeaturizer, tmp_path)
    assert [[r["name"] for r in ranking] for ranking in ours] == \
        [[r["name"] for r in ranking] for ranking in stock]
    for mine, theirs in zip(ours, stock, strict=True):
        assert [r["confidence"] for r in mine] == pytest.approx(
            [r["confidence"] for r in theirs], abs=1e-6)
    assert len({round(r[0]["confidence"], 6) for r in ours}) > 1  # a real, varied prediction
