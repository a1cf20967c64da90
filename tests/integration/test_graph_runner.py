"""Running the graph in order gives the trained model's exact results, as dask does."""

from __future__ import annotations

from typing import Any, Callable, List, Tuple

import pytest
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

from runtime import rasa_patches
from runtime.graph_runner import run_in_order
from tests.integration.conftest import ROOT

MODEL = ROOT / "models" / "night-cramps.tar.gz"
MESSAGES = ["why do I get leg cramps at night?", "im pregnant is that why",
            "my calf is swollen hot and red", "what about magnesium",
            "asdfgh", "thanks bye"]


Run = Callable[..., Any]


@pytest.fixture(scope="module")
def runners(tmp_path_factory: pytest.TempPathFactory) -> Tuple[ModelMetadata, Run, Run]:
    """The trained model, run by Rasa's own `DaskGraphRunner.run` and by `run_in_order`."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    folder = tmp_path_factory.mktemp("models")
    metadata, runner = loader.load_predict_graph_runner(folder, MODEL, LocalModelStorage,
                                                        DaskGraphRunner)
    dask_run = rasa_patches.original("graph_runner")
    assert dask_run is not run_in_order and dask_run.__module__ == "rasa.engine.runner.dask"

    def dask(**kwargs: Any) -> Any:
        return dask_run(runner, **kwargs)

    def sequential(**kwargs: Any) -> Any:
        return run_in_order(runner, **kwargs)

    return metadata, dask, sequential


def parse(runner: Any, metadata: ModelMetadata, text: str) -> Any:
    tracker = DialogueStateTracker("s1", [])
    results = runner(inputs={PLACEHOLDER_MESSAGE: [UserMessage(text, message_id="m1")],
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
def test_nlu_results_are_identical(runners: Tuple[ModelMetadata, Run, Run], text: str) -> None:
    metadata, dask_runner, sequential = runners
    expected = parse(dask_runner, metadata, text)
    assert parse(sequential, metadata, text) == expected
    assert expected["intent"]["name"]  # the comparison is of real classifications


def test_action_predictions_are_identical(runners: Tuple[ModelMetadata, Run, Run]) -> None:
    metadata, dask_runner, sequential = runners
    predicted = set()
    for tracker in conversations(metadata, dask_runner):
        inputs = {PLACEHOLDER_TRACKER: tracker}
        expected = dask_runner(inputs=inputs, targets=[metadata.core_target])
        got = sequential(inputs=inputs, targets=[metadata.core_target])
        assert got.keys() == expected.keys()
        want, have = expected[metadata.core_target], got[metadata.core_target]
        assert (have.probabilities, have.policy_name, have.events, have.is_end_to_end_prediction,
                have.action_metadata) == (want.probabilities, want.policy_name, want.events,
                                          want.is_end_to_end_prediction, want.action_metadata)
        predicted.add(want.max_confidence_index)
    assert len(predicted) > 1  # several different actions were compared


def test_an_input_named_like_a_node_is_refused(runners: Tuple[ModelMetadata, Run, Run]) -> None:
    metadata, _, sequential = runners
    with pytest.raises(GraphRunError, match="clashes with a node name"):
        sequential(inputs={metadata.nlu_target: "x"}, targets=[metadata.nlu_target])


def test_loading_the_model_installs_it_in_place_of_dask(
        runners: Tuple[ModelMetadata, Run, Run]) -> None:
    # Loading the model (the fixture) ran the RasaRuntime component.
    assert "graph_runner" in rasa_patches.installed()
    assert DaskGraphRunner.run is run_in_order
