"""The deterministic safety net: 100% recall on the red-flag phrasings file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from nightcramps.content_store import ContentError
from nightcramps.safety import CHECK_KEY, SafetyNet

ROOT = Path(__file__).resolve().parents[2]
PHRASINGS = yaml.safe_load((ROOT / "tests" / "safety" / "red_flag_phrasings.yml").read_text())
RULES = yaml.safe_load((ROOT / "content" / "safety.yml").read_text())
STORE = yaml.safe_load((ROOT / "content" / "store.yml").read_text())

#: Every red-flag family, most serious first (the order of content/safety.yml).
FAMILIES = ["pregnancy_emergency", "chest_or_breathing", "fainting", "confusion",
            "limb_ischaemia", "compartment_syndrome", "nerve_emergency", "infection_fever",
            "possible_clot", "muscle_breakdown"]


@pytest.fixture(scope="module")
def net() -> SafetyNet:
    return SafetyNet.from_file(ROOT / "content" / "safety.yml")


def test_phrasings_file_is_substantial() -> None:
    assert len(PHRASINGS["red_flags"]) >= 200
    assert len(PHRASINGS["not_red_flags"]) >= 90
    flags = {item["flag"] for item in PHRASINGS["red_flags"]}
    assert flags == set(FAMILIES)
    for family in FAMILIES:
        count = sum(item["flag"] == family for item in PHRASINGS["red_flags"])
        assert count >= 12, family


def test_phrasings_are_not_repeated() -> None:
    texts = [item["text"].lower() for item in PHRASINGS["red_flags"] + PHRASINGS["not_red_flags"]]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize("item", PHRASINGS["red_flags"], ids=lambda i: i["text"][:40])
def test_every_red_flag_phrasing_is_caught(net: SafetyNet, item: dict) -> None:
    flags = net.red_flags(item["text"])
    assert flags, item["text"]
    # ...by the family it illustrates (so every family's rules are exercised).
    assert item["flag"] in flags, (item["text"], flags)


@pytest.mark.parametrize("item", PHRASINGS["not_red_flags"], ids=lambda i: i["text"][:40])
def test_ordinary_questions_are_not_flagged(net: SafetyNet, item: dict) -> None:
    assert net.red_flags(item["text"]) == []


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        # The audit's misses, one per gap.
        ("I have a fever and my leg is red", "infection_fever"),
        ("i blacked out after the cramp", "fainting"),
        ("i'm confused and drowsy with cramps", "confusion"),
        ("calf pain after a long haul flight", "possible_clot"),
        ("my calf has been painful since my operation", "possible_clot"),
        ("my leg is very painful and cold", "limb_ischaemia"),
        ("my calf muscle is rock hard and the pain is severe after an injury",
         "compartment_syndrome"),
        ("it hurts to breathe and my calf is sore", "chest_or_breathing"),
        ("my heart is racing and my leg hurts", "chest_or_breathing"),
        # The brief's examples.
        ("my dad collapsed after a cramp", "fainting"),
        ("i nearly passed out", "fainting"),
        ("i'm 28 weeks pregnant and my calf is sore", "possible_clot"),
        ("two weeks after giving birth my left calf aches", "possible_clot"),
        ("pregnant and a sharp pain under my ribs", "pregnancy_emergency"),
        ("pregnant with a bad headache", "pregnancy_emergency"),
    ],
)
def test_the_audits_gaps_are_closed(net: SafetyNet, text: str, flag: str) -> None:
    assert flag in net.red_flags(text)


@pytest.mark.parametrize(
    "text",
    [
        "my calf went rock hard during a cramp last night",
        "cramps at night in pregnancy",
        "cramps after my run",
        "leg cramps every night since i got pregnant",
        "is leg pain normal in pregnancy",
        "do i get cramps because i flew a lot this month",
        "i'm confused about which magnesium to buy for my leg cramps",
        "the cramp was so painful i could hardly breathe through it for a second",
    ],
)
def test_ordinary_cramps_do_not_raise_the_alarm(net: SafetyNet, text: str) -> None:
    assert net.red_flags(text) == []


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("my dog's leg is swollen and hot", False),
        ("my horse\u2019s back leg is swollen, warm and sore", False),
        ("my dogs paw is red and swollen and he has a temperature", False),
        # A person's own leg, or a pet that is not the one with the signs, still counts.
        ("my dog's leg is fine but my calf is swollen and hot", True),
        ("my dog bit my leg and now it's red, hot and swollen", True),
        ("walking the dog and my left leg suddenly went cold and white", True),
    ],
)
def test_a_pets_leg_is_not_a_red_flag(net: SafetyNet, text: str, flagged: bool) -> None:
    assert bool(net.red_flags(text)) is flagged


def test_every_red_flag_has_a_lead_and_a_source() -> None:
    assert list(RULES["red_flags"]) == FAMILIES
    for name, rule in {**RULES["red_flags"], **RULES["personal_advice"]}.items():
        sources = rule["source"] if isinstance(rule["source"], list) else [rule["source"]]
        assert "project_safety_policy" in sources, name
        assert all(source in STORE["sources"] for source in sources), name
    for name, rule in RULES["red_flags"].items():
        lead = " ".join(rule["lead"].split())
        assert lead.endswith(".") and len(lead.split()) <= 22, name


def test_the_lead_names_the_first_red_flag(net: SafetyNet) -> None:
    leads = net.leads()
    assert list(leads) == FAMILIES
    assert net.lead_for("my calf is swollen, hot and red") == leads["possible_clot"]
    assert net.lead_for("i blacked out after the cramp") == leads["fainting"]
    # Several flags: the most serious one (listed first) leads.
    both = "my calf is swollen and red and i have chest pain"
    assert net.red_flags(both) == ["chest_or_breathing", "possible_clot"]
    assert net.lead_for(both) == leads["chest_or_breathing"]
    ribs = "pregnant and a pain under my ribs"
    assert net.red_flags(ribs)[0] == "pregnancy_emergency"
    assert net.lead_for(ribs) == leads["pregnancy_emergency"]
    assert net.lead_for("what stretches help at night") is None
    assert net.lead_for("") is None and net.lead_for(None) is None


def test_the_lead_of_a_parsed_message_reuses_the_recorded_check(net: SafetyNet) -> None:
    leads = net.leads()
    recorded: Dict[str, Any] = {"text": "what stretches help",
                                CHECK_KEY: {"rules": net.fingerprint, "flags": ["fainting"]}}
    assert net.lead_for(recorded) == leads["fainting"]
    assert net.lead_for({"text": "i feel faint and my calf hurts"}) == leads["fainting"]
    stale = {"text": "my leg is very painful and cold",
             CHECK_KEY: {"rules": "older-rules", "flags": []}}
    assert net.lead_for(stale) == leads["limb_ischaemia"]
    unknown = {"text": "hello", CHECK_KEY: {"rules": net.fingerprint, "flags": ["gone"]}}
    assert net.lead_for(unknown) is None


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


def test_matching_stays_linear(net: SafetyNet) -> None:
    # Every pattern is a fixed run of single-token tests: no operators that could backtrack.
    matcher = net._matcher._matcher
    for name in RULES["concepts"]:
        _, patterns = matcher.get(name)
        assert all("OP" not in test for pattern in patterns for test in pattern), name

    def seconds(words: int) -> float:
        text = " ".join(("my calf is sore and hard after the flight and i feel "
                         "hot swollen red painful").split()[i % 15] for i in range(words))
        net._matcher._recent.clear()
        start = time.perf_counter()
        net.red_flags(text)
        return time.perf_counter() - start

    small, large = seconds(3_000), seconds(24_000)
    assert large < 20 * small + 0.05


def _rules_file(tmp_path: Path, rules: Dict[str, Any]) -> Path:
    path = tmp_path / "safety.yml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True, sort_keys=False))
    return path


def _minimal(**red: Any) -> Dict[str, Any]:
    flag = {"source": "project_safety_policy", "lead": "Chest pain needs help now.",
            "when": [[{"of": ["chest"]}]]}
    return {
        "concepts": {"chest": ["chest"], "pet": ["dog|cat 's _ leg|paw"],
                     "mine": ["my leg"], "pain": ["calf|leg _ hurt*|sore"]},
        "red_flags": {"chest_pain": {**flag, **red}},
        "personal_advice": {"dose": {"source": "project_safety_policy",
                                     "when": [[{"of": ["chest"]}]]}},
    }


def test_broken_rules_file_names_the_field(tmp_path: Path) -> None:
    path = _rules_file(tmp_path, _minimal(when=[[{"of": ["chest", "no_such_concept"]}]]))
    with pytest.raises(ContentError) as caught:
        SafetyNet.from_file(path)
    assert caught.value.field == "red_flags.chest_pain.when"
    assert "no_such_concept" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lead": ""}, "red_flags.chest_pain.lead"),
        ({"source": None}, "red_flags.chest_pain.source"),
        ({"colour": "red"}, "red_flags.chest_pain.colour"),
        ({"when": [[{"of": ["chest"], "most": 2}]]}, "red_flags.chest_pain.when"),
        ({"unless": [[{"of": ["chest"], "min": 2, "max": 1}]]}, "red_flags.chest_pain.unless"),
    ],
)
def test_a_rule_needs_a_lead_and_a_source(tmp_path: Path, change: Dict[str, Any],
                                          field: str) -> None:
    rules = _minimal(**change)
    with pytest.raises(ContentError) as caught:
        SafetyNet.from_file(_rules_file(tmp_path, rules))
    assert caught.value.field == field


def test_a_rules_source_must_be_in_the_store(tmp_path: Path) -> None:
    (tmp_path / "store.yml").write_text(yaml.safe_dump(
        {"sources": {"project_safety_policy": {"name": "Policy", "pages": []}}}))
    SafetyNet.from_file(_rules_file(tmp_path, _minimal()))
    with pytest.raises(ContentError, match="'made_up' is not in store.yml") as caught:
        SafetyNet.from_file(_rules_file(tmp_path, _minimal(source=["made_up"])))
    assert caught.value.field == "red_flags.chest_pain.source"


def test_a_multi_word_alternative_is_refused(tmp_path: Path) -> None:
    rules = _minimal()
    rules["concepts"]["chest"] = ["chest|can't breathe"]
    with pytest.raises(ContentError, match="not a single word") as caught:
        SafetyNet.from_file(_rules_file(tmp_path, rules))
    assert caught.value.field == "concepts"


def test_alternatives_wildcards_and_exceptions(tmp_path: Path) -> None:
    rules = _minimal(when=[[{"of": ["pain"]}]],
                     unless=[[{"of": ["pet"]}, {"of": ["mine"], "max": 0}]])
    net = SafetyNet.from_file(_rules_file(tmp_path, rules))
    assert net.red_flags("my calf really hurts") == ["chest_pain"]
    assert net.red_flags("the leg is sore") == ["chest_pain"]
    assert net.red_flags("my calf hurts") == []  # `_` is exactly one word
    assert net.red_flags("the dog's front leg is sore") == []
    assert net.red_flags("the cat's left paw, and my leg is sore") == ["chest_pain"]


def test_the_fingerprint_changes_with_the_rules(net: SafetyNet, tmp_path: Path) -> None:
    same = SafetyNet.from_file(ROOT / "content" / "safety.yml")
    assert same.fingerprint == net.fingerprint
    rules = yaml.safe_load((ROOT / "content" / "safety.yml").read_text())
    rules["concepts"]["chest"].append("sternum")
    assert SafetyNet.from_file(_rules_file(tmp_path, rules)).fingerprint != net.fingerprint
    # Leads are wording, not verdicts: a new lead keeps the fingerprint...
    rules = yaml.safe_load((ROOT / "content" / "safety.yml").read_text())
    rules["red_flags"]["fainting"]["lead"] = "Fainting needs help now."
    assert SafetyNet.from_file(_rules_file(tmp_path, rules)).fingerprint == net.fingerprint
    # ...but an exception or a new rule order changes it.
    rules["red_flags"]["fainting"]["unless"] = [[{"of": ["chest"]}]]
    assert SafetyNet.from_file(_rules_file(tmp_path, rules)).fingerprint != net.fingerprint
    rules = yaml.safe_load((ROOT / "content" / "safety.yml").read_text())
    rules["red_flags"] = dict(reversed(list(rules["red_flags"].items())))
    assert SafetyNet.from_file(_rules_file(tmp_path, rules)).fingerprint != net.fingerprint


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


def test_an_unknown_concept_is_reported_at_its_line(tmp_path: Path) -> None:
    path = _rules_file(tmp_path, _minimal(when=[[{"of": ["chest", "no_such_concept"]}]]))
    lines = path.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "no_such_concept" in text)
    with pytest.raises(ContentError) as caught:
        SafetyNet.from_file(path)
    assert (caught.value.field, caught.value.line) == ("red_flags.chest_pain.when", line)
    assert f"safety.yml:{line}: field 'red_flags.chest_pain.when'" in str(caught.value)


def test_a_bad_bound_is_reported_at_its_requirement(tmp_path: Path) -> None:
    path = tmp_path / "safety.yml"
    path.write_text(
        "concepts:\n  chest: [chest]\n"
        "red_flags:\n  chest_pain:\n    source: project_safety_policy\n"
        "    lead: Chest pain needs help now.\n    when:\n      - - of: [chest]\n"
        "          min: 3\n          max: 1\n"
        "personal_advice:\n  dose:\n    source: project_safety_policy\n"
        "    when: [[{of: [chest]}]]\n")
    with pytest.raises(ContentError, match="min <= max") as caught:
        SafetyNet.from_file(path)
    assert (caught.value.field, caught.value.line) == ("red_flags.chest_pain.when", 8)


def test_long_runs_are_split_and_still_matched(net: SafetyNet) -> None:
    assert "possible_clot" in net.red_flags("my calf is swollen, hot and red" + "!" * 1500)
    glued = "chest-pain,and,i,cant,breathe," * 10  # one 300-character run without a space
    assert "chest_or_breathing" in net.red_flags(glued)
    assert net.red_flags("\x00my\tcalf  is\n swollen   hot and red") == ["possible_clot"]


def test_the_net_reads_what_the_nlu_reads(net: SafetyNet) -> None:
    # The NLU pipeline keeps the first 2,000 characters; so does the safety net.
    assert net.red_flags("cramp " * 330 + "chest pain") == ["chest_or_breathing"]
    assert net.red_flags("cramp " * 340 + "chest pain") == []
