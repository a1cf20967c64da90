"""The evaluation report for content staff: `reports/index.html` plus two charts.

`make evaluate` writes it (tools/benchmark.py --accuracy --report reports) from
the evaluation it has just run; it can be rebuilt from the last results with

    python -m tools.content.report [--results results/benchmark.json] [--out reports]

The page is plain HTML, rendered from the Jinja2 template
templates/report.html.j2 (autoescaped), with the charts as PNG files beside it:
no scripts, no fonts or styles from elsewhere, so it opens from disk in any
browser. It shows the headline figures against their targets, red-flag recall,
the difference from the currently published model topic by topic, a per-topic F1
chart, a confusion matrix, the held-out messages the model got wrong and the
baselines' last recorded figures.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jinja2

from nightcramps.contract import FALLBACK_INTENT, OUT_OF_SCOPE_INTENT
from tools.baselines import SYSTEM_NAMES
from tools.content import evaluation
from tools.content.charts import confusion_chart, f1_chart
from tools.content.intent_names import Names
from tools.content.manifest import Manifest
from tools.content.scoring import TARGETS as MODEL_TARGETS
from tools.content.topics import topic_titles

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "report.html.j2"
F1_CHART = "per_topic_f1.png"
CONFUSION_CHART = "confusion_matrix.png"
HEADLINES: Tuple[Tuple[str, str, str], ...] = (
    ("topic_accuracy", "Topic questions given the right answer", "at least 95%"),
    ("overall_accuracy", "All test messages handled correctly",
     "better than both simple baselines"),
    ("oos_rejection", "Off-topic messages politely declined", "at least 90%"),
    ("red_flag_recall", "Urgent warning signs recognised (test messages)", "100%"),
    ("red_flag_phrasings_recall", "Urgent warning signs recognised (red-flag list)", "100%"),
)
TARGETS = {**MODEL_TARGETS, "red_flag_phrasings_recall": 1.0}
END_TO_END_LABELS = {
    "topic_accuracy": "Questions answered with the right topic",
    "did_you_mean_rate": "Questions answered with \"did you mean\" buttons",
    "did_you_mean_right_topic": "... with the right topic among the buttons",
    "follow_up_accuracy": "Follow-up conversations ending on the right topic",
    "oos_rejection": "Off-topic messages declined",
    "near_miss_rejection": "... of them, near misses declined",
    "red_flag_recall": "Urgent warning signs given urgent care",
    "false_urgent_rate": "Ordinary questions wrongly given urgent care",
}
LOWER_IS_BETTER = frozenset({"did_you_mean_rate", "false_urgent_rate"})


def percent(value: Optional[float]) -> str:
    """0.9683 -> '96.8%'; None or NaN -> 'n/a'."""
    if value is None or value != value:  # NaN: nothing to measure
        return "n/a"
    return f"{100 * value:.1f}%"


# -- the published model ------------------------------------------------------------------


def published_figures(root: Path, evaluate: bool = True
                      ) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]], str]:
    """The published model's manifest entry, its figures and a note on where they come from.

    The figures are those of the published model on today's test data (evaluated
    now if needed); if that is impossible, the figures recorded when it was published.
    """
    manifest = Manifest.load(root)
    entry = manifest.current_entry()
    if entry is None:
        return None, None, ""
    path = manifest.model_path(entry["file"])
    if path.exists():
        try:
            record = evaluation.latest(path, root, evaluate=evaluate,
                                       model_sha256=entry.get("sha256"))
        except Exception as error:
            print(f"Could not evaluate the published model {path}: {error}")
            record = None
        if record is not None:
            return entry, evaluation.summary(record), "measured on today's test messages"
    recorded = entry.get("evaluation")
    note = ("figures recorded when it was published"
            + ("" if recorded is None or recorded.get("dataset_sha256")
               == evaluation.dataset_digest(root) else
               ", on the test messages of that day (they have changed since)"))
    return entry, recorded, note


# -- what the page shows ------------------------------------------------------------------


def headline_rows(ours: Dict[str, Any], baselines: Optional[Dict[str, Any]]
                  ) -> List[Dict[str, Any]]:
    """The headline figures, each with its target and whether it is met.

    Args:
        ours: This model's figures.
        baselines: `baselines_view`, for "better than both simple baselines".
    """
    others: List[Dict[str, Any]] = baselines["others"] if baselines else []
    rows = []
    for key, label, target in HEADLINES:
        value = ours.get(key)
        if key in TARGETS:
            met = value is not None and value >= TARGETS[key]
        else:
            met = value is not None and all(value > s.get(key, 0.0) for s in others)
            if baselines and not baselines["measured_now"]:
                target += (f" (their figures of {baselines['measured_on']}; "
                           f"checked by {baselines['command']})")
        rows.append({"key": key, "label": label, "target": target, "value": value, "met": met})
    return rows


def end_to_end_table(results: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The blind and dev sets' figures beside their targets and gates (None: no sets)."""
    sets: List[Dict[str, Any]] = results.get("end_to_end") or []
    if not sets:
        return None
    targets: Dict[str, float] = results.get("end_to_end_targets") or {}
    gates: Dict[str, float] = results.get("end_to_end_gates") or {}
    rows = []
    for figure, label in END_TO_END_LABELS.items():
        lower = figure in LOWER_IS_BETTER
        sign = "≤ " if lower else "≥ "
        cells = []
        for result in sets:
            value = result["figures"].get(figure)
            met = figure not in targets or (value is not None and value == value and (
                value <= targets[figure] if lower else value >= targets[figure]))
            cells.append({"value": value, "met": met})
        rows.append({"label": label,
                     "target": sign + percent(targets[figure]) if figure in targets else "",
                     "gate": sign + percent(gates[figure]) if figure in gates else "",
                     "cells": cells})
    counts = "; ".join(f"{s['name']}: " + ", ".join(f"{v} {k.replace('_', ' ')}"
                                                    for k, v in s["counts"].items())
                       for s in sets)
    return {"set_names": [("Blind: " if s["blind"] else "Dev: ") + s["name"] for s in sets],
            "rows": rows, "counts": counts}


def published_view(ours: Dict[str, Any], entry: Optional[Dict[str, Any]],
                   figures: Optional[Dict[str, Any]], note: str, names: Names,
                   model_sha256: Optional[str]) -> Dict[str, Any]:
    """The published model's entry and figures, and the topics by change (biggest drops first)."""
    before: Dict[str, float] = (figures or {}).get("per_topic_f1", {})
    now: Dict[str, float] = ours.get("per_topic_f1", {})
    topics = sorted(set(before) | set(now),
                    key=lambda t: ((now.get(t) or 0) - (before.get(t) or 0), names(t)))
    return {"entry": entry, "figures": figures, "note": note, "f1": before, "topics": topics,
            "same": entry is not None and model_sha256 is not None
            and entry.get("sha256") == model_sha256}


def mix_ups(labels: Sequence[str], predictions: Sequence[str]
            ) -> List[Tuple[Tuple[str, str], int]]:
    """The 15 most frequent (really about, understood as) mix-ups with their counts."""
    pairs = Counter((y, p) for y, p in zip(labels, predictions, strict=True)
                    if y != p and not (y == OUT_OF_SCOPE_INTENT and p == FALLBACK_INTENT))
    return pairs.most_common(15)


def baselines_view(results: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The baselines beside this model: measured in this run, else as last recorded."""
    systems: Dict[str, Dict[str, Any]] = results.get("systems", {})
    recorded: Optional[Dict[str, Any]] = results.get("baselines")
    measured_now = len(systems) > 1
    if not measured_now and not recorded:
        return None
    shown = systems if measured_now else {
        **(recorded or {}).get("systems", {}), "ours": systems.get("ours", {})}
    order = [name for name in SYSTEM_NAMES if name in shown]
    order += [name for name in shown if name not in SYSTEM_NAMES]
    return {"measured_now": measured_now,
            "measured_on": (recorded or {}).get("measured_on"),
            "command": (recorded or {}).get("command", "make benchmark"),
            "others": [shown[name] for name in order if name != "ours"],
            "systems": [{"name": SYSTEM_NAMES.get(name, name),
                         "overall_accuracy": shown[name].get("overall_accuracy"),
                         "topic_accuracy": shown[name].get("topic_accuracy")}
                        for name in order]}


# -- the page -----------------------------------------------------------------------------


def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report's templates (autoescaped HTML)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("tools.content", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.filters["percent"] = percent
    return env


def write_report(results: Dict[str, Any], out_dir: Path, root: Path = ROOT,
                 evaluate_published: bool = True) -> Path:
    """Writes `out_dir/index.html` and its two charts from an accuracy evaluation.

    Args:
        results: The `accuracy` part of results/benchmark.json.
        out_dir: The report's folder (created if needed).
        root: The project folder (content, test data, published models).
        evaluate_published: Whether to evaluate the published model if its figures
            on today's test data are not cached yet.

    Returns:
        The path of index.html.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    ours: Dict[str, Any] = results["systems"]["ours"]
    names = Names(topic_titles(root / "content"))
    heldout: List[Dict[str, str]] = results.get("heldout", [])
    labels = [item["label"] for item in heldout]
    predictions: List[str] = ours.get("predictions", [])
    entry, published, note = published_figures(root, evaluate_published)
    model_sha256: Optional[str] = results.get("model_sha256")
    f1: Dict[str, float] = ours.get("per_topic_f1", {})
    f1_alt = f1_chart(out_dir / F1_CHART, f1,
                      published.get("per_topic_f1") if published else None, names)
    confusion = None
    if labels and len(labels) == len(predictions):
        confusion = {"chart": CONFUSION_CHART, "pairs": mix_ups(labels, predictions),
                     "alt": confusion_chart(out_dir / CONFUSION_CHART, labels, predictions,
                                            names)}
    baselines = baselines_view(results)
    page = environment().get_template(TEMPLATE).render(
        names=names, ours=ours, f1=f1, f1_chart=F1_CHART, f1_alt=f1_alt,
        f1_order=sorted(f1, key=lambda t: (f1[t], names(t))),
        model_file=results.get("model_file", "models/night-cramps.tar.gz"),
        model_sha256=model_sha256,
        heldout_count=len(labels) or results.get("heldout_messages", "?"),
        training_examples=results.get("training_examples", "?"),
        failures=results.get("failures") or [],
        headlines=headline_rows(ours, baselines),
        end_to_end=end_to_end_table(results),
        red_flag_misses=evaluation.red_flag_misses(ours),
        published=published_view(ours, entry, published, note, names, model_sha256),
        mistakes=sorted(ours.get("misclassified", []),
                        key=lambda m: -float(m.get("confidence") or 0)),
        confusion=confusion, baselines=baselines)
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def main(argv: Optional[List[str]] = None) -> int:
    """Rebuilds the report from the last `make evaluate` results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "benchmark.json")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder")
    args = parser.parse_args(argv)
    data = json.loads(args.results.read_text())
    results = data.get("accuracy", data)
    print(f"Report written: {write_report(results, args.out, args.root.resolve())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
