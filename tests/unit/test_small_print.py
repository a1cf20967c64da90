"""The small print under store answers (sources line, review date) and the review fields."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from connectors.rest_output import RestOutput
from nightcramps.content_store import (
    ContentError,
    Entry,
    Source,
    YamlContentStore,
    add_months,
    load_snapshot,
)
from nightcramps.small_print import SmallPrint, reviewed_label, sources_line

SOURCES = {
    "nhs_cramps": Source("nhs_cramps", "NHS page on leg cramps", short="NHS"),
    "nhs_sleep": Source("nhs_sleep", "NHS page on sleep", short="NHS"),
    "mayo": Source("mayo", "Mayo Clinic", short="Mayo Clinic"),
    "ninds": Source("ninds", "National Institute of Neurological Disorders and Stroke",
                    short="NINDS"),
    "blog": Source("blog", "A sleep blog"),  # no short name: the name is shown
    "faq": Source("faq", "FAQ", short="FAQ page"),
}


def entry(*sources: str, reviewed: dt.date = dt.date(2026, 11, 21)) -> Entry:
    return Entry("diet", "Diet", "ask_diet", "Eat well.", tuple(sources), reviewed)


def edit_topic(content: Path, topic: str, **changes: Any) -> Path:
    path = content / "topics" / f"{topic}.yml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("sources", "line"),
    [
        (["mayo"], "Source: Mayo Clinic · Reviewed Nov 2026"),
        (["nhs_cramps", "mayo"], "Sources: NHS, Mayo Clinic · Reviewed Nov 2026"),
        # Two NHS pages are one name; the order is the topic's.
        (["nhs_cramps", "nhs_sleep", "mayo", "ninds"],
         "Sources: NHS, Mayo Clinic, NINDS · Reviewed Nov 2026"),
        (["ninds", "nhs_cramps", "mayo", "blog", "faq"],
         "Sources: NINDS, NHS, Mayo Clinic +2 more · Reviewed Nov 2026"),
        (["blog"], "Source: A sleep blog · Reviewed Nov 2026"),
    ],
)
def test_sources_line(sources: List[str], line: str) -> None:
    assert sources_line(entry(*sources), SOURCES) == line


def test_review_month_is_english_whatever_the_locale() -> None:
    assert [reviewed_label(dt.date(2026, month, 1))[9:12] for month in range(1, 13)] == [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    assert sources_line(entry("mayo", reviewed=dt.date(2027, 1, 31)), SOURCES).endswith(
        " · Reviewed Jan 2027")


def test_small_print_goes_in_the_text_and_comes_back_off_it() -> None:
    small = SmallPrint("Not medical advice.", "Source: NHS · Reviewed Nov 2026")
    text = small.append_to("Drink water.\n\nStretch.")
    assert text == "Drink water.\n\nStretch.\n\nNot medical advice.\nSource: NHS · Reviewed Nov 2026"
    assert small.body_of(text) == "Drink water.\n\nStretch."
    assert small.body_of("Drink water.\n\nNot medical advice.") is None
    assert SmallPrint("Not medical advice.").append_to("List") == "List\n\nNot medical advice."


@pytest.mark.parametrize("metadata", [{}, {"small_print": "text"}, {"small_print": {}},
                                      {"small_print": {"disclaimer": " "}},
                                      {"small_print": {"disclaimer": "D", "sources": 3}}])
def test_malformed_small_print_is_none(metadata: Dict[str, Any]) -> None:
    assert SmallPrint.from_metadata(metadata) is None


def test_metadata_round_trip() -> None:
    for small in (SmallPrint("D", "Sources: A, B · Reviewed Nov 2026"), SmallPrint("D")):
        assert SmallPrint.from_metadata(small.as_metadata()) == small
    assert SmallPrint("D").as_metadata() == {"small_print": {"disclaimer": "D"}}


def test_every_topic_of_the_store_has_a_short_sources_line(content_copy: Path) -> None:
    store = YamlContentStore(content_copy)
    for topic in store.entries():
        line = sources_line(topic, store.sources)
        assert line.startswith("Source") and " · Reviewed " in line, topic.id
        assert len(line) <= 100, (topic.id, line)
    assert all(source.short for source in store.sources.values())


@pytest.mark.parametrize(("day", "months", "expected"), [
    (dt.date(2026, 11, 21), 12, dt.date(2027, 11, 21)),
    (dt.date(2024, 2, 29), 12, dt.date(2025, 2, 28)),
    (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 28)),
    (dt.date(2026, 3, 31), -1, dt.date(2026, 2, 28)),
    (dt.date(2026, 12, 1), -12, dt.date(2025, 12, 1)),
])
def test_add_months(day: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(day, months) == expected


def test_review_fields(content_copy: Path) -> None:
    store = YamlContentStore(content_copy, reload_interval=0)
    diet = store.get("diet")
    assert diet is not None
    assert diet.reviewed_by == "project maintainers"
    # No next_review in the file: due 12 months after the last review.
    assert diet.next_review == add_months(diet.last_reviewed, 12)
    assert not diet.review_overdue(diet.next_review)
    assert diet.review_overdue(diet.next_review + dt.timedelta(days=1))

    edit_topic(content_copy, "diet", next_review="2027-03-01", reviewed_by="Dr A. Example")
    snapshot = load_snapshot(content_copy)
    assert snapshot.entries["diet"].next_review == dt.date(2027, 3, 1)
    assert snapshot.entries["diet"].reviewed_by == "Dr A. Example"


@pytest.mark.parametrize(("change", "field"), [
    ({"next_review": "2020-01-01"}, "next_review"),
    ({"next_review": "soon"}, "next_review"),
    ({"reviewed_by": ""}, "reviewed_by"),
    ({"reviewed_by": 42}, "reviewed_by"),
])
def test_broken_review_fields_name_the_field(content_copy: Path, change: Dict[str, Any],
                                             field: str) -> None:
    path = edit_topic(content_copy, "diet", **change)
    with pytest.raises(ContentError) as caught:
        load_snapshot(content_copy)
    assert (caught.value.path, caught.value.field) == (path, field)


@pytest.mark.parametrize("short", ["A name longer than twenty-four characters", "NHS, UK"])
def test_a_short_name_must_be_short_and_without_commas(content_copy: Path, short: str) -> None:
    path = content_copy / "store.yml"
    data = yaml.safe_load(path.read_text())
    data["sources"]["mayo_clinic"]["short"] = short
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ContentError) as caught:
        load_snapshot(content_copy)
    assert caught.value.field == "sources.mayo_clinic.short"


async def test_rest_output_keeps_a_store_answer_and_its_small_print_in_one_message() -> None:
    small = SmallPrint("Not medical advice.", "Source: NHS · Reviewed Nov 2026")
    output = RestOutput()
    await output.send_response("u1", {"text": small.append_to("One.\n\nTwo."),
                                      **small.as_metadata()})
    assert output.messages == [{"recipient_id": "u1", "text": "One.\n\nTwo.",
                                "custom": small.as_metadata()}]


async def test_rest_output_sends_other_messages_as_rasa_does() -> None:
    small = SmallPrint("Not medical advice.")
    output = RestOutput()
    # No small print: one message per paragraph, as Rasa's REST channel.
    await output.send_response("u1", {"text": "One.\n\nTwo."})
    # A text that does not end with the small print it names keeps its own text.
    await output.send_response("u1", {"text": "Three.\n\nNot medical", **small.as_metadata()})
    await output.send_response("u1", {"text": "Pick", "buttons": [{"title": "A", "payload": "/a"}]})
    assert [m.get("text") for m in output.messages] == ["One.", "Two.", "Three.", "Not medical",
                                                        "Pick"]
    assert not any("custom" in m for m in output.messages)
