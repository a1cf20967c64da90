"""The sequential graph runner gives the trained model's exact results, as dask does."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Tuple

import pytest
import rasa.core.processor
from rasa.core.channels.channel import UserMessage
from rasa.engine import loader
from rasa.engine.constants import (
    PLACEHOLDER_MESSAGE,
    PLACEHOLDER_TRACKER,
)
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.storage import ModelMetadata
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from connectors import graph_runner
from connectors.graph_runner import SequentialGraphRunner
from tests.integration.conftest import ROOT

MODEL = ROOT / "models" / "night-cramps.tar.gz"
MESSAGES = ["why do I get leg cramps at night?", "im pregnant is that why",
            "my calf is swollen hot and red", "what about magnesium",
            "asdfgh", "thanks bye"]


def load(folder: Path, runner: type) -> Tuple[ModelMetadata, Any]:
    folder.mkdir()
    return loader.load_predict_graph_runner(folder, MODEL, LocalModelStorage, runner)


@pytest.fixture(scope="module")
def runners(tmp_path_factory: pytest.TempPathFactory) -> Tuple[ModelMetadata, Any, Any]:
    """The model loaded twice: with Rasa's dask runner and with the sequential one."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    folder = tmp_path_factory.mktemp("models")
    metadata, dask_runner = load(folder / "dask", DaskGraphRunner)
    _, sequential = load(folder / "sequential", SequentialGraphRunner)
    assert isinstance(sequential, SequentialGraphRunner)
    return metadata, dask_runner, sequential


def parse(runner: Any, metadata: ModelMetadata, text: str) -> Any:
    tracker = DialogueStateTracker("s1", [])
    results = runner.run(inputs={PLACEHOLDER_MESSAGE: [UserMessage(text, message_id="m1")],
                                 PLACEHOLDER_TRACKER: tracker},
                         targets=[metadata.nlu_target])
    data = results[metadata.nlu_target][0].as_dict()
    data["text_spacy_doc"] = str(data.get("text_spacy_doc"))  # a spaCy Doc: compare its text
    return data


def conversations(metadata: ModelMetadata, dask_runner: Any) -> List[DialogueStateTracker]:
    """Trackers after each user message, and after the action answering it."""
    trackers = []
    events: List[Any] = [ActionExecuted("action_session_start"), SessionStarted(),
                         ActionExecuted("action_listen")]
    for text in MESSAGES:
        data = parse(dask_runner, metadata, text)
        events.append(UserUttered(text, intent=data["intent"], entities=data["entities"]))
        trackers.append(DialogueStateTracker.from_events("s1", list(events)))
        events.extend([ActionExecuted("action_answer_question"), ActionExecuted("action_listen")])
        trackers.append(DialogueStateTracker.from_events("s1", list(events[:-1])))
    return trackers


@pytest.mark.parametrize("text", MESSAGES)
def test_nlu_results_are_identical(runners: Tuple[ModelMetadata, Any, Any], text: str) -> None:
    metadata, dask_runner, sequential = runners
    expected = parse(dask_runner, metadata, text)
    assert parse(sequential, metadata, text) == expected
    assert expected["intent"]["name"]  # the comparison is of real classifications


def test_action_predictions_are_identical(runners: Tuple[ModelMetadata, Any, Any]) -> None:
    metadata, dask_runner, sequential = runners
    predicted = set()
    for tracker in conversations(metadata, dask_runner):
        inputs = {PLACEHOLDER_TRACKER: tracker}
        expected = dask_runner.run(inputs=inputs, targets=[metadata.core_target])
        got = sequential.run(inputs=inputs, targets=[metadata.core_target])
        assert got.keys() == expected.keys()
        want, have = expected[metadata.core_target], got[metadata.core_target]
        assert (have.probabilities, have.policy_name, have.events, have.is_end_to_end_prediction,
                have.action_metadata) == (want.probabilities, want.policy_name, want.events,
                                          want.is_end_to_end_prediction, want.action_metadata)
        predicted.add(want.max_confidence_index)
    assert len(predicted) > 1  # several different actions were compared


def test_an_input_named_like_a_node_is_refused(runners: Tuple[ModelMetadata, Any, Any]) -> None:
    metadata, _, sequential = runners
    with pytest.raises(GraphRunError, match="clashes with a node name"):
        sequential.run(inputs={metadata.nlu_target: "x"}, targets=[metadata.nlu_target])


def test_install_makes_rasa_load_models_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rasa.core.processor, "DaskGraphRunner", DaskGraphRunner)
    graph_runner.install()
    assert rasa.core.processor.DaskGraphRunner is SequentialGraphRunner
