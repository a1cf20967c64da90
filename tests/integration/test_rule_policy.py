"""The lean rule lookup predicts exactly what Rasa's RulePolicy predicts."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable, Iterator, List, Tuple

import pytest
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from connectors import rule_matching
from tests.integration.conftest import ROOT

MODEL = ROOT / "models" / "night-cramps.tar.gz"
#: Intents whose real actions change the history (they revert or restart it).
SKIPPED_INTENTS = {"back", "restart", "session_start"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Tuple[RulePolicy, Domain]:
    """The trained model's RulePolicy, loaded as Rasa loads it, and the domain."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    storage, metadata = LocalModelStorage.from_model_archive(
        Path(tmp_path_factory.mktemp("storage")), MODEL)
    context = ExecutionContext(metadata.predict_schema, metadata.model_id)
    nodes = [node for node in metadata.predict_schema.nodes.values()
             if isinstance(node.uses, type) and issubclass(node.uses, RulePolicy)]
    assert len(nodes) == 1
    node = nodes[0]
    config = {**node.uses.get_default_config(), **node.config}  # as Rasa's GraphNode does
    policy = node.uses.load(config, storage, node.resource, context)
    return policy, metadata.domain


@pytest.fixture
def rasa_lookup(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[bool], None]]:
    """Switches RulePolicy between Rasa's lookup (False) and the lean one (True)."""
    rasa_keys, rasa_find = rule_matching.stock()
    lean_find = rule_matching.find_action_from_rules(rasa_find)

    def use(lean: bool) -> None:
        monkeypatch.setattr(RulePolicy, "_get_possible_keys",
                            rule_matching.possible_keys if lean else rasa_keys)
        monkeypatch.setattr(RulePolicy, "_find_action_from_rules",
                            lean_find if lean else rasa_find)

    yield use


def predicted(policy: RulePolicy, domain: Domain, tracker: DialogueStateTracker) -> Any:
    """Everything a prediction tells Rasa, and the rule it came from."""
    prediction, source = policy._predict(tracker, domain)
    return (prediction.probabilities, prediction.events, prediction.is_end_to_end_prediction,
            prediction.is_no_user_prediction, prediction.hide_rule_turn,
            prediction.action_metadata, source)


def conversations(policy: RulePolicy, domain: Domain, count: int,
                  seed: int) -> List[DialogueStateTracker]:
    """Trackers of random conversations that follow Rasa's own predictions.

    Each user turn has a random intent (with random confidence, sometimes text only,
    sometimes a slot set before it), then up to three predicted actions.
    """
    choose = random.Random(seed)
    intents = [intent for intent in domain.intents if intent not in SKIPPED_INTENTS]
    trackers = []
    for _ in range(count):
        events: List[Event] = [ActionExecuted("action_session_start"), SessionStarted(),
                               ActionExecuted("action_listen")]
        for _ in range(choose.randint(1, 30)):
            if choose.random() < 0.2:
                events.append(SlotSet("topic", choose.choice(["causes", "pregnancy", None])))
            if choose.random() < 0.05:
                events.append(UserUttered("what about magnesium"))  # no intent: text only
            else:
                events.append(UserUttered("x", intent={"name": choose.choice(intents),
                                                       "confidence": choose.random()}))
            for _ in range(3):
                tracker = DialogueStateTracker.from_events("s1", list(events), domain.slots)
                trackers.append(tracker)
                probabilities = policy._predict(tracker, domain)[0].probabilities
                action = domain.action_names_or_texts[probabilities.index(max(probabilities))]
                events.append(ActionExecuted(action))
                if action == "action_listen":
                    break
    return trackers


def test_predictions_on_the_trained_model_are_identical(
        trained: Tuple[RulePolicy, Domain], rasa_lookup: Callable[[bool], None]) -> None:
    policy, domain = trained
    rasa_lookup(False)
    trackers = conversations(policy, domain, count=120, seed=7)
    expected = [predicted(policy, domain, tracker) for tracker in trackers]
    rasa_lookup(True)
    got = [predicted(policy, domain, tracker) for tracker in trackers]
    assert got == expected
    # The comparison covered rules, the fallback and long conversations.
    actions = {domain.action_names_or_texts[p[0].index(max(p[0]))] for p in expected}
    assert {"action_listen", "action_answer_question", "action_offer_topics"} <= actions
    assert max(len(tracker.events) for tracker in trackers) > 100


def test_the_project_rules_skip_the_text_pass(trained: Tuple[RulePolicy, Domain]) -> None:
    policy, _ = trained
    assert rule_matching.parsed_rules(policy.lookup["rules"]).text_cannot_match


def test_debug_logging_and_loops_use_rasas_lookup(
        trained: Tuple[RulePolicy, Domain], rasa_lookup: Callable[[bool], None],
        caplog: pytest.LogCaptureFixture) -> None:
    policy, domain = trained
    tracker = DialogueStateTracker.from_events("s1", [
        ActionExecuted("action_listen"),
        UserUttered("x", intent={"name": "ask_causes", "confidence": 1.0})], domain.slots)
    calls: List[bool] = []
    _, rasa_find = rule_matching.stock()

    def counting(*args: Any) -> Any:
        calls.append(True)
        return rasa_find(*args)

    find = rule_matching.find_action_from_rules(counting)
    find(policy, tracker, domain, False)
    assert not calls
    with caplog.at_level("DEBUG", logger="rasa.core.policies.rule_policy"):
        find(policy, tracker, domain, False)
    assert calls


@pytest.mark.parametrize("use_text", [False, True])
def test_newest_states_are_the_last_of_rasas_states(
        trained: Tuple[RulePolicy, Domain], use_text: bool) -> None:
    policy, domain = trained
    for tracker in conversations(policy, domain, count=15, seed=3):
        states = policy._prediction_states(tracker, domain, use_text,
                                           rule_only_data=policy._get_rule_only_data())
        for count in (1, 2, 3, 7):
            newest = rule_matching.newest_states(policy, tracker, domain, use_text, count)
            assert newest == states[-count:]
