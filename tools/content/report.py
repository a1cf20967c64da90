"""The evaluation report for content staff: `reports/index.html` plus two charts.

`make evaluate` writes it (tools/benchmark.py --accuracy --report reports) from
the evaluation it has just run; it can be rebuilt from the last results with

    python -m tools.content.report [--results results/benchmark.json] [--out reports]

The page is plain HTML with the charts as PNG files beside it: no scripts, no
fonts or styles from elsewhere, so it opens from disk in any browser. It shows
the headline figures against their targets, red-flag recall, the difference from
the currently published model topic by topic, a per-topic F1 chart, a confusion
matrix and the held-out messages the model got wrong.
"""

from __future__ import annotations

import argparse
import html
import json
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tools.content import evaluation
from tools.content.manifest import Manifest

ROOT = Path(__file__).resolve().parents[2]
F1_CHART = "per_topic_f1.png"
CONFUSION_CHART = "confusion_matrix.png"
NOW_COLOUR = "#0072B2"  # blue and orange: told apart with colour-blindness too
PUBLISHED_COLOUR = "#E69F00"
OTHER_NAMES = {
    "out_of_scope": "Off-topic question",
    "nlu_fallback": "Unsure (offers topic buttons)",
    "report_urgent_symptoms": "Urgent warning signs (red flag)",
    "request_dose_or_diagnosis": "Asks for a dose or diagnosis",
    "greet": "Greeting",
    "goodbye": "Goodbye",
    "thank": "Thanks",
    "ask_if_bot": "Asks if it is a bot",
    "ask_what_can_i_ask": "Asks what it can answer",
    "request_human": "Asks for a person",
    "ask_about_group": "Follow-up about a group (e.g. pregnancy)",
    "ask_follow_up": "Follow-up that points back (e.g. \"is it safe?\")",
    "ask_more": "Asks for more",
    "": "(nothing)",
}
HEADLINES: Tuple[Tuple[str, str, str], ...] = (
    ("topic_accuracy", "Topic questions given the right answer", "at least 95%"),
    ("overall_accuracy", "All test messages handled correctly",
     "better than both simple baselines"),
    ("oos_rejection", "Off-topic messages politely declined", "at least 90%"),
    ("red_flag_recall", "Urgent warning signs recognised (test messages)", "100%"),
    ("red_flag_phrasings_recall", "Urgent warning signs recognised (red-flag list)", "100%"),
)
TARGETS = {"topic_accuracy": 0.95, "oos_rejection": 0.90, "red_flag_recall": 1.0,
           "red_flag_phrasings_recall": 1.0}
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
STYLE = """
body { font-family: system-ui, sans-serif; line-height: 1.5; margin: 0 auto;
       max-width: 70rem; padding: 1rem 2rem; color: #1a1a1a; background: #fff; }
table { border-collapse: collapse; margin: 1rem 0; }
caption { text-align: left; font-weight: bold; padding: 0.25rem 0; }
th, td { border: 1px solid #888; padding: 0.3rem 0.6rem; text-align: left;
         vertical-align: top; }
th { background: #eef2f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: #a00000; font-weight: bold; }
.good { color: #006100; font-weight: bold; }
img { max-width: 100%; height: auto; border: 1px solid #ccc; }
"""


def esc(value: Any) -> str:
    """HTML-escapes any value."""
    return html.escape(str(value), quote=True)


def percent(value: Optional[float]) -> str:
    """0.9683 -> '96.8%'; None -> 'n/a'."""
    if value is None or value != value:  # NaN: nothing to measure
        return "n/a"
    return f"{100 * value:.1f}%"


class Names:
    """Readable names for intents: the topic's title, else a plain description."""

    def __init__(self, titles: Dict[str, str]) -> None:
        """Builds the names from intent -> topic title."""
        self.titles = titles

    def __call__(self, intent: str) -> str:
        """The name staff read for an intent."""
        return self.titles.get(intent) or OTHER_NAMES.get(intent) or intent.replace("_", " ")

    def cell(self, intent: str) -> str:
        """The name with the intent in small type beneath, as HTML."""
        return f"{esc(self(intent))}<br><small><code>{esc(intent)}</code></small>"


# -- charts -------------------------------------------------------------------------------


def f1_chart(path: Path, f1_now: Dict[str, float], f1_published: Optional[Dict[str, float]],
             names: Names) -> str:
    """Draws the per-topic F1 bar chart; returns its alt text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    topics = sorted(f1_now, key=lambda t: (f1_now[t], names(t)))
    labels = [names(t) for t in topics]
    height = max(4.0, 0.38 * len(topics) + 1.5)
    figure, axes = plt.subplots(figsize=(10, height))
    positions = list(range(len(topics)))
    if f1_published:
        bar = 0.4
        axes.barh([p + bar / 2 for p in positions], [f1_now[t] for t in topics], height=bar,
                  color=NOW_COLOUR, label="This model")
        axes.barh([p - bar / 2 for p in positions],
                  [f1_published.get(t, 0.0) for t in topics], height=bar,
                  color=PUBLISHED_COLOUR, hatch="//", edgecolor="#333333",
                  label="Published model")
        axes.legend(loc="lower right")
    else:
        axes.barh(positions, [f1_now[t] for t in topics], color=NOW_COLOUR)
    for position, topic in zip(positions, topics, strict=True):
        axes.text(min(f1_now[topic], 1.0) + 0.01, position, f"{f1_now[topic]:.2f}",
                  va="center", fontsize=8)
    axes.set_yticks(positions)
    axes.set_yticklabels(labels, fontsize=9)
    axes.set_xlim(0, 1.08)
    axes.set_xlabel("F1 score (1.0 = every question on the topic recognised, "
                    "nothing else mistaken for it)")
    axes.set_title("How well each topic is recognised (held-out test messages)")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    lowest = topics[:3]
    return ("Horizontal bar chart of the F1 score of each of the "
            f"{len(topics)} topics, lowest first. Lowest: "
            + "; ".join(f"{names(t)} {f1_now[t]:.2f}" for t in lowest)
            + ". The same figures are in the table below.")


def confusion_chart(path: Path, labels: Sequence[str], predictions: Sequence[str],
                    names: Names) -> str:
    """Draws the confusion matrix (expected rows, predicted columns); returns its alt text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    classes = sorted(set(labels) | set(predictions),
                     key=lambda c: (c not in names.titles, names(c)))
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=int)
    for label, predicted in zip(labels, predictions, strict=True):
        counts[index[label], index[predicted]] += 1
    size = max(6.0, 0.34 * len(classes) + 4)
    figure, axes = plt.subplots(figsize=(size + 2, size))
    shown = np.where(counts > 0, np.log1p(counts), 0.0)
    axes.imshow(shown, cmap="Blues", aspect="auto")
    for row in range(len(classes)):
        for col in range(len(classes)):
            if counts[row, col]:
                dark = shown[row, col] > 0.6 * shown.max()
                axes.text(col, row, str(counts[row, col]), ha="center", va="center",
                          fontsize=7, color="white" if dark else "black",
                          fontweight="normal" if row == col else "bold")
    tick_names = [names(c) for c in classes]
    axes.set_xticks(range(len(classes)))
    axes.set_xticklabels(tick_names, rotation=60, ha="right", fontsize=7)
    axes.set_yticks(range(len(classes)))
    axes.set_yticklabels(tick_names, fontsize=7)
    axes.set_xlabel("What the assistant understood")
    axes.set_ylabel("What the message was really about")
    axes.set_title("Confusion matrix: numbers off the diagonal are mix-ups")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    right = int(np.trace(counts))
    return (f"Confusion matrix of {len(labels)} held-out messages over {len(classes)} "
            f"categories: {right} on the diagonal (understood correctly), "
            f"{len(labels) - right} off it. The largest mix-ups are listed in the table below.")


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


# -- the page -----------------------------------------------------------------------------


def table(caption: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
          numeric: Sequence[int] = ()) -> str:
    """An HTML table with a caption and column headers; cells are HTML already."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if i == 0:
                cells.append(f'<th scope="row">{cell}</th>')
            else:
                cells.append(f'<td class="num">{cell}</td>' if i in numeric
                             else f"<td>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table>\n<caption>{esc(caption)}</caption>\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>")


def change_text(now: Optional[float], before: Optional[float]) -> str:
    """'better by 0.05' / 'worse by 0.02' / 'same', as HTML with a class."""
    if now is None or before is None:
        return "n/a"
    delta = now - before
    if abs(delta) < 0.0005:
        return "same"
    word, css, arrow = ("better", "good", "▲") if delta > 0 else ("worse", "bad", "▼")
    return f'<span class="{css}">{arrow} {word} by {abs(delta):.3f}</span>'


def summary_section(ours: Dict[str, Any], results: Dict[str, Any]) -> str:
    """Headline figures against their targets."""
    rows = []
    for key, label, target in HEADLINES:
        value = ours.get(key)
        if key in TARGETS and value is not None:
            met = value >= TARGETS[key]
        else:
            baselines = [s.get("overall_accuracy", 0.0) for n, s in
                         results.get("systems", {}).items() if n != "ours"]
            met = value is not None and all(value > b for b in baselines)
        verdict = '<span class="good">met</span>' if met else '<span class="bad">MISSED</span>'
        rows.append([esc(label), percent(value), esc(target), verdict])
    failures = results.get("failures") or []
    outcome = ('<p class="good">All targets met.</p>' if not failures else
               '<p class="bad">Some targets were missed (marked MISSED below); '
               "<code>make evaluate</code> fails until they are met.</p>\n"
               "<p><small>Details: " + esc("; ".join(failures)) + "</small></p>")
    return ("<h2>Summary</h2>\n" + outcome + "\n"
            + table("Headline figures on the held-out test messages",
                    ["Measure", "Result", "Target", "Target met?"], rows, numeric=[1]))


def red_flag_section(ours: Dict[str, Any]) -> str:
    """Red-flag recall and every red-flag message that was missed."""
    misses = evaluation.red_flag_misses(ours)
    parts = ["<h2>Urgent warning signs (red flags)</h2>",
             "<p>Messages describing warning signs (for example a swollen, hot, red leg, "
             "or chest pain) must always get the urgent-care answer. Recall is the share "
             "of them recognised; it must be 100%.</p>",
             f"<ul><li>Held-out test messages: <strong>{percent(ours.get('red_flag_recall'))}"
             f"</strong></li><li>Red-flag list (tests/safety/red_flag_phrasings.yml): "
             f"<strong>{percent(ours.get('red_flag_phrasings_recall'))}</strong></li></ul>"]
    if misses:
        parts.append('<p class="bad">These red-flag messages were NOT recognised:</p><ul>'
                     + "".join(f"<li>{esc(m)}</li>" for m in misses) + "</ul>")
    else:
        parts.append('<p class="good">Every red-flag message was recognised.</p>')
    return "\n".join(parts)


def end_to_end_section(results: Dict[str, Any]) -> str:
    """The end-to-end figures of the blind and dev sets, beside their targets."""
    sets: List[Dict[str, Any]] = results.get("end_to_end") or []
    if not sets:
        return ""
    targets: Dict[str, float] = results.get("end_to_end_targets") or {}
    gates: Dict[str, float] = results.get("end_to_end_gates") or {}
    headers = ["Measure", "Target", "Gate in make test",
               *(("Blind: " if s["blind"] else "Dev: ") + s["name"] for s in sets)]
    rows = []
    for figure in END_TO_END_LABELS:
        lower = figure in LOWER_IS_BETTER
        sign = "≤ " if lower else "≥ "
        row = [esc(END_TO_END_LABELS[figure]),
               esc(sign + percent(targets[figure])) if figure in targets else "",
               esc(sign + percent(gates[figure])) if figure in gates else ""]
        for result in sets:
            value = result["figures"].get(figure)
            met = figure not in targets or (value is not None and value == value and (
                value <= targets[figure] if lower else value >= targets[figure]))
            row.append(percent(value) + ("" if met else ' <span class="bad">(below target)'
                                                         "</span>"))
        rows.append(row)
    counts = "; ".join(
        f"{esc(s['name'])}: " + ", ".join(f"{v} {esc(k.replace('_', ' '))}"
                                          for k, v in s["counts"].items()) for s in sets)
    return ("<h2>Messages nobody wrote down, end to end</h2>\n"
            "<p>Each message or conversation is sent to a running assistant through its "
            "web chat channel, and the topic it answered with is compared with the "
            "expected one. The <strong>blind</strong> set was written by someone who never "
            "saw the training data, and nobody looks at its individual mistakes, so it "
            "measures what users meet. Dev sets may be studied to decide what to fix.</p>\n"
            + table("End-to-end figures", headers, rows,
                    numeric=list(range(1, len(headers))))
            + f"\n<p><small>{counts}</small></p>")


def comparison_section(ours: Dict[str, Any], entry: Optional[Dict[str, Any]],
                       published: Optional[Dict[str, Any]], note: str, names: Names,
                       model_sha256: Optional[str]) -> str:
    """This model against the published one, headline figures and topic by topic."""
    parts = ["<h2>Compared with the published model</h2>"]
    if entry is None:
        parts.append("<p>No model has been published yet, so there is nothing to compare "
                     "with. <code>make publish</code> publishes this one.</p>")
        return "\n".join(parts)
    same = model_sha256 is not None and entry.get("sha256") == model_sha256
    parts.append(f"<p>The published model is <code>{esc(entry['file'])}</code>, published "
                 f"{esc(entry.get('published_at', '?'))}"
                 + (" (it is the model evaluated here)" if same else "") + ".</p>")
    if published is None:
        parts.append("<p>Its figures are not known (the model file is missing and none "
                     "were recorded).</p>")
        return "\n".join(parts)
    parts.append(f"<p>Its figures: {esc(note)}. <q>Better</q> means this model scores "
                 "higher than the published one.</p>")
    rows = [[esc(label), percent(published.get(key)), percent(ours.get(key)),
             change_text(ours.get(key), published.get(key))]
            for key, label, _ in HEADLINES]
    parts.append(table("Headline figures: published model and this model",
                       ["Measure", "Published", "This model", "Change"], rows, numeric=[1, 2]))
    before: Dict[str, float] = published.get("per_topic_f1", {})
    now: Dict[str, float] = ours.get("per_topic_f1", {})
    topics = sorted(set(before) | set(now),
                    key=lambda t: ((now.get(t) or 0) - (before.get(t) or 0), names(t)))
    rows = [[names.cell(t),
             f"{before[t]:.3f}" if t in before else "new topic",
             f"{now[t]:.3f}" if t in now else "removed",
             change_text(now.get(t), before.get(t))] for t in topics]
    parts.append(table("F1 score of each topic: published model and this model "
                       "(biggest drops first)",
                       ["Topic", "Published F1", "This model's F1", "Change"], rows,
                       numeric=[1, 2]))
    return "\n".join(parts)


def f1_section(ours: Dict[str, Any], names: Names, alt: str) -> str:
    """The per-topic F1 chart and its table."""
    f1: Dict[str, float] = ours.get("per_topic_f1", {})
    rows = [[names.cell(t), f"{f1[t]:.3f}"] for t in sorted(f1, key=lambda t: (f1[t], names(t)))]
    return ("<h2>How well each topic is recognised</h2>\n"
            "<p>The F1 score combines two questions: are the questions on this topic "
            "recognised, and are other questions wrongly taken for it? 1.0 is perfect; "
            "below about 0.9 the topic needs more (or clearer) example questions.</p>\n"
            f'<figure><img src="{F1_CHART}" alt="{esc(alt)}">'
            "<figcaption>Per-topic F1 score, lowest first.</figcaption></figure>\n"
            + table("F1 score of each topic, lowest first", ["Topic", "F1"], rows, numeric=[1]))


def mistakes_section(ours: Dict[str, Any], names: Names) -> str:
    """The held-out messages the model got wrong, most confident mistakes first."""
    wrong: List[Dict[str, Any]] = sorted(ours.get("misclassified", []),
                                         key=lambda m: -float(m.get("confidence") or 0))
    parts = ["<h2>Messages the assistant got wrong</h2>"]
    if not wrong:
        parts.append("<p>None: every held-out test message was understood correctly.</p>")
        return "\n".join(parts)
    parts.append("<p>Held-out test messages (never used for training) that were "
                 "understood as something else, the most confident mistakes first. "
                 "To fix one, add a few example questions <em>like it</em> (not the "
                 "message itself) to the right topic in <code>data/nlu/</code>. "
                 "<q>Unsure</q> means the assistant offered topic buttons instead of "
                 "answering.</p>")
    rows = [[esc(m["text"]), names.cell(m["label"]), names.cell(m["predicted"]),
             percent(m["confidence"]) if "confidence" in m else "n/a"] for m in wrong]
    parts.append(table(f"{len(wrong)} misunderstood messages",
                       ["Message", "Really about", "Understood as", "Confidence"], rows,
                       numeric=[3]))
    return "\n".join(parts)


def confusion_section(labels: Sequence[str], predictions: Sequence[str], names: Names,
                      alt: str) -> str:
    """The confusion matrix and its largest mix-ups as a table."""
    pairs = Counter((y, p) for y, p in zip(labels, predictions, strict=True)
                    if y != p and not (y == "out_of_scope" and p == "nlu_fallback"))
    rows = [[names.cell(y), names.cell(p), str(n)] for (y, p), n in pairs.most_common(15)]
    return ("<h2>Which topics get mixed up</h2>\n"
            "<p>Each row is what the messages were really about, each column what the "
            "assistant understood. Numbers on the diagonal were understood correctly; "
            "numbers off it are mix-ups, except that an off-topic message answered "
            "<q>Unsure</q> is handled correctly too.</p>\n"
            f'<figure><img src="{CONFUSION_CHART}" alt="{esc(alt)}">'
            "<figcaption>Confusion matrix of the held-out test messages.</figcaption>"
            "</figure>\n"
            + (table("The most frequent mix-ups", ["Really about", "Understood as", "Messages"],
                     rows, numeric=[2]) if rows else "<p>No mix-ups.</p>"))


def baselines_section(results: Dict[str, Any]) -> str:
    """Our model next to the two simple baselines."""
    systems: Dict[str, Dict[str, Any]] = results.get("systems", {})
    if len(systems) < 2:
        return ""
    label = {"ours": "This assistant", "stock_rasa_init": "Rasa's standard settings",
             "tfidf_nearest_neighbour": "Nearest example (simple word matching)"}
    rows = [[esc(label.get(name, name)), percent(s.get("overall_accuracy")),
             percent(s.get("topic_accuracy"))] for name, s in systems.items()]
    return ("<h2>Compared with simple baselines</h2>\n"
            "<p>The same training examples, given to two simpler systems in the same run.</p>\n"
            + table("Accuracy of this assistant and the baselines",
                    ["System", "All messages", "Topic questions"], rows, numeric=[1, 2]))


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
    names = Names(evaluation.topic_titles(root))
    heldout: List[Dict[str, str]] = results.get("heldout", [])
    labels = [item["label"] for item in heldout]
    predictions: List[str] = ours.get("predictions", [])
    entry, published, note = published_figures(root, evaluate_published)
    model_sha256: Optional[str] = results.get("model_sha256")
    f1_alt = f1_chart(out_dir / F1_CHART, ours.get("per_topic_f1", {}),
                      published.get("per_topic_f1") if published else None, names)
    if labels and len(labels) == len(predictions):
        confusion_alt = confusion_chart(out_dir / CONFUSION_CHART, labels, predictions, names)
        confusion = confusion_section(labels, predictions, names, confusion_alt)
    else:
        confusion = ("<h2>Which topics get mixed up</h2><p>These results hold no per-message "
                     "predictions; run <code>make evaluate</code> again.</p>")
    model = results.get("model_file", "models/night-cramps.tar.gz")
    sections = [
        "<h1>How well the assistant understands questions</h1>",
        f"<p>Evaluation of <code>{esc(model)}</code>"
        + (f" (sha256 <code>{esc(model_sha256[:12])}</code>)" if model_sha256 else "")
        + f" on {len(labels) or results.get('heldout_messages', '?')} held-out test messages "
        "(<code>tests/heldout/nlu.yml</code>): messages written separately and never used "
        f"for training. The model was trained on {esc(results.get('training_examples', '?'))} "
        "example questions.</p>",
        summary_section(ours, results),
        end_to_end_section(results),
        red_flag_section(ours),
        comparison_section(ours, entry, published, note, names, model_sha256),
        f1_section(ours, names, f1_alt),
        mistakes_section(ours, names),
        confusion,
        baselines_section(results),
        "<h2>What the words mean</h2>\n<dl>"
        "<dt>Accuracy</dt><dd>The share of messages understood correctly. An off-topic "
        "message counts as correct when the assistant does not answer it from the "
        "content store.</dd>"
        "<dt>F1 score</dt><dd>Per topic, from 0 to 1: high only when the topic's questions "
        "are recognised <em>and</em> other questions are not mistaken for it.</dd>"
        "<dt>Confidence</dt><dd>How sure the model was of its (wrong) answer.</dd>"
        "<dt>Published model</dt><dd>The model the running assistant serves, put there by "
        "<code>make publish</code>.</dd></dl>",
    ]
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>Evaluation report: night-time leg cramp assistant</title>\n"
            f"<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
            + "\n\n".join(s for s in sections if s) + "\n</main>\n</body>\n</html>\n")
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
