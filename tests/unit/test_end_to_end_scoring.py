"""Scoring of the end-to-end evaluation (tools/content/end_to_end.py), without servers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Sequence

import pytest

from tools.content.end_to_end import (
    EvalSet,
    Outcome,
    SetError,
    gate_failures,
    load_set,
    outcome_from_tracker,
    score_set,
)

TOPICS = ["causes", "diet", "supplements", "urgent_care", "electrolytes"]


def scripted(answers: dict) -> object:
    """A conversation partner that answers each last turn from a table."""

    def converse(turns: Sequence[str]) -> List[Outcome]:
        return [Outcome(None)] * (len(turns) - 1) + [answers[turns[-1]]]

    return converse


def test_figures_count_answers_offers_rejections_and_red_flags() -> None:
    evaluation_set = EvalSet.parse_obj({
        "single_turn": [
            {"text": "why", "topic": "causes"},
            {"text": "food", "topic": "diet", "also_ok": ["electrolytes"], "kind": "confusable"},
            {"text": "pills", "topic": "supplements"},
            {"text": "unsure", "topic": "diet"},
        ],
        "follow_ups": [{"kind": "pronoun", "turns": ["magnesium?", "is it safe"],
                        "topic": "supplements"}],
        "out_of_scope": [{"text": "stomach", "near_miss": True}, {"text": "tax"}],
        "red_flags": [{"text": "swollen hot calf"}],
    })
    converse = scripted({
        "why": Outcome("causes"), "food": Outcome("electrolytes"), "pills": Outcome("urgent_care"),
        "unsure": Outcome(None, ["diet", "supplements"]), "is it safe": Outcome("supplements"),
        "stomach": Outcome("causes"), "tax": Outcome(None), "swollen hot calf": Outcome("urgent_care"),
    })
    result = score_set("dev.yml", evaluation_set, converse, blind=False)  # type: ignore[arg-type]
    assert result.figures["topic_accuracy"] == 0.5
    assert result.figures["did_you_mean_rate"] == 0.25
    assert result.figures["did_you_mean_right_topic"] == 1.0
    assert result.figures["follow_up_accuracy"] == 1.0
    assert result.figures["oos_rejection"] == 0.5
    assert result.figures["near_miss_rejection"] == 0.0
    assert result.figures["red_flag_recall"] == 1.0
    assert result.figures["false_urgent_rate"] == 0.25
    assert {m["text"] for m in result.misses} == {"pills", "unsure", "stomach"}
    assert result.by_kind["single_turn"] == {"confusable": 1.0, "plain": 0.333}


def test_a_blind_sets_misses_are_never_kept() -> None:
    evaluation_set = EvalSet.parse_obj({"single_turn": [{"text": "why", "topic": "causes"}]})
    result = score_set("blind.yml", evaluation_set, scripted({"why": Outcome("diet")}),  # type: ignore[arg-type]
                       blind=True)
    assert result.figures["topic_accuracy"] == 0.0
    assert result.misses == [] and result.as_dict()["misses"] == []


def test_empty_sections_give_nan_and_fail_their_gates() -> None:
    result = score_set("blind.yml", EvalSet(), scripted({}), blind=True)  # type: ignore[arg-type]
    assert math.isnan(result.figures["red_flag_recall"])
    assert gate_failures(result, {"red_flag_recall": 1.0})


def test_gates_compare_in_each_figures_direction() -> None:
    evaluation_set = EvalSet.parse_obj({"single_turn": [{"text": "why", "topic": "causes"}]})
    result = score_set("b.yml", evaluation_set, scripted({"why": Outcome("urgent_care")}),  # type: ignore[arg-type]
                       blind=True)
    failures = gate_failures(result, {"false_urgent_rate": 0.01, "topic_accuracy": 0.0})
    assert failures == ["b.yml: false_urgent_rate 1.000 > gate 0.01"]


def test_outcome_reads_topic_and_offered_buttons_of_the_latest_turn() -> None:
    tracker = {"slots": {"topic": None}, "events": [
        {"event": "user", "text": "old"},
        {"event": "action", "name": "action_offer_topics"},
        {"event": "user", "text": "new"},
        {"event": "action", "name": "action_offer_topics"},
        {"event": "bot", "data": {"buttons": [{"payload": "/ask_diet"},
                                              {"payload": "/give_positive_feedback"}]}},
    ]}
    outcome = outcome_from_tracker(tracker, {"ask_diet": "diet"})
    assert outcome.asked and outcome.offered == ["diet"] and outcome.topic is None
    tracker["events"] = tracker["events"][:3] + [{"event": "action", "name": "action_answer_question"}]
    tracker["slots"] = {"topic": "diet"}
    assert outcome_from_tracker(tracker, {}) == Outcome("diet", None)


def test_load_set_names_the_file_and_an_unknown_topic(tmp_path: Path) -> None:
    path = tmp_path / "set.yml"
    path.write_text("single_turn:\n  - text: hi\n    topic: nonsense\n")
    with pytest.raises(SetError, match=r"set\.yml: single_turn\[0\]: unknown topic 'nonsense'"):
        load_set(path, TOPICS)
    path.write_text("follow_ups:\n  - kind: pronoun\n    turns: [only one]\n    topic: diet\n")
    with pytest.raises(SetError, match="set.yml"):
        load_set(path, TOPICS)
