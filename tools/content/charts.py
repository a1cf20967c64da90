"""The report's two charts, drawn with matplotlib: per-topic F1 and the confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

from tools.content.intent_names import Names

NOW_COLOUR = "#0072B2"  # blue and orange: told apart with colour-blindness too
PUBLISHED_COLOUR = "#E69F00"


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
