"""The staff report's page: rendered from its Jinja2 template, escaped, with the baselines."""

from __future__ import annotations

import datetime as dt
import html
import importlib.resources
import re
from pathlib import Path
from typing import Any, Dict

from tools import baselines
from tools.content import report, scoring

TOPICS = ["ask_diet", "ask_stretches"]
HELDOUT = [("what should i eat", "ask_diet"), ("<script>alert(1)</script> & stretch", "ask_stretches"),
           ("what's the weather", "out_of_scope")]
PREDICTED = ["ask_diet", "ask_diet", "nlu_fallback"]


def results(**extra: Any) -> Dict[str, Any]:
    texts = [t for t, _ in HELDOUT]
    labels = [y for _, y in HELDOUT]
    ours = scoring.score_system(texts, labels, TOPICS, ["leg hot and swollen"],
                                [*PREDICTED, "report_urgent_symptoms"], [0.9, 0.8, 0.3, 1.0])
    return {"heldout_messages": 3, "training_examples": 10, "failures": [],
            "heldout": [{"text": t, "label": y} for t, y in HELDOUT],
            "systems": {"ours": ours}, **extra}


def recorded(stock_overall: float) -> Dict[str, Any]:
    figures = {"topic_accuracy": 0.5, "overall_accuracy": stock_overall, "oos_rejection": 0.5,
               "red_flag_recall": 1.0, "red_flag_phrasings_recall": 0.5}
    record = baselines.make_record({"ours": figures, "stock_rasa_init": figures,
                                    "tfidf_nearest_neighbour": {**figures,
                                                                "overall_accuracy": 0.1}},
                                   3, 10, measured_on=dt.date(2026, 12, 1))
    return dict(record.dict(), measured_on="2026-12-01")


def section(page: str, title: str) -> str:
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start:end if end > 0 else None]


def test_the_template_ships_with_the_package() -> None:
    templates = importlib.resources.files("tools.content") / "templates"
    assert (templates / report.TEMPLATE).is_file()
    assert report.environment().autoescape is True


def test_messages_are_escaped(content_copy: Path, tmp_path: Path) -> None:
    page = report.write_report(results(), tmp_path / "r", content_copy.parent,
                               evaluate_published=False).read_text()
    assert "<script" not in page
    assert html.escape("<script>alert(1)</script> & stretch", quote=False) in page


def test_recorded_baselines_are_shown_with_their_date_and_command(content_copy: Path,
                                                                  tmp_path: Path) -> None:
    page = report.write_report(results(baselines=recorded(0.4)), tmp_path / "r",
                               content_copy.parent, evaluate_published=False).read_text()
    shown = section(page, "Compared with simple baselines")
    assert "2026-12-01" in shown and "<code>make benchmark</code>" in shown
    assert "Rasa&#39;s standard settings" in shown or "Rasa's standard settings" in shown
    assert "40.0%" in shown and "10.0%" in shown
    # This model's own figure is today's (2 of 3 right), not the recorded one.
    assert re.search(r"This assistant</th><td class=\"num\">66\.7%", shown)
    overall = re.search(r"All test messages handled correctly</th>(.*?)</tr>", page, re.S)
    assert overall is not None and "met" in overall.group(1) and "MISSED" not in overall.group(1)
    assert "their figures of 2026-12-01; checked by make benchmark" in overall.group(1)


def test_beating_the_recorded_baselines_is_judged_against_them(content_copy: Path,
                                                               tmp_path: Path) -> None:
    page = report.write_report(results(baselines=recorded(0.9)), tmp_path / "r",
                               content_copy.parent, evaluate_published=False).read_text()
    overall = re.search(r"All test messages handled correctly</th>(.*?)</tr>", page, re.S)
    assert overall is not None and "MISSED" in overall.group(1)


def test_no_baseline_section_without_figures(content_copy: Path, tmp_path: Path) -> None:
    page = report.write_report(results(), tmp_path / "r", content_copy.parent,
                               evaluate_published=False).read_text()
    assert "Compared with simple baselines" not in page
    assert page.count("<table>") == page.count("</table>") >= 4
