"""The lean rule lookup and LeanRulePolicy on hand-made rules, against stock RulePolicy."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import SHOULD_NOT_BE_SET

from policies import rule_lookup
from policies.rule_policy import LeanRulePolicy

State = Dict[str, Any]


def listen(intent: str, **slots: Any) -> State:
    state: State = {"user": {"intent": intent}, "prev_action": {"action_name": "action_listen"}}
    if slots:
        state["slots"] = {name: tuple(value) for name, value in slots.items()}
    return state


def after(action: str, intent: str) -> State:
    return {"user": {"intent": intent}, "prev_action": {"action_name": action}}


def key(*states: State) -> str:
    return json.dumps(list(states), sort_keys=True)


RULES = {
    key(listen("greet")): "utter_greet",
    key(listen("ask_causes")): "action_answer_question",
    key(listen("ask_causes", topic=[1.0])): "action_answer_question",
    key({}, listen("greet")): "utter_welcome",  # conversation start
    key(listen("ask_causes"), after("action_answer_question", "ask_causes")): "action_listen",
    key({"prev_action": {"action_name": "utter_ask"}}): "action_listen",
    key(after("utter_ask", "affirm")): "action_delete",
    key(listen(SHOULD_NOT_BE_SET)): "action_x",
}

CONVERSATION_STATES: List[State] = [
    {}, listen("greet"), after("utter_greet", "greet"), listen("ask_causes"),
    listen("ask_causes", topic=[1.0]), after("action_answer_question", "ask_causes"),
    {"prev_action": {"action_name": "utter_ask"}}, after("utter_ask", "affirm"),
    {"user": {"text": "hello"}, "prev_action": {"action_name": "action_listen"}},
]


def create(cls: type, tmp_path: Path) -> Any:
    return cls.create(cls.get_default_config(), LocalModelStorage(tmp_path),
                      Resource("rules"), ExecutionContext(GraphSchema({}), "test"))


@pytest.fixture
def policy(tmp_path: Path) -> RulePolicy:
    return create(RulePolicy, tmp_path)


@pytest.fixture
def lean(tmp_path: Path) -> LeanRulePolicy:
    return create(LeanRulePolicy, tmp_path)


def test_possible_keys_match_rasas_on_every_short_history(policy: RulePolicy,
                                                          lean: LeanRulePolicy) -> None:
    assert type(policy)._get_possible_keys is not type(lean)._get_possible_keys
    compared = 0
    for length in range(1, 4):
        for states in itertools.product(CONVERSATION_STATES, repeat=length):
            expected = policy._get_possible_keys(RULES, list(states))
            assert lean._get_possible_keys(RULES, list(states)) == expected
            compared += bool(expected)
    assert compared > 100  # most histories matched some rule


def test_rules_are_parsed_once_per_lookup(lean: LeanRulePolicy) -> None:
    lookup = dict(RULES)
    first = lean._parsed_rules(lookup)
    assert lean._parsed_rules(lookup) is first
    assert first.longest == 2
    lookup[key(listen("thank"))] = "utter_welcome"
    assert lean._parsed_rules(lookup) is not first  # a changed lookup is parsed again


def test_candidates_leave_out_only_rules_that_cannot_match(policy: RulePolicy) -> None:
    parsed = rule_lookup.parse_rules(RULES)
    for state in CONVERSATION_STATES:
        kept = {k for k, _ in parsed.candidates(state)}
        applicable = {k for k in RULES if policy._is_rule_applicable(k, 0, state)}
        assert applicable <= kept
        assert len(kept) < len(RULES)
    kept = {RULES[k] for k, _ in parsed.candidates(after("utter_ask", "affirm"))}
    assert kept == {"action_delete", "action_listen"}


@pytest.mark.parametrize(("rules", "cannot_match"), [
    (RULES, False),  # listen(SHOULD_NOT_BE_SET) would match a state with text only
    ({k: v for k, v in RULES.items() if v != "action_x"}, True),
    ({key({"user": {"text": "hi"}, "prev_action": {"action_name": "action_listen"}}): "u"},
     False),
])
def test_the_text_pass_is_skipped_only_when_no_rule_can_match_text(
        rules: Dict[str, str], cannot_match: bool) -> None:
    assert rule_lookup.parse_rules(rules).text_cannot_match is cannot_match
