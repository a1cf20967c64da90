"""The staff report: charts, confused examples, comparison with the published model."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, Dict

import pytest

from tools.content import evaluation, scoring
from tools.content.manifest import Manifest
from tools.content.report import CONFUSION_CHART, F1_CHART, main, write_report

PNG = b"\x89PNG\r\n\x1a\n"
TOPICS = ["ask_diet", "ask_stretches", "ask_quick_relief"]
HELDOUT = [
    ("what should i eat", "ask_diet"),
    ("are bananas & milk good for cramps?", "ask_diet"),
    ("best calf stretch", "ask_stretches"),
    ("stretch before bed?", "ask_stretches"),
    ("stop a cramp now", "ask_quick_relief"),
    ("what's the weather", "out_of_scope"),
    ("my calf is swollen hot and red", "report_urgent_symptoms"),
]
PREDICTED = ["ask_diet", "ask_stretches", "ask_stretches", "ask_quick_relief",
             "ask_quick_relief", "nlu_fallback", "report_urgent_symptoms"]
CONFIDENCE = [0.9, 0.81, 0.95, 0.62, 0.88, 0.3, 1.0]
PHRASINGS = ["one leg swollen and red", "chest pain and breathless"]
PHRASING_PREDICTIONS = ["report_urgent_symptoms", "ask_causes"]


def results() -> Dict[str, Any]:
    """An evaluation as tools/benchmark.py writes it, from the shared scoring."""
    texts = [t for t, _ in HELDOUT]
    labels = [y for _, y in HELDOUT]
    ours = scoring.score_system(texts, labels, TOPICS, PHRASINGS,
                                  [*PREDICTED, *PHRASING_PREDICTIONS], [*CONFIDENCE, 0.9, 0.7])
    stock = scoring.score_system(texts, labels, TOPICS, PHRASINGS, [*labels, "x", "y"])
    return {"heldout_messages": len(texts), "training_examples": 42,
            "heldout": [{"text": t, "label": y} for t, y in HELDOUT],
            "systems": {"ours": ours, "stock_rasa_init": stock},
            "failures": ["red-flag phrasings recall 0.500"], "model_sha256": "ab" * 32,
            "model_file": "models/night-cramps.tar.gz"}


def publish_fake_model(root: Path, figures: Dict[str, Any], cache: bool = True) -> str:
    """Records a published model (a stand-in file) and, optionally, its cached figures."""
    manifest = Manifest.load(root)
    name = "20260101T000000Z-000000000000.tar.gz"
    model = manifest.model_path(name)
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(b"a published model")
    sha = evaluation.sha256_file(model)
    record = {"model_sha256": sha, "dataset_sha256": evaluation.dataset_digest(root),
              "misclassified": [], "red_flag_phrasings_missed": [], **figures}
    if cache:
        evaluation.save(record, root)
    manifest.models[name] = {"file": name, "sha256": sha, "published_at": "2026-01-01T00:00:00",
                             "evaluation": evaluation.summary(record)}
    manifest.stack.append(name)
    manifest.save()
    return name


def assert_self_contained_and_accessible(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and '<html lang="en">' in page
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    images = re.findall(r"<img [^>]*>", page)
    assert images and all(re.search(r'alt="[^"]{20,}"', img) for img in images)
    assert "<h1>" in page and page.count("<h2>") >= 5
    assert '<th scope="col">' in page and "<caption>" in page


def test_report_has_charts_mistakes_red_flags_and_comparison(project: Path,
                                                             tmp_path: Path) -> None:
    published = publish_fake_model(project, {
        "overall_accuracy": 0.9, "topic_accuracy": 0.8, "oos_rejection": 1.0,
        "red_flag_recall": 1.0, "red_flag_phrasings_recall": 1.0,
        "per_topic_f1": {"ask_diet": 1.0, "ask_stretches": 0.4, "ask_quick_relief": 0.8}})
    out = tmp_path / "reports"
    index = write_report(results(), out, project, evaluate_published=False)
    assert index == out / "index.html"
    for chart in (F1_CHART, CONFUSION_CHART):
        data = (out / chart).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000
        assert f'src="{chart}"' in index.read_text()
    page = index.read_text()
    assert_self_contained_and_accessible(page)
    # The most confused messages, with what was expected and what was understood.
    mistakes = page[page.index("Messages the assistant got wrong"):]
    assert html.escape("are bananas & milk good for cramps?") in mistakes
    assert "stretch before bed?" in mistakes and "best calf stretch" not in mistakes
    assert mistakes.index("bananas") < mistakes.index("stretch before bed?")  # surest first
    assert "Foods and drinks that may help" in mistakes  # the topic's title from content/
    # Red flags: the recall and the missed phrasing.
    assert "Urgent warning signs (red flags)" in page
    assert "chest pain and breathless" in page and "50.0%" in page
    # Topic by topic against the published model.
    comparison = page[page.index("Compared with the published model"):
                      page.index("How well each topic is recognised")]
    assert published in comparison
    assert "measured on today" in comparison
    diet = comparison[comparison.index("<code>ask_diet</code>"):]
    assert "1.000" in diet[:400] and "worse by" in diet[:400]
    stretches = comparison[comparison.index("<code>ask_stretches</code>"):]
    assert "better by" in stretches[:400]
    assert "Some targets were missed" in page and "red-flag phrasings recall 0.500" in page


def test_report_says_when_nothing_is_published(project: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "benchmark.json"
    saved.write_text(json.dumps({"accuracy": results()}))
    assert main(["--results", str(saved), "--out", str(tmp_path / "r"),
                 "--root", str(project)]) == 0
    page = (tmp_path / "r" / "index.html").read_text()
    assert "No model has been published yet" in page
    assert_self_contained_and_accessible(page)


def test_report_falls_back_to_figures_recorded_at_publish_time(project: Path,
                                                               tmp_path: Path) -> None:
    name = publish_fake_model(project, {"overall_accuracy": 0.5, "per_topic_f1": {
        "ask_diet": 0.25}}, cache=False)
    (Manifest.load(project).model_path(name)).unlink()  # the model file is gone
    page = write_report(results(), tmp_path / "r", project, evaluate_published=False).read_text()
    assert "figures recorded when it was published" in page
    assert "0.250" in page


CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.skipif(not (CHROMIUM.exists() and AXE.exists()),
                    reason="needs Debian's chromium and axe-core (make browser-tests installs them)")
def test_report_has_no_axe_violations(project: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    publish_fake_model(project, {"overall_accuracy": 0.9, "per_topic_f1": {"ask_diet": 0.5}})
    index = write_report(results(), tmp_path / "r", project, evaluate_published=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(index.as_uri())
            page.add_script_tag(content=AXE.read_text())
            violations = page.evaluate(
                "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', "
                "'best-practice']})).violations.map(v => v.id + ': ' + v.help)")
        finally:
            browser.close()
    assert violations == []


def test_report_shows_the_blind_and_dev_figures_beside_their_targets(project: Path,
                                                                    tmp_path: Path) -> None:
    evaluation_results = results()
    evaluation_results["end_to_end"] = [
        {"name": "tests/blind/set_2.yml", "blind": True, "counts": {"single_turn": 340},
         "figures": {"topic_accuracy": 0.862, "false_urgent_rate": 0.003}, "misses": []},
        {"name": "tests/dev/set_1.yml", "blind": False, "counts": {"single_turn": 220},
         "figures": {"topic_accuracy": 0.846, "false_urgent_rate": 0.0}, "misses": []},
    ]
    evaluation_results["end_to_end_targets"] = {"topic_accuracy": 0.95, "false_urgent_rate": 0.01}
    evaluation_results["end_to_end_gates"] = {"topic_accuracy": 0.84}
    page = write_report(evaluation_results, tmp_path / "reports", project,
                        evaluate_published=False).read_text()
    assert "Messages nobody wrote down, end to end" in page
    assert "Blind: tests/blind/set_2.yml" in page and "Dev: tests/dev/set_1.yml" in page
    row = re.search(r"Questions answered with the right topic</th>(.*?)</tr>", page, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert "≥ 95" in html.unescape(cells[0]) and "≥ 84" in html.unescape(cells[1])
    assert "86" in cells[2] and "(below target)" in cells[2]
    urgent = re.search(r"wrongly given urgent care</th>(.*?)</tr>", page, re.S)
    assert urgent is not None and "(below target)" not in urgent.group(1)
