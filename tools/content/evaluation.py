"""A model's figures on the held-out data, remembered per model and per test data.

An evaluation record holds the figures tools/benchmark.py computes for one
model (accuracy, per-topic F1, red-flag recall, the messages it got wrong) plus
the model's sha256 and a digest of the test data it was measured on. Records are
cached in `results/evaluations/`, so a model is evaluated once per version of the
test data: `make evaluate` stores the new model's record, and `make publish` and
the report reuse it (or evaluate a model that has none).

Usage:
    python -m tools.content.evaluation MODEL.tar.gz [--root DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from nightcramps.contract import URGENT_INTENT
from tools.content import scoring
from tools.content.topics import topic_intents

ROOT = Path(__file__).resolve().parents[2]

Record = Dict[str, Any]


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_digest(root: Path) -> str:
    """A digest of what the figures depend on besides the model: test files and topics."""
    digest = hashlib.sha256()
    for path in (scoring.heldout_file(root), scoring.phrasings_file(root)):
        digest.update(path.read_bytes())
    digest.update("\n".join(topic_intents(root / "content")).encode())
    return digest.hexdigest()


def make_record(scores: Record, model: Path, root: Path,
                model_sha256: Optional[str] = None) -> Record:
    """Wraps one system's scores (see scoring.score_system) with what they are about."""
    return {
        **scores,
        "model_file": model.name,
        "model_sha256": model_sha256 or sha256_file(model),
        "dataset_sha256": dataset_digest(root),
        "evaluated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def summary(record: Record) -> Record:
    """The headline figures of a record, for the manifest and for comparisons."""
    kept = {key: record[key] for key in scoring.HEADLINE_KEYS if key in record}
    kept["per_topic_f1"] = dict(record.get("per_topic_f1", {}))
    for key in ("dataset_sha256", "evaluated_at", "red_flag_phrasings_missed"):
        if key in record:
            kept[key] = record[key]
    kept["red_flag_misses"] = red_flag_misses(record)
    return kept


def red_flag_misses(record: Record) -> List[str]:
    """Red-flag messages (held-out and phrasings file) the model did not catch."""
    missed = [item["text"] for item in record.get("misclassified", [])
              if item.get("label") == URGENT_INTENT]
    return missed + list(record.get("red_flag_phrasings_missed", []))


def cache_dir(root: Path) -> Path:
    """Where evaluation records are kept."""
    return root / "results" / "evaluations"


def cache_path(root: Path, model_sha256: str, dataset_sha256: str) -> Path:
    """The record file of one model on one version of the test data."""
    return cache_dir(root) / f"{model_sha256[:16]}-{dataset_sha256[:16]}.json"


def save(record: Record, root: Path) -> Path:
    """Stores a record in the cache; returns its file."""
    path = cache_path(root, record["model_sha256"], record["dataset_sha256"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)
    return path


def cached(model: Path, root: Path, model_sha256: Optional[str] = None) -> Optional[Record]:
    """The stored record of `model` on the current test data, if there is one."""
    path = cache_path(root, model_sha256 or sha256_file(model), dataset_digest(root))
    if not path.exists():
        return None
    record: Record = json.loads(path.read_text())
    return record


def evaluate_model(model: Path, root: Path) -> Record:
    """Runs the model over the held-out messages and the red-flag phrasings.

    Uses Rasa's Python API (`Agent.load`, `parse_message`) and the scoring of
    `make evaluate` (tools/content/scoring.py), so the figures match it. Takes a minute or so.
    """
    import logging

    logging.disable(logging.WARNING)  # Rasa's and TensorFlow's loading chatter
    try:
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)
    except ImportError:  # pragma: no cover - older Rasa
        pass
    data = scoring.load_test_data(root)
    predicted = asyncio.run(scoring.predict_with_confidences(model, data.everything))
    scores = scoring.score_predictions(data, topic_intents(root / "content"), predicted)
    return make_record(scores, model, root)


def latest(model: Path, root: Path, *, evaluate: bool = True,
           model_sha256: Optional[str] = None) -> Optional[Record]:
    """The model's record on the current test data: cached, else evaluated now and cached.

    Args:
        model: The model file.
        root: The project folder (test data, content, results/).
        evaluate: Whether to evaluate a model that has no record yet.
        model_sha256: The model's sha256, if already known.
    """
    record = cached(model, root, model_sha256)
    if record is None and evaluate:
        print(f"Evaluating {model.name} on the held-out test messages "
              f"(takes a minute or two)...", flush=True)
        record = evaluate_model(model, root)
        save(record, root)
    return record


def main(argv: Optional[List[str]] = None) -> int:
    """Prints a model's headline figures (evaluating it if needed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder")
    args = parser.parse_args(argv)
    record = latest(args.model.resolve(), args.root.resolve())
    assert record is not None
    print(json.dumps({key: value for key, value in summary(record).items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
