"""Measures the assistant: NLU accuracy (against two baselines), latency, training time.

Usage:
    python -m tools.benchmark --accuracy --report reports   # `make evaluate` (in `make test`)
    python -m tools.benchmark --accuracy --baselines --latency --training-time  # `make benchmark`

Accuracy is measured on the held-out file tests/heldout/nlu.yml (never used for
training) and on the red-flag phrasings file, and end to end on the blind and
dev sets (tools/content/end_to_end.py). With --accuracy the script exits 1 when
an absolute target is missed.

With --baselines our model is also compared, in the same run, with (a) Rasa's
stock `rasa init` pipeline trained on the same data and (b) a TF-IDF
nearest-neighbour classifier (tools/baselines.py); the comparison fails unless
ours beats both on overall accuracy, and its figures are recorded with the date
in benchmarks/baseline_last.json, which the report of `make evaluate` shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from nightcramps.contract import OUT_OF_SCOPE_INTENT
from tools import baselines
from tools.content import end_to_end, evaluation
from tools.content.nlu import duplicate_key
from tools.content.scoring import (
    HEADLINE_KEYS,
    Example,
    load_examples,
    load_test_data,
    predict_with_confidences,
    score_predictions,
    target_failures,
)
from tools.content.topics import topic_intents
from tools.stats import median, percentile

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OUR_MODEL = ROOT / "models" / "night-cramps.tar.gz"
RESULTS = ROOT / "results" / "benchmark.json"


def leaked(heldout: Sequence[Example], train: Sequence[Example]) -> List[str]:
    """Held-out messages that are also training examples, as `make check` compares them."""
    return sorted({duplicate_key(t) for t, _ in heldout} & {duplicate_key(t) for t, _ in train})


def accuracy(with_baselines: bool = False, force_stock: bool = False
             ) -> Tuple[Dict[str, Any], bool]:
    """Evaluates our model (and with `with_baselines` the baselines); results and pass/fail."""
    data = load_test_data(ROOT)
    train = load_examples(ROOT / "data" / "nlu")
    overlap = leaked(data.heldout, train)
    if overlap:
        raise SystemExit(f"held-out messages also in training data: {overlap[:5]}")
    topics = topic_intents(ROOT / "content")
    our_sha256 = evaluation.sha256_file(OUR_MODEL)  # of the file about to be evaluated
    predicted = asyncio.run(predict_with_confidences(OUR_MODEL, data.everything))
    ours = score_predictions(data, topics, predicted)
    results: Dict[str, Any] = {"heldout_messages": len(data.heldout),
                               "training_examples": len(train), "systems": {"ours": ours},
                               "heldout": [{"text": t, "label": y} for t, y in data.heldout]}

    # Remember our model's figures for `make publish` and the report.
    record = evaluation.make_record(ours, OUR_MODEL, ROOT, our_sha256)
    results["evaluation_record"] = str(evaluation.save(record, ROOT).relative_to(ROOT))
    results["model_file"] = str(OUR_MODEL.relative_to(ROOT))
    results["model_sha256"] = record["model_sha256"]

    # The blind and dev sets, end to end through a running assistant.
    config = end_to_end.load_config()
    sets = end_to_end.evaluate(config)
    results["end_to_end"] = [result.as_dict() for result in sets]
    results["end_to_end_targets"] = config.targets
    results["end_to_end_gates"] = config.gates
    end_to_end.print_results(sets, config, show_errors=False)
    failures = target_failures(ours) + end_to_end.gate_failures(sets[0], config.gates)

    if with_baselines:
        measured, results["stock_training_seconds"] = baselines.measure(data, train, topics,
                                                                        force_stock)
        results["systems"].update(measured)
        # "Beat the baselines" is judged on overall accuracy: every held-out message,
        # where an out-of-scope message counts as right when it gets no content answer.
        failures += baselines.not_beaten(ours, measured)
        comparison = baselines.make_record(results["systems"], len(data.heldout), len(train))
        results["baseline_record"] = str(baselines.save_record(comparison).relative_to(ROOT))
    last = baselines.load_record()
    results["baselines"] = json.loads(last.json()) if last else None
    results["failures"] = failures
    return results, not failures


def print_accuracy(results: Dict[str, Any]) -> None:
    """Prints the accuracy table: our model, and the baselines when measured in this run."""
    systems = results["systems"]
    names = list(systems)
    print(f"\nNLU evaluation on {results['heldout_messages']} held-out messages "
          f"({results['training_examples']} training examples)")
    header = f"{'metric':32}" + "".join(f"{n:>26}" for n in names)
    print(header)
    print("-" * len(header))
    for key in HEADLINE_KEYS:
        print(f"{key:32}" + "".join(f"{systems[n][key]:>26.3f}" for n in names))
    print("\nPer-topic F1")
    for topic in systems["ours"]["per_topic_f1"]:
        print(f"  {topic:32}" + "".join(f"{systems[n]['per_topic_f1'][topic]:>26.3f}"
                                        for n in names))
    print("\nOur misclassified held-out messages:")
    for item in systems["ours"]["misclassified"]:
        print(f"  [{item['label']} -> {item['predicted']}] {item['text']}")
    last = results.get("baselines")
    if last and len(names) == 1:
        print(f"\nBaselines (not measured in this run; `{last['command']}` on "
              f"{last['measured_on']}): overall accuracy " + ", ".join(
                  f"{name} {figures['overall_accuracy']:.3f}"
                  for name, figures in last["systems"].items()))


def latency(requests_count: int) -> Dict[str, float]:
    """One user, sequential turns: full REST turn vs /model/parse, on one model."""
    import requests

    from tools.running_assistant import TOKEN, running_assistant

    data = load_test_data(ROOT)
    texts = [t for t, y in data.heldout if y != OUT_OF_SCOPE_INTENT]
    texts = (texts * (requests_count // len(texts) + 1))[:requests_count]
    with tempfile.TemporaryDirectory() as tmp, running_assistant(Path(tmp)) as assistant:
        session = requests.Session()
        parse_url = f"{assistant.base}/model/parse"
        turn_url = f"{assistant.base}/webhooks/rest/webhook"
        for text in texts[:10]:  # warm-up
            session.post(turn_url, json={"sender": "warm-up", "message": text}, timeout=30)
            session.post(parse_url, params={"token": TOKEN}, json={"text": text}, timeout=30)
        turn, parse = [], []
        for text in texts:
            started = time.perf_counter()
            session.post(turn_url, json={"sender": "one-user", "message": text},
                         timeout=30).raise_for_status()
            turn.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            session.post(parse_url, params={"token": TOKEN}, json={"text": text},
                         timeout=30).raise_for_status()
            parse.append((time.perf_counter() - started) * 1000)
    return {
        "requests": len(texts),
        "turn_p50_ms": median(turn),
        "turn_p99_ms": percentile(turn, 99),
        "parse_p50_ms": median(parse),
        "parse_p99_ms": percentile(parse, 99),
        "turn_to_parse_p50_ratio": median(turn) / median(parse),
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


def print_latency(lat: Dict[str, float]) -> None:
    """Prints the one-user latency figures."""
    print(f"\nLatency, one user, {lat['requests']} sequential turns on loopback:")
    print(f"  full turn (REST + action server): p50 {lat['turn_p50_ms']:.1f} ms, "
          f"p99 {lat['turn_p99_ms']:.1f} ms")
    print(f"  /model/parse on the same model:    p50 {lat['parse_p50_ms']:.1f} ms, "
          f"p99 {lat['parse_p99_ms']:.1f} ms")
    print(f"  ratio of p50s (turn / parse):      {lat['turn_to_parse_p50_ratio']:.2f}")


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the chosen measurements and prints their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", action="store_true", help="NLU evaluation (targets)")
    parser.add_argument("--baselines", action="store_true",
                        help="with --accuracy, train and score the two baselines too "
                             "(13-25 minutes) and record their figures")
    parser.add_argument("--latency", action="store_true", help="one-user latency")
    parser.add_argument("--training-time", action="store_true", help="time a full training")
    parser.add_argument("--requests", type=int, default=300, help="turns for --latency")
    parser.add_argument("--report", type=Path, default=None, metavar="DIR",
                        help="with --accuracy, also write the staff report DIR/index.html")
    args = parser.parse_args(argv)
    if (args.baselines or args.report) and not args.accuracy:
        parser.error("--baselines and --report go with --accuracy")
    logging.disable(logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    report: Dict[str, Any] = {}
    passed = True
    if args.training_time:
        report["training_seconds"] = training_time()
        print(f"Training time (our model, from scratch): {report['training_seconds']:.1f} s")
    if args.accuracy:
        report["accuracy"], passed = accuracy(args.baselines, force_stock=args.training_time)
        print_accuracy(report["accuracy"])
        if args.baselines and args.training_time:
            print(f"\nTraining time (stock baseline, NLU only): "
                  f"{report['accuracy']['stock_training_seconds']:.1f} s")
    if args.latency:
        report["latency"] = latency(args.requests)
        print_latency(report["latency"])
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
