"""The two baselines our model is compared with, and the record of their last figures.

Baseline (a) is Rasa's stock `rasa init` pipeline (benchmarks/stock_config.yml)
trained on our data; baseline (b) is a TF-IDF nearest-neighbour classifier over
the training examples. Training (a) takes 13-25 minutes, so only `make benchmark`
measures them; it records their figures, with the date, in
benchmarks/baseline_last.json, which `make evaluate`'s report shows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from pydantic import BaseModel

from tools.content.scoring import EvalData, Example, Scores, predict_with_confidences, score_system

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STOCK_CONFIG = ROOT / "benchmarks" / "stock_config.yml"
STOCK_DIR = ROOT / "models" / "baseline"
RECORD = ROOT / "benchmarks" / "baseline_last.json"
#: The systems compared, in table order, with the names staff read.
SYSTEM_NAMES = {"ours": "This assistant", "stock_rasa_init": "Rasa's standard settings",
                "tfidf_nearest_neighbour": "Nearest example (simple word matching)"}
BASELINES = ("stock_rasa_init", "tfidf_nearest_neighbour")


class Figures(BaseModel):
    """One system's headline figures on the held-out messages and phrasings."""

    topic_accuracy: float
    overall_accuracy: float
    oos_rejection: float
    red_flag_recall: float
    red_flag_phrasings_recall: float


class BaselineRecord(BaseModel):
    """The figures of our model and the baselines from the last `make benchmark`."""

    measured_on: dt.date
    command: str = "make benchmark"
    note: str = ""
    heldout_messages: int
    training_examples: int
    systems: Dict[str, Figures]


def load_record(path: Path = RECORD) -> Optional[BaselineRecord]:
    """The last recorded comparison, or None if there is none."""
    if not path.exists():
        return None
    return BaselineRecord.parse_file(path)


def save_record(record: BaselineRecord, path: Path = RECORD) -> Path:
    """Writes the record (replacing the last one); returns its file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record.json(indent=2) + "\n", encoding="utf-8")
    return path


def make_record(systems: Dict[str, Scores], heldout_messages: int, training_examples: int,
                measured_on: Optional[dt.date] = None) -> BaselineRecord:
    """A record of today's (or `measured_on`'s) figures of every system."""
    return BaselineRecord(
        measured_on=measured_on or dt.datetime.now(dt.timezone.utc).date(),
        heldout_messages=heldout_messages, training_examples=training_examples,
        systems={name: Figures(**{key: scores[key] for key in Figures.__fields__})
                 for name, scores in systems.items()})


def not_beaten(ours: Scores, systems: Dict[str, Scores]) -> List[str]:
    """The baselines our overall accuracy does not beat, as failure sentences."""
    return [f"overall_accuracy does not beat {name}" for name in BASELINES
            if name in systems and ours["overall_accuracy"]
            <= systems[name]["overall_accuracy"]]


def train_stock(force: bool) -> Tuple[Path, float]:
    """Trains baseline (a), reusing Rasa's cache unless `force`; returns it and the seconds."""
    model = STOCK_DIR / "stock.tar.gz"
    command = [str(BIN / "rasa"), "train", "nlu", "--config", str(STOCK_CONFIG),
               "--nlu", "data/nlu", "--out", str(STOCK_DIR), "--fixed-model-name", "stock"]
    if force and model.exists():
        model.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        if force:
            env["RASA_CACHE_DIRECTORY"] = f"{tmp}/cache"
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env)
        return model, time.perf_counter() - started


def predict_tfidf(train: Sequence[Example], texts: Sequence[str]) -> List[str]:
    """Baseline (b): the intent of the most similar training example (TF-IDF cosine)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    vectorizer = TfidfVectorizer(lowercase=True, ngram_range=(1, 2), sublinear_tf=True)
    matrix = vectorizer.fit_transform([text for text, _ in train])
    scores = linear_kernel(vectorizer.transform(list(texts)), matrix)
    return [train[int(row.argmax())][1] for row in scores]


def measure(data: EvalData, train: Sequence[Example], topics: Sequence[str], force: bool
            ) -> Tuple[Dict[str, Scores], float]:
    """Trains and scores both baselines; returns their scores and the stock training time."""
    stock_model, stock_seconds = train_stock(force)
    stock = [name for name, _ in asyncio.run(predict_with_confidences(stock_model,
                                                                      data.everything))]
    predicted = {"stock_rasa_init": stock,
                 "tfidf_nearest_neighbour": predict_tfidf(train, data.everything)}
    return ({name: score_system(data.texts, data.labels, topics, data.phrasings, values)
             for name, values in predicted.items()}, stock_seconds)
