"""The deterministic safety net: 100% recall on the red-flag phrasings file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.content_store import ContentError
from actions.safety import CHECK_KEY, SafetyNet

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


def test_the_fingerprint_changes_with_the_rules(net: SafetyNet, tmp_path: Path) -> None:
    same = SafetyNet.from_file(ROOT / "content" / "safety.yml")
    assert same.fingerprint == net.fingerprint
    rules = yaml.safe_load((ROOT / "content" / "safety.yml").read_text())
    rules["concepts"]["chest"].append("sternum")
    (tmp_path / "safety.yml").write_text(yaml.safe_dump(rules))
    assert SafetyNet.from_file(tmp_path / "safety.yml").fingerprint != net.fingerprint


def test_a_recorded_check_is_reused_only_for_the_same_rules(net: SafetyNet) -> None:
    harmless, urgent = "what stretches help at night", "my calf is swollen hot and red"
    assert net.check(urgent) == {"rules": net.fingerprint, "flags": ["possible_clot"]}
    # The recorded verdict is what counts when the rules match (even against the text)...
    recorded = {"text": harmless, CHECK_KEY: {"rules": net.fingerprint, "flags": ["x"]}}
    assert net.red_flags_of(recorded) == ["x"]
    # ...and the text is checked when the rules differ, or nothing was recorded.
    for check in ({"rules": "other", "flags": []}, None, "junk", {"rules": net.fingerprint}):
        assert net.red_flags_of({"text": urgent, CHECK_KEY: check}) == ["possible_clot"]
    assert net.red_flags_of({"text": harmless}) == []


def test_recent_texts_are_matched_once(net: SafetyNet) -> None:
    matcher = net._matcher
    text = "chest pain and swollen calf"
    first = matcher.concepts_in(text)
    assert matcher.concepts_in(text) is first
    for index in range(matcher.CACHE_SIZE + 5):
        matcher.concepts_in(f"message {index}")
    assert len(matcher._recent) == matcher.CACHE_SIZE
    assert matcher.concepts_in(text) == first and matcher.concepts_in(text) is not first
