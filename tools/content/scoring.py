"""Scoring an NLU model on the held-out messages and the red-flag phrasings.

Shared by the benchmark (tools/benchmark.py) and the evaluation records
(tools/content/evaluation.py), so both compute the same figures the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import yaml

from nightcramps.contract import (
    FALLBACK_INTENT,
    HELDOUT_FILE,
    OUT_OF_SCOPE_INTENT,
    PHRASINGS_FILE,
    URGENT_INTENT,
)

#: Predictions that count as declining an out-of-scope message.
REJECTIONS = frozenset({OUT_OF_SCOPE_INTENT, FALLBACK_INTENT})
#: The absolute targets our model must meet (`make evaluate` fails below them).
TARGETS = {"topic_accuracy": 0.95, "oos_rejection": 0.90, "red_flag_recall": 1.0}
#: The headline figures: printed, compared between models, kept in the publish manifest.
HEADLINE_KEYS = ("topic_accuracy", "overall_accuracy", "oos_rejection", "red_flag_recall",
                 "red_flag_phrasings_recall")

Example = Tuple[str, str]
Scores = Dict[str, Any]


@dataclass(frozen=True)
class EvalData:
    """The held-out messages with their intents, and the red-flag phrasings."""

    heldout: List[Example]
    phrasings: List[str]

    @property
    def texts(self) -> List[str]:
        """The held-out messages."""
        return [text for text, _ in self.heldout]

    @property
    def labels(self) -> List[str]:
        """The held-out messages' intents."""
        return [label for _, label in self.heldout]

    @property
    def everything(self) -> List[str]:
        """What a system predicts on: the held-out messages, then the phrasings."""
        return self.texts + self.phrasings


def heldout_file(root: Path) -> Path:
    """The held-out NLU test messages."""
    return root / HELDOUT_FILE


def phrasings_file(root: Path) -> Path:
    """The red-flag phrasings that must all be caught."""
    return root / PHRASINGS_FILE


def load_examples(path: Path) -> List[Example]:
    """Reads (text, intent) pairs from a Rasa NLU file or folder."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def load_test_data(root: Path) -> EvalData:
    """The held-out messages and red-flag phrasings of the project at `root`."""
    phrasings = yaml.safe_load(phrasings_file(root).read_text(encoding="utf-8"))["red_flags"]
    return EvalData(load_examples(heldout_file(root)), [item["text"] for item in phrasings])


async def predict_with_confidences(model: Path, texts: Sequence[str]
                                   ) -> List[Tuple[str, float]]:
    """Runs each text through a trained Rasa model's NLU pipeline: (intent, confidence)."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    predictions = []
    for text in texts:
        intent = (await agent.parse_message(text)).get("intent") or {}
        predictions.append((intent.get("name") or "", float(intent.get("confidence") or 0.0)))
    return predictions


def is_right(label: str, predicted: str) -> bool:
    """Whether a prediction handles the message: its intent, or any rejection when off-topic."""
    return label == predicted or (label == OUT_OF_SCOPE_INTENT and predicted in REJECTIONS)


def _share(pairs: Sequence[Tuple[str, str]], ok: Callable[[str, str], bool]) -> float:
    return sum(1 for pair in pairs if ok(*pair)) / len(pairs) if pairs else float("nan")


def metrics(labels: Sequence[str], predictions: Sequence[str], topics: Sequence[str]
            ) -> Scores:
    """Topic accuracy, per-topic F1, out-of-scope rejection and red-flag recall."""
    from sklearn.metrics import f1_score

    pairs = list(zip(labels, predictions, strict=False))
    topic_pairs = [(y, p) for y, p in pairs if y in topics]
    f1 = f1_score(labels, predictions, labels=list(topics), average=None, zero_division=0)
    return {
        "topic_accuracy": _share(topic_pairs, lambda y, p: y == p),
        "topic_count": len(topic_pairs),
        "overall_accuracy": _share(pairs, is_right),
        "oos_rejection": _share([(y, p) for y, p in pairs if y == OUT_OF_SCOPE_INTENT],
                                lambda y, p: p in REJECTIONS),
        "red_flag_recall": _share([(y, p) for y, p in pairs if y == URGENT_INTENT],
                                  lambda y, p: p == URGENT_INTENT),
        "per_topic_f1": {t: round(float(s), 3) for t, s in zip(topics, f1, strict=False)},
    }


def score_system(texts: Sequence[str], labels: Sequence[str], topics: Sequence[str],
                 phrasings: Sequence[str], predicted: Sequence[str],
                 confidences: Optional[Sequence[float]] = None) -> Scores:
    """One system's figures from its predictions on `texts` followed by `phrasings`.

    Adds to `metrics` the red-flag phrasings recall and misses, the misclassified
    held-out messages and every held-out prediction (for a confusion matrix), and
    with `confidences` each held-out prediction's confidence.
    """
    scores = metrics(labels, predicted[: len(texts)], topics)
    on_phrasings = predicted[len(texts):]
    scores["red_flag_phrasings_recall"] = sum(p == URGENT_INTENT for p in on_phrasings) / len(
        on_phrasings)
    scores["red_flag_phrasings_missed"] = [t for t, p in zip(phrasings, on_phrasings,
                                                             strict=False) if p != URGENT_INTENT]
    sure = list(confidences or [])
    scores["misclassified"] = [
        {"text": t, "label": y, "predicted": p,
         **({"confidence": round(sure[i], 4)} if i < len(sure) else {})}
        for i, (t, y, p) in enumerate(zip(texts, labels, predicted, strict=False))
        if not is_right(y, p)
    ]
    scores["predictions"] = list(predicted[: len(texts)])
    if sure:
        scores["confidences"] = [round(c, 4) for c in sure[: len(texts)]]
    return scores


def score_predictions(data: EvalData, topics: Sequence[str],
                      predicted: Sequence[Tuple[str, float]]) -> Scores:
    """`score_system` on (intent, confidence) predictions over `data.everything`."""
    return score_system(data.texts, data.labels, topics, data.phrasings,
                        [name for name, _ in predicted], [c for _, c in predicted])


def target_failures(scores: Scores) -> List[str]:
    """The absolute targets a model's scores miss, each as a short sentence."""
    failures = [f"{key} {scores[key]:.3f} < {target}" for key, target in TARGETS.items()
                if scores[key] < target]
    if scores["red_flag_phrasings_recall"] < 1.0:
        failures.append(f"red-flag phrasings recall {scores['red_flag_phrasings_recall']:.3f}")
    return failures
