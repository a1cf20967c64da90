"""The deterministic safety net: 100% recall on the red-flag phrasings file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.content_store import ContentError
from actions.safety import SafetyNet

ROOT = Path(__file__).resolve().parents[2]
PHRASINGS = yaml.safe_load((ROOT / "tests" / "safety" / "red_flag_phrasings.yml").read_text())


@pytest.fixture(scope="module")
def net() -> SafetyNet:
    return SafetyNet.from_file(ROOT / "content" / "safety.yml")


def test_phrasings_file_is_substantial() -> None:
    assert len(PHRASINGS["red_flags"]) >= 60
    flags = {item["flag"] for item in PHRASINGS["red_flags"]}
    assert flags == {"possible_clot", "chest_or_breathing", "nerve_emergency",
                     "muscle_breakdown", "pregnancy_emergency", "limb_ischaemia"}


@pytest.mark.parametrize("item", PHRASINGS["red_flags"], ids=lambda i: i["text"][:40])
def test_every_red_flag_phrasing_is_caught(net: SafetyNet, item: dict) -> None:
    assert net.red_flags(item["text"]), item["text"]


@pytest.mark.parametrize("item", PHRASINGS["not_red_flags"], ids=lambda i: i["text"][:40])
def test_ordinary_questions_are_not_flagged(net: SafetyNet, item: dict) -> None:
    assert net.red_flags(item["text"]) == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("how many mg of magnesium should i take", "dose"),
        ("whats the right dose of quinine", "dose"),
        ("how much potassium per day for cramps", "dose"),
        ("can you diagnose me", "diagnosis"),
        ("do i have a blood clot or is it just cramp", "diagnosis"),
        ("what's wrong with my legs", "diagnosis"),
    ],
)
def test_personal_advice_requests_are_recognised(net: SafetyNet, text: str, kind: str) -> None:
    assert kind in net.personal_advice(text)


@pytest.mark.parametrize(
    "text",
    ["does magnesium help with cramps", "how much water should i drink", "what causes cramps",
     "how do i stretch my calves"],
)
def test_ordinary_questions_are_not_personal_advice(net: SafetyNet, text: str) -> None:
    assert net.personal_advice(text) == []


@pytest.mark.parametrize("text", ["", "   ", "\x00\x07", "🙂🙂", "a" * 10_000])
def test_odd_input_never_raises(net: SafetyNet, text: str) -> None:
    assert net.red_flags(text) == []


def test_broken_rules_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "safety.yml"
    path.write_text(yaml.safe_dump({
        "concepts": {"chest": ["chest"]},
        "red_flags": {"chest_pain": [[{"of": ["chest", "no_such_concept"]}]]},
        "personal_advice": {"dose": [[{"of": ["chest"]}]]},
    }))
    with pytest.raises(ContentError) as caught:
        SafetyNet.from_file(path)
    assert caught.value.field == "red_flags.chest_pain"
    assert "no_such_concept" in str(caught.value)
