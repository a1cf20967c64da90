"""`make check`: every problem named with its file, line and field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from tests.content.conftest import append_examples, line_of, set_field
from tools.content.check import ERROR, WARNING, Options, check, main, months_before


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--root", str(root), *args])
    return code, capsys.readouterr().out


def test_the_project_copy_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(project, capsys)
    assert code == 0, out
    assert "0 error(s)" in out and "OK" in out
    topics = len(list((project / "content/topics").glob("*.yml")))
    assert f"in {topics} topics" in out


@pytest.mark.parametrize(
    ("key", "value", "field", "problem"),
    [
        ("answer", '""', "answer", "must be non-empty text"),
        ("last_reviewed", "last spring", "last_reviewed", "YYYY-MM-DD"),
        ("id", "something_else", "id", "must equal the file name"),
        ("related", "[not_a_topic]", "related", "'not_a_topic' is not another topic id"),
    ],
)
def test_broken_topic_file_names_file_field_and_line(
    project: Path, capsys: pytest.CaptureFixture[str], key: str, value: str, field: str,
    problem: str,
) -> None:
    line = set_field(project / "content/topics/diet.yml", key, value)
    code, out = run(project, capsys)
    assert code == 1
    expected = f"content/topics/diet.yml:{line}: error: {field}: "
    assert any(row.startswith(expected) and problem in row for row in out.splitlines()), out


def test_unknown_field_and_bad_variant_point_at_their_lines(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "content/topics/diet.yml"
    path.write_text(path.read_text() + "variants:\n  teenagers: Some text.\ncolour: blue\n")
    code, out = run(project, capsys)
    assert code == 1
    # The action server's validation stops at the problem nearest the top of a file:
    # the variant for a group that does not exist, then the unknown field.
    assert f"content/topics/diet.yml:{line_of(path, 'teenagers:')}: error: " \
           "variants.teenagers: is not a known field" in out
    assert "colour" not in out
    path.write_text(path.read_text().replace("  teenagers: Some text.\n", "  pregnancy: Some.\n"))
    code, out = run(project, capsys)
    assert code == 1
    assert f"content/topics/diet.yml:{line_of(path, 'colour:')}: error: colour: " \
           "is not a known field" in out


def test_invalid_yaml_names_the_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = project / "content/topics/stretches.yml"
    lines = path.read_text().splitlines()
    lines.insert(2, "title: [unclosed")
    path.write_text("\n".join(lines) + "\n")
    code, out = run(project, capsys)
    assert code == 1
    assert "content/topics/stretches.yml:" in out and "not valid YAML" in out


def test_missing_disclaimer_is_an_error(project: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    store = project / "content/store.yml"
    text = store.read_text()
    start = text.index("disclaimer:")
    end = text.index("\n\n", start)
    store.write_text(text[:start] + 'disclaimer: ""' + text[end:])
    code, out = run(project, capsys)
    assert code == 1
    assert f"content/store.yml:{line_of(store, 'disclaimer:')}: error: disclaimer: " in out


def test_unknown_source_is_named_with_its_line(project: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = project / "content/topics/diet.yml"
    data = yaml.safe_load(path.read_text())
    sources = ", ".join([*data["sources"], "xyz"])
    text = path.read_text()
    old = next(row for row in text.splitlines() if row.startswith("sources:"))
    path.write_text(text.replace(old, f"sources:\n  - {sources.replace(', ', chr(10) + '  - ')}"))
    code, out = run(project, capsys)
    assert code == 1
    line = line_of(path, "- xyz")
    assert (f"content/topics/diet.yml:{line}: error: sources: 'xyz' is not in "
            f"content/store.yml's source list") in out.splitlines()


def test_stale_review_date_warns_but_passes(project: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    stale = months_before(dt.date.today(), 13)
    line = set_field(project / "content/topics/sciatica.yml", "last_reviewed", stale.isoformat())
    code, out = run(project, capsys)
    assert code == 0, out
    assert (f"content/topics/sciatica.yml:{line}: warning: last_reviewed: last reviewed "
            f"{stale.isoformat()}, more than 12 months ago") in out
    # The age limit is configurable.
    code, out = run(project, capsys, "--review-months", "24")
    assert "last_reviewed" not in out


def test_review_date_is_judged_by_calendar_months(project: Path) -> None:
    set_field(project / "content/topics/sciatica.yml", "last_reviewed", "2025-03-31")
    fresh = check(project, Options(today=dt.date(2026, 3, 31)))
    stale = check(project, Options(today=dt.date(2026, 4, 1)))
    def review(problems: list) -> list:
        return [p.severity for p in problems
                if p.field == "last_reviewed" and p.path.endswith("sciatica.yml")]

    assert review(fresh) == []
    assert review(stale) == [WARNING]


def test_overdue_next_review_warns_at_its_line(project: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = project / "content/topics/sciatica.yml"
    set_field(path, "last_reviewed", "2026-01-10")
    set_field(path, "reviewed_by", "project maintainers\nnext_review: 2026-06-30")
    line = line_of(path, "next_review:")
    due = [p for p in check(project, Options(today=dt.date(2026, 6, 30)))
           if p.path.endswith("sciatica.yml") and "review" in p.field]
    assert due == []  # due today is not overdue yet
    code, out = run(project, capsys, "--today", "2026-07-01")
    assert code == 0, out
    assert (f"content/topics/sciatica.yml:{line}: warning: next_review: review was due "
            f"2026-06-30 (last reviewed 2026-01-10)") in out
    # A later next_review stands in for the 12 months.
    set_field(path, "next_review", "2028-01-10")
    code, out = run(project, capsys, "--today", "2027-06-01")
    assert "sciatica.yml" not in out


def test_a_source_without_a_short_name_warns(project: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    store = project / "content/store.yml"
    line = line_of(store, "short: NINDS")
    store.write_text(store.read_text().replace("    short: NINDS\n", ""))
    code, out = run(project, capsys)
    assert code == 0, out
    assert (f"content/store.yml:{line - 2}: warning: sources.ninds: no `short` name") in out


def test_example_under_two_intents_is_an_error(project: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    nlu = project / "data/nlu/relief.yml"
    [line] = append_examples(nlu, "ask_stretches", ["What FOODS help  with night cramps?!"])
    append_examples(project / "data/nlu/triggers.yml", "ask_diet",
                    ["what foods help with night cramps"])
    code, out = run(project, capsys)
    assert code == 1
    rows = [r for r in out.splitlines() if "is also an example of" in r]
    assert len(rows) == 1, out
    assert rows[0].startswith("data/nlu/triggers.yml:")
    assert f"ask_stretches (data/nlu/relief.yml:{line})" in rows[0]


def test_near_duplicate_across_intents_warns(project: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    append_examples(project / "data/nlu/relief.yml", "ask_stretches",
                    ["which stretches stop my calves cramping every night"])
    [line] = append_examples(project / "data/nlu/triggers.yml", "ask_diet",
                             ["which stretches stop my calf cramping every night"])
    code, out = run(project, capsys)
    assert code == 0, out
    assert f"data/nlu/triggers.yml:{line}: warning: examples: " in out
    assert "is nearly the same as" in out
    # Below the threshold it is not reported.
    code, out = run(project, capsys, "--similarity", "0.99")
    assert "is nearly the same as" not in out


def test_duplicate_within_an_intent_warns(project: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    [line] = append_examples(project / "data/nlu/relief.yml", "ask_stretches",
                             ["Any stretch for a calf cramp in bed??"])
    append_examples(project / "data/nlu/relief.yml", "ask_stretches",
                    ["any stretch for a calf cramp in bed"])
    code, out = run(project, capsys)
    assert code == 0
    assert f"appears twice in ask_stretches (also data/nlu/relief.yml:{line})" in out


def test_heldout_message_in_training_is_an_error(project: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    heldout = project / "tests/heldout/nlu.yml"
    [test_line] = append_examples(heldout, "ask_about_exercise",
                                  ["my knees click when i cycle uphill at night"])
    [line] = append_examples(project / "data/nlu/triggers.yml", "ask_about_exercise",
                             ["My knees click when I cycle uphill at night."])
    code, out = run(project, capsys)
    assert code == 1
    assert (f"data/nlu/triggers.yml:{line}: error: examples: \"My knees click when I cycle "
            f"uphill at night.\" is a held-out test message (tests/heldout/nlu.yml:{test_line})"
            ) in out


def test_red_flag_phrasing_in_training_is_an_error(project: Path) -> None:
    phrasings = project / "tests/safety/red_flag_phrasings.yml"
    data = yaml.safe_load(phrasings.read_text())
    message = data["red_flags"][0]["text"]
    append_examples(project / "data/nlu/safety.yml", "report_urgent_symptoms", [message])
    errors = [p for p in check(project) if p.severity == ERROR]
    assert [p.path for p in errors] == ["data/nlu/safety.yml"]
    assert "tests/safety/red_flag_phrasings.yml:" in errors[0].message


def test_topic_needs_intent_in_domain_examples_and_rule(project: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    (project / "content/topics/footwear.yml").write_text(
        "id: footwear\ntitle: Shoes and cramps\nintent: ask_footwear\n"
        "answer: Supportive shoes may help.\nsources: [mayo_clinic]\n"
        f"last_reviewed: {dt.date.today().isoformat()}\n")
    code, out = run(project, capsys)
    assert code == 1
    prefix = "content/topics/footwear.yml:3: error: intent: 'ask_footwear' "
    assert prefix + "is not in domain.yml's intents" in out
    assert prefix + "has 0 training example(s) in data/nlu/; at least 10 are needed" in out
    assert "content/topics/footwear.yml:3: error: intent: no rule in data/rules/" in out


def test_minimum_examples_is_configurable(project: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(project, capsys, "--min-examples", "100000")
    assert code == 1
    assert out.count("at least 100000 are needed") == len(
        list((project / "content/topics").glob("*.yml")))


def test_intent_with_examples_but_not_in_domain(project: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    [line] = append_examples(project / "data/nlu/relief.yml", "ask_footwear",
                             ["do trainers help with cramp"])
    code, out = run(project, capsys)
    assert code == 1
    assert (f"data/nlu/relief.yml:{line}: error: intent: 'ask_footwear' has examples but is "
            f"not in domain.yml's intents") in out


def test_end_to_end_set_message_in_training_is_an_error(project: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    dev = project / "tests/dev/check_case.yml"
    dev.parent.mkdir(parents=True, exist_ok=True)
    dev.write_text("follow_ups:\n  - kind: pronoun\n    turns:\n"
                   "      - is magnesium any good\n      - does it clash with my warfarin pills\n"
                   "    topic: supplements\n")
    [line] = append_examples(project / "data/nlu/triggers.yml", "ask_about_supplements",
                             ["Does it clash with my warfarin pills?"])
    code, out = run(project, capsys)
    assert code == 1
    assert (f"data/nlu/triggers.yml:{line}: error: examples: \"Does it clash with my warfarin "
            f"pills?\" is a held-out test message (tests/dev/check_case.yml:5)") in out
