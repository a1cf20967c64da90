"""LeanRulePolicy, loaded from the trained model, predicts exactly what stock RulePolicy does."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, List, Tuple

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

from policies import rule_lookup
from policies.rule_policy import LeanRulePolicy
from tests.integration.conftest import ROOT

MODEL = ROOT / "models" / "night-cramps.tar.gz"
#: Intents whose real actions change the history (they revert or restart it).
SKIPPED_INTENTS = {"back", "restart", "session_start"}


Trained = Tuple[LeanRulePolicy, RulePolicy, Domain]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The trained model's policy loaded as Rasa loads it, the same policy loaded as
    stock RulePolicy, and the domain."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    storage, metadata = LocalModelStorage.from_model_archive(
        Path(tmp_path_factory.mktemp("storage")), MODEL)
    context = ExecutionContext(metadata.predict_schema, metadata.model_id)
    nodes = [node for node in metadata.predict_schema.nodes.values()
             if isinstance(node.uses, type) and issubclass(node.uses, RulePolicy)]
    assert len(nodes) == 1
    node = nodes[0]
    assert node.uses is LeanRulePolicy  # config.yml names it
    config = {**node.uses.get_default_config(), **node.config}  # as Rasa's GraphNode does
    lean = node.uses.load(config, storage, node.resource, context)
    stock = RulePolicy.load(config, storage, node.resource, context)
    assert type(stock) is RulePolicy and stock.lookup == lean.lookup
    return lean, stock, metadata.domain


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


def test_predictions_on_the_trained_model_are_identical(trained: Trained) -> None:
    lean, stock, domain = trained
    trackers = conversations(stock, domain, count=120, seed=7)
    expected = [predicted(stock, domain, tracker) for tracker in trackers]
    got = [predicted(lean, domain, tracker) for tracker in trackers]
    assert got == expected
    # The comparison covered rules, the fallback and long conversations.
    actions = {domain.action_names_or_texts[p[0].index(max(p[0]))] for p in expected}
    assert {"action_listen", "action_answer_question", "action_offer_topics"} <= actions
    assert max(len(tracker.events) for tracker in trackers) > 100


def test_the_project_rules_skip_the_text_pass(trained: Trained) -> None:
    lean, _, _ = trained
    assert rule_lookup.parse_rules(lean.lookup["rules"]).text_cannot_match


def test_debug_logging_uses_rasas_lookup(
        trained: Trained, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    lean, _, domain = trained
    tracker = DialogueStateTracker.from_events("s1", [
        ActionExecuted("action_listen"),
        UserUttered("x", intent={"name": "ask_causes", "confidence": 1.0})], domain.slots)
    calls: List[bool] = []
    rasa_find = RulePolicy._find_action_from_rules

    def counting(*args: Any) -> Any:
        calls.append(True)
        return rasa_find(*args)

    monkeypatch.setattr(RulePolicy, "_find_action_from_rules", counting)
    lean._find_action_from_rules(tracker, domain, False)
    assert not calls
    with caplog.at_level("DEBUG", logger="rasa.core.policies.rule_policy"):
        lean._find_action_from_rules(tracker, domain, False)
    assert calls


@pytest.mark.parametrize("use_text", [False, True])
def test_newest_states_are_the_last_of_rasas_states(trained: Trained, use_text: bool) -> None:
    policy, _, domain = trained
    for tracker in conversations(policy, domain, count=15, seed=3):
        states = policy._prediction_states(tracker, domain, use_text,
                                           rule_only_data=policy._get_rule_only_data())
        for count in (1, 2, 3, 7):
            newest = rule_lookup.newest_states(policy, tracker, domain, use_text, count)
            assert newest == states[-count:]
