"""The project's spaCy pipeline and the RedFlagGuard NLU component."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rasa.nlu.utils.spacy_utils import SpacyNLP
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.off_topic_guard import OffTopicBodyPartGuard
from components.red_flag_guard import RedFlagGuard
from nightcramps.content_store import ContentError
from nightcramps.safety import SafetyNet
from tools.build_spacy_pipeline import build

ROOT = Path(__file__).resolve().parents[2]


def test_pipeline_builds_from_vocabulary_and_loads_in_rasa(tmp_path: Path) -> None:
    out = tmp_path / "pipeline"
    build(ROOT / "content" / "vocabulary.yml", out)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["name"] == "night_cramps_vocab"
    model = SpacyNLP.load_model(str(out))
    doc = model.model("what about when pregnant? my statins and calfs, magnesum")
    found = {(ent.label_, ent.ent_id_) for ent in doc.ents}
    assert ("group", "pregnancy") in found
    assert ("medication", "statins") in found
    assert ("body_part", "calf") in found
    assert ("mineral", "magnesium") in found


def test_vocabulary_edit_changes_the_pipeline(tmp_path: Path) -> None:
    vocabulary = tmp_path / "vocabulary.yml"
    vocabulary.write_text("group:\n  athletes:\n    topic: exercise\n    synonyms: [rowers]\n")
    nlp = build(vocabulary, tmp_path / "pipeline")
    assert [(e.text, e.ent_id_) for e in nlp("what about rowers").ents] == [("rowers", "athletes")]


def test_broken_vocabulary_names_file_and_field(tmp_path: Path) -> None:
    vocabulary = tmp_path / "vocabulary.yml"
    vocabulary.write_text("group:\n  pregnancy:\n    synonyms: pregnant\n")
    with pytest.raises(ContentError) as caught:
        build(vocabulary, tmp_path / "pipeline")
    assert caught.value.field == "group.pregnancy.synonyms"


@pytest.fixture(scope="module")
def guard() -> RedFlagGuard:
    net = SafetyNet.from_file(ROOT / "content" / "safety.yml")
    return RedFlagGuard({**RedFlagGuard.get_default_config()}, net)


def message(text: str, intent: str, confidence: float) -> Message:
    msg = Message(data={TEXT: text})
    msg.set(INTENT, {"name": intent, "confidence": confidence}, add_to_output=True)
    msg.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": confidence},
                                 {"name": "ask_urgent_other", "confidence": 0.1}],
            add_to_output=True)
    return msg


def test_guard_overrides_a_confident_faq_intent(guard: RedFlagGuard) -> None:
    [msg] = guard.process([message("stretches for my swollen red hot calf?", "ask_stretches",
                                   0.97)])
    assert msg.get(INTENT) == {"name": "report_urgent_symptoms", "confidence": 1.0}
    assert msg.get(INTENT_RANKING_KEY)[0]["name"] == "report_urgent_symptoms"
    assert msg.get("red_flags") == ["possible_clot"]
    assert msg.get("red_flag_check") == {"rules": guard._net.fingerprint,
                                         "flags": ["possible_clot"]}


def test_guard_overrides_fallback_too(guard: RedFlagGuard) -> None:
    [msg] = guard.process([message("chest pain", "nlu_fallback", 0.3)])
    assert msg.get(INTENT)["name"] == "report_urgent_symptoms"


def test_guard_leaves_ordinary_messages_alone(guard: RedFlagGuard) -> None:
    [msg] = guard.process([message("what stretches help before bed", "ask_stretches", 0.97)])
    assert msg.get(INTENT) == {"name": "ask_stretches", "confidence": 0.97}
    assert msg.get("red_flags") is None
    assert msg.get("red_flag_check") == {"rules": guard._net.fingerprint, "flags": []}


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<script>alert('x')</script><b>hello</b><img src=x onerror=alert(1)>", "hello"),
        ("why do i get <i>cramps</i>?", "why do i get cramps ?"),
        ("\x00\x01\x07\x1b[31m\x7f", ""),
        ("  calf\tcramp\n\nat night ", "calf cramp at night"),
        ("a < b and c > d", "a < b and c > d"),
    ],
)
def test_text_cleaner_strips_markup_and_control_characters(raw: str, clean: str) -> None:
    from components.text_cleaner import clean_text

    assert clean_text(raw, 2000) == clean


def test_text_cleaner_caps_length() -> None:
    from components.text_cleaner import clean_text

    assert len(clean_text("cramp " * 2000, 2000)) == 2000


def _classified(intent: str, *labels: str) -> Message:
    message = Message(data={TEXT: "some text"})
    message.set(INTENT, {"name": intent, "confidence": 0.8})
    message.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 0.8}])
    message.set("entities", [{"entity": label, "value": label} for label in labels])
    return message


@pytest.mark.parametrize("intent, labels, expected", [
    ("ask_causes", ("other_body_part",), "out_of_scope"),           # "stomach cramps at night"
    ("nlu_fallback", ("other_body_part",), "out_of_scope"),
    ("ask_causes", ("other_body_part", "body_part"), "ask_causes"),  # hands and legs
    ("ask_causes", ("other_body_part", "condition"), "ask_causes"),  # restless legs too
    ("ask_causes", (), "ask_causes"),
    ("thank", ("other_body_part",), "thank"),
    ("report_urgent_symptoms", ("other_body_part",), "report_urgent_symptoms"),
])
def test_off_topic_guard_declines_only_other_body_parts(intent: str, labels: tuple,
                                                        expected: str) -> None:
    guard = OffTopicBodyPartGuard(OffTopicBodyPartGuard.get_default_config())
    [message] = guard.process([_classified(intent, *labels)])
    assert message.get(INTENT)["name"] == expected
    assert message.get(INTENT_RANKING_KEY)[0]["name"] == expected


def _out_of_scope(text: str, confidence: float, ranking: list, *labels: str) -> Message:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": "out_of_scope", "confidence": confidence})
    message.set(INTENT_RANKING_KEY, [{"name": "out_of_scope", "confidence": confidence}, *ranking])
    message.set("entities", [{"entity": label, "value": label} for label in labels])
    return message


@pytest.mark.parametrize("text, confidence, ranking, labels, expected", [
    # Unsure, about cramps: the likeliest topic instead.
    ("how do i get rid of a cramp fast", 0.63,
     [{"name": "ask_quick_relief", "confidence": 0.35}], (), "ask_quick_relief"),
    # ... or "did you mean" when no topic is likely enough.
    ("cramps after a long drive", 0.6, [{"name": "ask_quick_relief", "confidence": 0.01}], (),
     "nlu_fallback"),
    ("cramps again", 0.6, [{"name": "greet", "confidence": 0.3}], (), "nlu_fallback"),
    # Sure, another body part, or no cramp word: out of scope stays.
    ("cramp my style", 0.95, [{"name": "ask_causes", "confidence": 0.05}], (), "out_of_scope"),
    ("period cramps", 0.6, [{"name": "ask_causes", "confidence": 0.3}], ("other_body_part",),
     "out_of_scope"),
    ("our flat is so cramped", 0.6, [{"name": "ask_causes", "confidence": 0.3}], (),
     "out_of_scope"),
])
def test_guard_doubts_an_unsure_out_of_scope_about_cramps(text: str, confidence: float,
                                                          ranking: list, labels: tuple,
                                                          expected: str) -> None:
    guard = OffTopicBodyPartGuard(OffTopicBodyPartGuard.get_default_config())
    [message] = guard.process([_out_of_scope(text, confidence, ranking, *labels)])
    assert message.get(INTENT)["name"] == expected
    assert message.get(INTENT_RANKING_KEY)[0]["name"] == expected


def test_guard_turns_an_unsure_guess_of_an_emergency_into_urgent(guard: RedFlagGuard) -> None:
    unsure = message("something odd is happening to my dad", "nlu_fallback", 0.35)
    unsure.set(INTENT_RANKING_KEY, [{"name": "nlu_fallback", "confidence": 0.35},
                                    {"name": "report_urgent_symptoms", "confidence": 0.35},
                                    {"name": "ask_causes", "confidence": 0.3}])
    [msg] = guard.process([unsure])
    assert msg.get(INTENT) == {"name": "report_urgent_symptoms", "confidence": 1.0}
    assert msg.get("red_flags") == ["classifier"]


def test_guard_leaves_an_unsure_guess_of_a_topic_alone(guard: RedFlagGuard) -> None:
    unsure = message("something odd about my cramps", "nlu_fallback", 0.35)
    unsure.set(INTENT_RANKING_KEY, [{"name": "nlu_fallback", "confidence": 0.35},
                                    {"name": "ask_causes", "confidence": 0.35},
                                    {"name": "report_urgent_symptoms", "confidence": 0.3}])
    [msg] = guard.process([unsure])
    assert msg.get(INTENT)["name"] == "nlu_fallback"
