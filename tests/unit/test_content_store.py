"""The content store: schema, disclaimer, sources, reloading."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from nightcramps.content_store import ContentError, YamlContentStore, load_snapshot

CONTRACT_IDS = {
    "about_night_cramps", "causes", "dehydration", "electrolytes", "medications",
    "medical_conditions", "risk_factors", "pregnancy", "sciatica", "restless_legs",
    "supplements", "quick_relief", "stretches", "prevention", "diet", "treatments",
    "see_a_doctor", "diagnosis", "circulation", "exercise", "urgent_care",
}


def edit(path: Path, **changes: object) -> None:
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    # Make the change visible to the mtime check even on coarse clocks.
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))


def test_real_store_has_every_contract_id(content_copy: Path) -> None:
    store = YamlContentStore(content_copy)
    assert {e.id for e in store.entries()} == CONTRACT_IDS
    assert store.disclaimer.strip()


def test_every_entry_names_sources_from_the_store_list(content_copy: Path) -> None:
    store = YamlContentStore(content_copy)
    for entry in store.entries():
        assert entry.sources, entry.id
        assert set(entry.sources) <= set(store.sources), entry.id


def test_every_entry_answers_a_distinct_intent(content_copy: Path) -> None:
    store = YamlContentStore(content_copy)
    intents = [e.intent for e in store.entries()]
    assert len(intents) == len(set(intents))
    for entry in store.entries():
        assert store.for_intent(entry.intent) == entry


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"answer": ""}, "answer"),
        ({"answer": None}, "answer"),
        ({"sources": ["no_such_source"]}, "sources"),
        ({"sources": []}, "sources"),
        ({"last_reviewed": "last spring"}, "last_reviewed"),
        ({"related": ["not_a_topic"]}, "related"),
        ({"related": "causes"}, "related"),
        ({"variants": {"teenagers": "text"}}, "variants.teenagers"),
        ({"id": "something_else"}, "id"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_broken_topic_file_names_file_and_field(
    content_copy: Path, change: dict, field: str
) -> None:
    path = content_copy / "topics" / "diet.yml"
    edit(path, **change)
    with pytest.raises(ContentError) as caught:
        load_snapshot(content_copy)
    assert caught.value.path == path
    assert caught.value.field == field
    assert "diet.yml" in str(caught.value) and field in str(caught.value)


def test_invalid_yaml_names_the_file(content_copy: Path) -> None:
    path = content_copy / "topics" / "sciatica.yml"
    path.write_text("id: sciatica\nanswer: [unclosed\n")
    with pytest.raises(ContentError, match="sciatica.yml"):
        load_snapshot(content_copy)


@pytest.mark.parametrize("disclaimer", [None, "", "   "])
def test_store_without_disclaimer_is_refused(content_copy: Path, disclaimer: object) -> None:
    edit(content_copy / "store.yml", disclaimer=disclaimer)
    with pytest.raises(ContentError) as caught:
        YamlContentStore(content_copy)
    assert caught.value.field == "disclaimer"


def test_two_topics_claiming_one_intent_are_refused(content_copy: Path) -> None:
    edit(content_copy / "topics" / "diet.yml", intent="ask_causes")
    with pytest.raises(ContentError, match="already used"):
        load_snapshot(content_copy)


def test_answer_edit_is_served_without_restart(content_copy: Path) -> None:
    store = YamlContentStore(content_copy, reload_interval=0)
    assert "Staff edit" not in store.get("diet").answer  # type: ignore[union-attr]
    edit(content_copy / "topics" / "diet.yml", answer="Staff edit: eat well.")
    assert store.get("diet").answer == "Staff edit: eat well."  # type: ignore[union-attr]


def test_broken_edit_keeps_serving_last_good_content(content_copy: Path) -> None:
    store = YamlContentStore(content_copy, reload_interval=0)
    before = store.get("diet")
    edit(content_copy / "topics" / "diet.yml", answer=None)
    assert store.get("diet") == before
    assert store.last_error is not None and store.last_error.field == "answer"
    edit(content_copy / "topics" / "diet.yml", answer="Fixed again.")
    assert store.get("diet").answer == "Fixed again."  # type: ignore[union-attr]
    assert store.last_error is None


def test_new_topic_file_appears_after_reload(content_copy: Path) -> None:
    store = YamlContentStore(content_copy, reload_interval=0)
    new = content_copy / "topics" / "sleep_position.yml"
    new.write_text(yaml.safe_dump({
        "id": "sleep_position", "title": "Sleep position", "intent": "ask_sleep_position",
        "answer": "Some text.", "sources": ["pain_clinic_page"], "last_reviewed": "2026-11-01",
        "related": ["prevention"],
    }))
    assert store.for_intent("ask_sleep_position") is not None


def test_groups_map_user_words_to_ids(content_copy: Path) -> None:
    store = YamlContentStore(content_copy)
    assert store.group_for("Pregnant") == "pregnancy"
    assert store.group_for("elderly") == "older_adults"
    assert store.group_for("bananas") is None
    assert store.topic_for_group("pregnancy") == "pregnancy"


def test_variant_is_appended_for_its_group(content_copy: Path) -> None:
    store = YamlContentStore(content_copy)
    entry = store.get("supplements")
    assert entry is not None and "pregnancy" in entry.variants
    assert entry.text_for("pregnancy").startswith(entry.answer)
    assert entry.variants["pregnancy"] in entry.text_for("pregnancy")
    assert entry.text_for("athletes") == entry.answer


def test_named_terms_lead_to_topics(content_copy: Path) -> None:
    store = YamlContentStore(content_copy)
    assert store.topic_for_term("medication", "Statins") == "medications"
    assert store.topic_for_term("mineral", "magnesium") == "supplements"
    assert store.topic_for_term("condition", "diabetes") == "medical_conditions"
    assert store.topic_for_term("body_part", "calf") is None
    assert store.topic_for_term("medication", "bananas") is None


def test_a_terms_own_topic_overrides_its_labels(content_copy: Path) -> None:
    vocabulary = content_copy / "vocabulary.yml"
    data = yaml.safe_load(vocabulary.read_text())
    data["condition"]["sciatica"]["topic"] = "sciatica"
    vocabulary.write_text(yaml.safe_dump(data))
    store = YamlContentStore(content_copy)
    assert store.topic_for_term("condition", "slipped disc") == "sciatica"


def test_a_term_topic_must_exist(content_copy: Path) -> None:
    vocabulary = content_copy / "vocabulary.yml"
    data = yaml.safe_load(vocabulary.read_text())
    data["medication"]["statins"]["topic"] = "no_such_topic"
    vocabulary.write_text(yaml.safe_dump(data))
    with pytest.raises(ContentError, match=r"medication\.statins\.topic"):
        YamlContentStore(content_copy)


def test_an_error_names_the_line_of_the_field(content_copy: Path) -> None:
    path = content_copy / "topics" / "diet.yml"
    lines = path.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.startswith("last_reviewed:"))
    lines[line - 1] = "last_reviewed: some day"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ContentError) as caught:
        load_snapshot(content_copy)
    assert caught.value.line == line and caught.value.field == "last_reviewed"
    assert f"diet.yml:{line}: field 'last_reviewed'" in str(caught.value)


def test_an_error_in_a_list_names_the_items_line(content_copy: Path) -> None:
    path = content_copy / "topics" / "diet.yml"
    data = yaml.safe_load(path.read_text())
    data["sources"] = [*data["sources"], "made_up_source"]
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    line = path.read_text().splitlines().index("- made_up_source") + 1
    with pytest.raises(ContentError, match="'made_up_source' is not in store.yml") as caught:
        load_snapshot(content_copy)
    assert (caught.value.field, caught.value.line) == ("sources", line)


def test_a_vocabulary_error_names_label_term_and_line(content_copy: Path) -> None:
    vocabulary = content_copy / "vocabulary.yml"
    vocabulary.write_text("group:\n  pregnancy:\n    synonyms: [pregnant]\n"
                          "mineral:\n  magnesium:\n    synonyms:\n      - magnesium\n      - 7\n")
    with pytest.raises(ContentError) as caught:
        YamlContentStore(content_copy)
    assert (caught.value.field, caught.value.line) == ("mineral.magnesium.synonyms", 8)
    assert "must be non-empty text" in caught.value.problem
