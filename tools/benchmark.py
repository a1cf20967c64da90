"""Measures the assistant: NLU accuracy against two baselines, latency, training time.

Usage:
    python -m tools.benchmark --accuracy           # what `make test` runs
    python -m tools.benchmark --accuracy --report reports   # plus the staff report
    python -m tools.benchmark --accuracy --latency --training-time

Accuracy is measured on the held-out file tests/heldout/nlu.yml (never used for
training) and on the red-flag phrasings file. Our model is compared side by side,
in the same run, with (a) Rasa's stock `rasa init` pipeline trained on the same
data and (b) a TF-IDF nearest-neighbour classifier over the training examples.
With --accuracy the script exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from connectors.credentials import write_active_credentials
from nightcramps.content_store import YamlContentStore, content_dir
from tools.run import free_port, wait_until_up

ROOT = Path(__file__).resolve().parent.parent


BIN = Path(sys.executable).parent
HELDOUT = ROOT / "tests" / "heldout" / "nlu.yml"
PHRASINGS = ROOT / "tests" / "safety" / "red_flag_phrasings.yml"
OUR_MODEL = ROOT / "models" / "night-cramps.tar.gz"
STOCK_CONFIG = ROOT / "benchmarks" / "stock_config.yml"
STOCK_DIR = ROOT / "models" / "baseline"
RESULTS = ROOT / "results" / "benchmark.json"
URGENT = "report_urgent_symptoms"
OUT_OF_SCOPE = "out_of_scope"
REJECTIONS = frozenset({OUT_OF_SCOPE, "nlu_fallback"})
TARGETS = {"topic_accuracy": 0.95, "oos_rejection": 0.90, "red_flag_recall": 1.0}

Example = Tuple[str, str]


def load_examples(path: Path) -> List[Example]:
    """Reads (text, intent) pairs from a Rasa NLU file or folder."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def normalise(text: str) -> str:
    """Lower-cases and collapses whitespace, for leak checks."""
    return " ".join(text.lower().split())


def topic_intents() -> List[str]:
    """The intents answered from the content store, red flags excepted."""
    store = YamlContentStore(content_dir())
    return sorted(e.intent for e in store.entries() if e.intent != URGENT)


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


async def predict_with_model(model: Path, texts: Sequence[str]) -> List[str]:
    """Runs each text through a trained Rasa model's NLU pipeline."""
    return [name for name, _ in await predict_with_confidences(model, texts)]


def predict_tfidf(train: Sequence[Example], texts: Sequence[str]) -> List[str]:
    """Baseline (b): the intent of the most similar training example (TF-IDF cosine)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    vectorizer = TfidfVectorizer(lowercase=True, ngram_range=(1, 2), sublinear_tf=True)
    matrix = vectorizer.fit_transform([text for text, _ in train])
    scores = linear_kernel(vectorizer.transform(list(texts)), matrix)
    return [train[int(row.argmax())][1] for row in scores]


def metrics(labels: Sequence[str], predictions: Sequence[str], topics: Sequence[str]
            ) -> Dict[str, Any]:
    """Topic accuracy, per-topic F1, out-of-scope rejection and red-flag recall."""
    from sklearn.metrics import f1_score

    def share(pairs: List[Tuple[str, str]], ok: Any) -> float:
        return sum(1 for pair in pairs if ok(*pair)) / len(pairs) if pairs else float("nan")

    pairs = list(zip(labels, predictions, strict=False))
    topic_pairs = [(y, p) for y, p in pairs if y in topics]
    f1 = f1_score(labels, predictions, labels=list(topics), average=None, zero_division=0)
    return {
        "topic_accuracy": share(topic_pairs, lambda y, p: y == p),
        "topic_count": len(topic_pairs),
        "overall_accuracy": share(pairs, lambda y, p: y == p or (y == OUT_OF_SCOPE
                                                                 and p in REJECTIONS)),
        "oos_rejection": share([(y, p) for y, p in pairs if y == OUT_OF_SCOPE],
                               lambda y, p: p in REJECTIONS),
        "red_flag_recall": share([(y, p) for y, p in pairs if y == URGENT],
                                 lambda y, p: p == URGENT),
        "per_topic_f1": {t: round(float(s), 3) for t, s in zip(topics, f1, strict=False)},
    }


def score_system(texts: Sequence[str], labels: Sequence[str], topics: Sequence[str],
                 phrasings: Sequence[str], predicted: Sequence[str],
                 confidences: Optional[Sequence[float]] = None) -> Dict[str, Any]:
    """One system's figures from its predictions on `texts` followed by `phrasings`.

    Adds to `metrics` the red-flag phrasings recall and misses, the misclassified
    held-out messages and every held-out prediction (for a confusion matrix).
    """
    scores = metrics(labels, predicted[: len(texts)], topics)
    on_phrasings = predicted[len(texts):]
    scores["red_flag_phrasings_recall"] = sum(p == URGENT for p in on_phrasings) / len(
        on_phrasings)
    scores["red_flag_phrasings_missed"] = [t for t, p in zip(phrasings, on_phrasings,
                                                             strict=False) if p != URGENT]
    sure = list(confidences or [])
    scores["misclassified"] = [
        {"text": t, "label": y, "predicted": p,
         **({"confidence": round(sure[i], 4)} if i < len(sure) else {})}
        for i, (t, y, p) in enumerate(zip(texts, labels, predicted, strict=False))
        if y != p and not (y == OUT_OF_SCOPE and p in REJECTIONS)
    ]
    scores["predictions"] = list(predicted[: len(texts)])
    return scores


def train_stock(force: bool) -> Tuple[Path, Optional[float]]:
    """Trains baseline (a), reusing the last one unless the data or `force` changed it."""
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


def accuracy(force_stock: bool) -> Tuple[Dict[str, Any], bool]:
    """Evaluates the three systems side by side; returns results and pass/fail."""
    import yaml

    heldout = load_examples(HELDOUT)
    train = load_examples(ROOT / "data" / "nlu")
    leaked = {normalise(t) for t, _ in heldout} & {normalise(t) for t, _ in train}
    if leaked:
        raise SystemExit(f"held-out messages also in training data: {sorted(leaked)[:5]}")
    topics = topic_intents()
    texts = [t for t, _ in heldout]
    labels = [y for _, y in heldout]
    phrasings = [item["text"] for item in yaml.safe_load(PHRASINGS.read_text())["red_flags"]]

    from tools.content import evaluation

    our_sha256 = evaluation.sha256_file(OUR_MODEL)  # of the file about to be evaluated
    stock_model, stock_seconds = train_stock(force_stock)
    ours_predicted = asyncio.run(predict_with_confidences(OUR_MODEL, texts + phrasings))
    systems: Dict[str, List[str]] = {
        "ours": [name for name, _ in ours_predicted],
        "stock_rasa_init": asyncio.run(predict_with_model(stock_model, texts + phrasings)),
        "tfidf_nearest_neighbour": predict_tfidf(train, texts + phrasings),
    }
    results: Dict[str, Any] = {"heldout_messages": len(texts), "training_examples": len(train),
                               "stock_training_seconds": stock_seconds, "systems": {},
                               "heldout": [{"text": t, "label": y} for t, y in heldout]}
    for name, predicted in systems.items():
        confidences = [c for _, c in ours_predicted] if name == "ours" else None
        results["systems"][name] = score_system(texts, labels, topics, phrasings, predicted,
                                                confidences)
    results["systems"]["ours"]["confidences"] = [round(c, 4)
                                                 for _, c in ours_predicted[: len(texts)]]

    # Remember our model's figures for `make publish` and the report.
    record = evaluation.make_record(results["systems"]["ours"], OUR_MODEL, ROOT, our_sha256)
    results["evaluation_record"] = str(evaluation.save(record, ROOT).relative_to(ROOT))
    results["model_file"] = str(OUR_MODEL.relative_to(ROOT))
    results["model_sha256"] = record["model_sha256"]

    # The blind and dev sets, end to end through a running assistant.
    from tools.content import end_to_end

    config = end_to_end.load_config()
    sets = end_to_end.evaluate(config)
    results["end_to_end"] = [result.as_dict() for result in sets]
    results["end_to_end_targets"] = config.targets
    results["end_to_end_gates"] = config.gates
    end_to_end.print_results(sets, config, show_errors=False)

    ours = results["systems"]["ours"]
    failures = [f"{key} {ours[key]:.3f} < {target}" for key, target in TARGETS.items()
                if ours[key] < target]
    failures += end_to_end.gate_failures(sets[0], config.gates)
    if ours["red_flag_phrasings_recall"] < 1.0:
        failures.append(f"red-flag phrasings recall {ours['red_flag_phrasings_recall']:.3f}")
    # "Beat the baselines" is judged on overall accuracy: every held-out message,
    # where an out-of-scope message counts as right when it gets no content answer.
    # Topic-only accuracy is printed beside it.
    for baseline in ("stock_rasa_init", "tfidf_nearest_neighbour"):
        if ours["overall_accuracy"] <= results["systems"][baseline]["overall_accuracy"]:
            failures.append(f"overall_accuracy does not beat {baseline}")
    results["failures"] = failures
    return results, not failures


def print_accuracy(results: Dict[str, Any]) -> None:
    """Prints the side-by-side accuracy table."""
    systems = results["systems"]
    names = list(systems)
    print(f"\nNLU evaluation on {results['heldout_messages']} held-out messages "
          f"({results['training_examples']} training examples)")
    header = f"{'metric':32}" + "".join(f"{n:>26}" for n in names)
    print(header)
    print("-" * len(header))
    for key in ("topic_accuracy", "overall_accuracy", "oos_rejection", "red_flag_recall",
                "red_flag_phrasings_recall"):
        print(f"{key:32}" + "".join(f"{systems[n][key]:>26.3f}" for n in names))
    print("\nPer-topic F1")
    for topic in systems["ours"]["per_topic_f1"]:
        print(f"  {topic:32}" + "".join(f"{systems[n]['per_topic_f1'][topic]:>26.3f}"
                                        for n in names))
    print("\nOur misclassified held-out messages:")
    for item in systems["ours"]["misclassified"]:
        print(f"  [{item['label']} -> {item['predicted']}] {item['text']}")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def latency(requests_count: int) -> Dict[str, float]:
    """One user, sequential turns: full REST turn vs /model/parse, on one model."""
    import requests

    texts = [t for t, y in load_examples(HELDOUT) if y != OUT_OF_SCOPE]
    texts = (texts * (requests_count // len(texts) + 1))[:requests_count]
    with tempfile.TemporaryDirectory() as tmp:
        action_port, rasa_port = free_port(), free_port()
        endpoints = Path(tmp) / "endpoints.yml"
        credentials = Path(tmp) / "credentials.yml"
        write_active_credentials(ROOT / "credentials.yml", credentials, {})  # REST only
        endpoints.write_text(
            f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n"
            f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {tmp}/tracker.db\n")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        servers = [
            subprocess.Popen([str(BIN / "rasa"), "run", "actions", "--port", str(action_port)],
                             cwd=ROOT, env=env, **quiet),  # type: ignore[call-overload]
            subprocess.Popen([str(BIN / "rasa"), "run", "--enable-api", "--model",
                              str(OUR_MODEL), "--port", str(rasa_port), "--interface",
                              "127.0.0.1", "--endpoints", str(endpoints), "--credentials",
                              str(credentials)],
                             cwd=ROOT, env=env, **quiet),  # type: ignore[call-overload]
        ]
        try:
            for url, server in ((f"http://127.0.0.1:{action_port}/health", servers[0]),
                                (f"http://127.0.0.1:{rasa_port}/", servers[1])):
                if not wait_until_up(url, server, 300):
                    raise RuntimeError(f"{url} did not come up")
            base = f"http://127.0.0.1:{rasa_port}"
            session = requests.Session()
            for text in texts[:10]:  # warm-up
                session.post(f"{base}/webhooks/rest/webhook",
                             json={"sender": "warm-up", "message": text}, timeout=30)
                session.post(f"{base}/model/parse", json={"text": text}, timeout=30)
            turn, parse = [], []
            for text in texts:
                started = time.perf_counter()
                reply = session.post(f"{base}/webhooks/rest/webhook",
                                     json={"sender": "one-user", "message": text}, timeout=30)
                turn.append((time.perf_counter() - started) * 1000)
                reply.raise_for_status()
                started = time.perf_counter()
                session.post(f"{base}/model/parse", json={"text": text},
                             timeout=30).raise_for_status()
                parse.append((time.perf_counter() - started) * 1000)
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=30)
    return {
        "requests": len(texts),
        "turn_p50_ms": statistics.median(turn),
        "turn_p99_ms": percentile(turn, 99),
        "parse_p50_ms": statistics.median(parse),
        "parse_p99_ms": percentile(parse, 99),
        "turn_to_parse_p50_ratio": statistics.median(turn) / statistics.median(parse),
    }


def training_time() -> float:
    """Seconds for a full `rasa train` of our model from scratch (no cache)."""
    with tempfile.TemporaryDirectory() as tmp:
        # A cache of its own, so no component is restored from an earlier training.
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_CACHE_DIRECTORY": f"{tmp}/cache"}
        started = time.perf_counter()
        subprocess.run([str(BIN / "rasa"), "train", "--out", tmp, "--fixed-model-name", "timed"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env)
        return time.perf_counter() - started


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the chosen measurements and prints their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", action="store_true", help="NLU evaluation (targets)")
    parser.add_argument("--latency", action="store_true", help="one-user latency")
    parser.add_argument("--training-time", action="store_true", help="time a full training")
    parser.add_argument("--requests", type=int, default=300, help="turns for --latency")
    parser.add_argument("--report", type=Path, default=None, metavar="DIR",
                        help="with --accuracy, also write the staff report DIR/index.html")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    report: Dict[str, Any] = {}
    passed = True
    if args.training_time:
        report["training_seconds"] = training_time()
        print(f"Training time (our model, from scratch): {report['training_seconds']:.1f} s")
    if args.accuracy:
        report["accuracy"], passed = accuracy(force_stock=args.training_time)
        print_accuracy(report["accuracy"])
        if report["accuracy"]["stock_training_seconds"] and args.training_time:
            print(f"\nTraining time (stock baseline, NLU only): "
                  f"{report['accuracy']['stock_training_seconds']:.1f} s")
    if args.latency:
        report["latency"] = latency(args.requests)
        lat = report["latency"]
        print(f"\nLatency, one user, {lat['requests']} sequential turns on loopback:")
        print(f"  full turn (REST + action server): p50 {lat['turn_p50_ms']:.1f} ms, "
              f"p99 {lat['turn_p99_ms']:.1f} ms")
        print(f"  /model/parse on the same model:    p50 {lat['parse_p50_ms']:.1f} ms, "
              f"p99 {lat['parse_p99_ms']:.1f} ms")
        print(f"  ratio of p50s (turn / parse):      {lat['turn_to_parse_p50_ratio']:.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str))
    if args.accuracy and args.report:
        from tools.content.report import write_report

        page = write_report(report["accuracy"], args.report, ROOT)
        print(f"\nReport for content staff: {page}")
    if args.accuracy:
        failures = report["accuracy"]["failures"]
        print("\nTargets: " + ("all met" if passed else "MISSED: " + "; ".join(failures)))
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
