"""Retraining, the content team's wait: today's configuration beside config.yml, in one run.

Usage:
    python -m tools.training_benchmark                 # everything (about 25 min on a busy machine)
    python -m tools.training_benchmark --no-accuracy   # the timings only
    python -m tools.training_benchmark --set epochs=40 --set learning_rate=0.002
                                       # a candidate: config.yml with other DIET settings

In one run, side by side (each figure printed as soon as it is measured):

1. trains config.yml as it is (or with `--set` DIET settings) from scratch with an
   empty Rasa cache, and splits its wall time into phases
   (tools/training_phases.py: process start, NLU featurisation, DIET epochs,
   core, packaging, exit), with its CPU seconds;
2. the fast path after a content edit: adds `NEW_EXAMPLES` to a copy of data/
   (the real data/ is never touched), runs what `make train` runs
   (tools/fast_training.py: fine-tune the previous model, here the model of
   step 1, with the Rasa cache that training left) and starts a Rasa server on
   a free port with the result, timing from the start of training until
   `/model/parse` answers the first new example;
3. scores both models end to end on the blind set (tools/content/end_to_end.py,
   the evaluation `make evaluate` gates on: a running assistant, REST channel,
   topic slot);
4. trains today's configuration (config.yml with the DIET settings of
   2026-12-01, `TODAY_DIET`: 100 epochs, and Rasa's own featurizers,
   `TODAY_NAMES`) the same way, scores it, and prints every figure side by side
   with the targets.

Models and logs go to build/training_benchmark/ (never to models/).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import requests
import yaml

from tools import fast_training
from tools.processes import Server, free_port, server_env, serving
from tools.training_phases import PHASES, TimedRun, epochs, phases, timed_run, training_env

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORK = ROOT / "build" / "training_benchmark"
TOKEN = "training-benchmark"
#: The DIETClassifier of config.yml on 2026-12-01, before this benchmark chose new settings.
TODAY_DIET: Dict[str, Any] = {
    "name": "DIETClassifier", "epochs": 100, "number_of_transformer_layers": 0,
    "entity_recognition": False, "constrain_similarities": True, "random_seed": 2024,
}
#: Components that replaced Rasa's since 2026-12-01: today's configuration has Rasa's.
TODAY_NAMES: Dict[str, str] = {
    "components.sentence_count_vectors.SentenceCountVectorsFeaturizer": "CountVectorsFeaturizer",
}
#: What a content editor adds before retraining: new wordings of existing topics.
NEW_EXAMPLES: Dict[str, List[str]] = {
    "ask_quick_relief": ["my calf knotted up in the middle of the night what helps right away",
                         "toes curled with a cramp at 3am how do i make it let go"],
    "ask_diet": ["is there any snack before bed that keeps cramps away"],
    "ask_about_dehydration": ["could not drinking enough water during the day give me "
                              "cramps at night"],
    "ask_stretches": ["which wall stretch should i do for my calves before sleeping"],
}
#: The targets of issue 15, in seconds and topic-accuracy points.
FAST_PATH_TARGET_S = 90.0
FULL_TARGET_S = 150.0
MAX_DROP_POINTS = 1.0


def today_config(config_text: str) -> Dict[str, Any]:
    """config.yml's configuration with its DIETClassifier and featurizers as on 2026-12-01."""
    config: Dict[str, Any] = yaml.safe_load(config_text)
    config["pipeline"] = [
        dict(TODAY_DIET) if step.get("name") == "DIETClassifier"
        else {**step, "name": TODAY_NAMES.get(step.get("name", ""), step.get("name"))}
        for step in config["pipeline"]]
    return config


def candidate_config(config_text: str, settings: Mapping[str, Any]) -> Dict[str, Any]:
    """config.yml's configuration with `settings` added to its DIETClassifier's."""
    config: Dict[str, Any] = yaml.safe_load(config_text)
    config["pipeline"] = [{**step, **settings} if step.get("name") == "DIETClassifier" else step
                          for step in config["pipeline"]]
    return config


def parse_setting(text: str) -> Tuple[str, Any]:
    """`KEY=VALUE` (VALUE read as YAML: 40, 0.002, [64, 256]) as a pair."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


def diet_settings(config_file: Path) -> Dict[str, Any]:
    """The DIETClassifier's settings in a configuration file."""
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    return next(dict(step) for step in config["pipeline"] if step.get("name") == "DIETClassifier")


def data_with_new_examples(target: Path) -> Path:
    """Copies data/ to `target` and adds `NEW_EXAMPLES` there as one more NLU file."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ROOT / "data", target)
    nlu = [{"intent": intent, "examples": "".join(f"- {text}\n" for text in texts)}
           for intent, texts in NEW_EXAMPLES.items()]
    (target / "nlu" / "zz_benchmark_new_examples.yml").write_text(
        yaml.safe_dump({"version": "3.1", "nlu": nlu}, sort_keys=False), encoding="utf-8")
    return target


@dataclass
class Training:
    """One timed training: wall and CPU seconds, phases, DIET epochs, the model."""

    label: str
    model: Path
    seconds: float
    cpu_seconds: float
    phases: Dict[str, float]
    epochs: int
    mode: str = "full"

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready figures."""
        return {"label": self.label, "model": str(self.model), "seconds": self.seconds,
                "cpu_seconds": self.cpu_seconds, "phases": self.phases,
                "epochs": self.epochs, "mode": self.mode}


def from_run(label: str, model: Path, run: TimedRun, mode: str = "full") -> Training:
    """A `Training` from a timed `rasa train --debug` run."""
    return Training(label, model, run.seconds, run.cpu_seconds, phases(run), epochs(run), mode)


def train_from_scratch(label: str, config: Path, folder: Path) -> Training:
    """Trains `config` on data/ with an empty Rasa cache of its own (in `folder`)."""
    cache = folder / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    model = folder / "model.tar.gz"
    command = fast_training.train_command(model, config=config, extra=["--debug"])
    run = timed_run(command, training_env(cache), folder / "train.log", cwd=ROOT)
    if run.returncode != 0:
        raise RuntimeError(f"training {label} failed:\n{run.tail()}")
    return from_run(label, model, run)


@dataclass
class FastPath:
    """The fast path's figures: training, then a server until the first parse answers."""

    training: Training
    serve_seconds: float
    total_seconds: float
    new_examples_right: int
    new_examples: int
    runs: List[TimedRun] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready figures."""
        return {"training": self.training.as_dict(), "serve_seconds": self.serve_seconds,
                "total_seconds": self.total_seconds,
                "new_examples_right": self.new_examples_right,
                "new_examples": self.new_examples}


def rasa_server(model: Path, folder: Path, env: Mapping[str, str]) -> Server:
    """A Rasa server (HTTP API on, no channels, no tracker store) for `model` on a free port."""
    port = free_port()
    endpoints = folder / "endpoints.yml"
    endpoints.write_text("{}\n")
    command = [str(BIN / "rasa"), "run", "--enable-api", "--auth-token", TOKEN,
               "--model", str(model), "--port", str(port), "--interface", "127.0.0.1",
               "--endpoints", str(endpoints)]
    return Server("rasa", command, f"http://127.0.0.1:{port}/", server_env(env), folder)


def fast_path(previous: Training, config: Path, work: Path) -> FastPath:
    """Adds the new examples, runs `make train`'s fast path and serves the model.

    The previous model is config.yml's model trained from scratch in this run, and
    the Rasa cache is the one that training left, as after an earlier `make train`.
    """
    folder = work / "fast_path"
    folder.mkdir(parents=True, exist_ok=True)
    data = data_with_new_examples(folder / "data")
    model = folder / "model.tar.gz"
    shutil.copyfile(previous.model, model)
    runs: List[TimedRun] = []

    def runner(command: Sequence[str], cwd: Path, env: Mapping[str, str]) -> int:
        runs.append(timed_run(command, env, folder / f"train-{len(runs) + 1}.log", cwd=cwd))
        return runs[-1].returncode

    env = training_env(previous.model.parent / "cache")
    started = time.perf_counter()
    outcome = fast_training.train(model, config=config, data=[data], env=env,
                                  extra=["--debug"], runner=runner, log=lambda line: None)
    trained = time.perf_counter() - started
    texts = [(text, intent) for intent, items in NEW_EXAMPLES.items() for text in items]
    server = rasa_server(model, folder, {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    with serving(server) as _, requests.Session() as session:
        intents: List[Optional[str]] = []
        for text, _intent in texts:
            reply = session.post(f"{server.health}model/parse", params={"token": TOKEN},
                                 json={"text": text}, timeout=60)
            reply.raise_for_status()
            if not intents:
                total = time.perf_counter() - started
            intents.append((reply.json().get("intent") or {}).get("name"))
    right = sum(got == intent for got, (_text, intent) in zip(intents, texts, strict=True))
    training = from_run("fast path", model, runs[-1], outcome.mode)
    training.seconds = trained  # a refused fine-tuning's time counts too
    training.cpu_seconds = sum(run.cpu_seconds for run in runs)
    return FastPath(training, total - trained, total, right, len(texts), runs)


def blind_scores(models: Mapping[str, Path]) -> Dict[str, Dict[str, float]]:
    """Each model's end-to-end figures on the blind set (`make evaluate`'s evaluation)."""
    from tools.content import end_to_end

    config = end_to_end.load_config()
    blind_only = end_to_end.Config(blind=config.blind, dev=[], targets=config.targets,
                                   gates=config.gates)
    return {label: end_to_end.evaluate(blind_only, model)[0].figures
            for label, model in models.items()}


def print_trainings(trainings: Sequence[Training]) -> None:
    """Prints the trainings' wall time split into phases, side by side."""
    print("\nTraining, wall seconds by phase (tools/training_phases.py)")
    header = f"{'phase':24}" + "".join(f"{t.label:>22}" for t in trainings)
    print(header)
    print("-" * len(header))
    for phase in PHASES:
        print(f"{phase:24}" + "".join(f"{t.phases[phase]:>22.1f}" for t in trainings))
    print(f"{'total (wall)':24}" + "".join(f"{t.seconds:>22.1f}" for t in trainings))
    print(f"{'CPU seconds':24}" + "".join(f"{t.cpu_seconds:>22.1f}" for t in trainings))
    print(f"{'DIET epochs':24}" + "".join(f"{t.epochs:>22d}" for t in trainings))
    print(f"{'DIET seconds an epoch':24}" + "".join(
        f"{(t.phases['diet'] / t.epochs if t.epochs else float('nan')):>22.2f}"
        for t in trainings))
    print(f"{'mode':24}" + "".join(f"{t.mode:>22}" for t in trainings), flush=True)


def print_scores(scores: Mapping[str, Mapping[str, float]], baseline: str) -> None:
    """Prints the blind-set figures side by side, with each model's change in points."""
    labels = list(scores)
    print("\nBlind set, end to end (tools/content/end_to_end.py; REST channel, topic slot)")
    header = f"{'figure':28}" + "".join(f"{label:>16}" for label in labels)
    print(header)
    print("-" * len(header))
    for figure in scores[baseline]:
        print(f"{figure:28}" + "".join(f"{scores[label][figure]:>16.4f}" for label in labels))
    print(f"{'topic accuracy change, pts':28}" + "".join(
        f"{100 * (scores[label]['topic_accuracy'] - scores[baseline]['topic_accuracy']):>+16.2f}"
        for label in labels))


def verdict(full: Training, fast: FastPath,
            scores: Optional[Mapping[str, Mapping[str, float]]]) -> List[str]:
    """One line per target of issue 15: the figure and whether it is met."""
    lines = [f"full retrain from scratch {full.seconds:.1f} s (target <= {FULL_TARGET_S:.0f} s): "
             f"{'met' if full.seconds <= FULL_TARGET_S else 'MISSED'}",
             f"fast path, training start to first parse {fast.total_seconds:.1f} s (target <= "
             f"{FAST_PATH_TARGET_S:.0f} s): "
             f"{'met' if fast.total_seconds <= FAST_PATH_TARGET_S else 'MISSED'}"]
    if scores:
        base = scores["today"]["topic_accuracy"]
        for label in ("config.yml", "fast path"):
            drop = 100 * (base - scores[label]["topic_accuracy"])
            lines.append(f"blind topic accuracy, {label}: {drop:+.2f} points below today "
                         f"(target <= {MAX_DROP_POINTS:.0f}): "
                         f"{'met' if drop <= MAX_DROP_POINTS else 'MISSED'}")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the side-by-side trainings, the fast path and the scoring; prints every figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=WORK, help="models, caches and logs")
    parser.add_argument("--no-accuracy", action="store_true",
                        help="skip the end-to-end scoring (timings only)")
    parser.add_argument("--set", type=parse_setting, action="append", default=[],
                        metavar="KEY=VALUE",
                        help="measure config.yml with this DIET setting changed (repeatable)")
    args = parser.parse_args(argv)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    current = (ROOT / "config.yml").read_text(encoding="utf-8")
    today_file = work / "config_today.yml"
    today_file.write_text(yaml.safe_dump(today_config(current), sort_keys=False))
    new_file = ROOT / "config.yml"
    if args.set:
        new_file = work / "config_candidate.yml"
        new_file.write_text(yaml.safe_dump(candidate_config(current, dict(args.set)),
                                           sort_keys=False))
    print(f"Load average at the start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    print(f"today's DIET: {diet_settings(today_file)}")
    print(f"{'candidate' if args.set else 'config.yml'} DIET: {diet_settings(new_file)}; "
          f"fast path: fine-tune for {fast_training.EPOCH_FRACTION:g} of its epochs")
    # The targets' figures first, each printed as soon as it is measured (a long run on
    # a busy machine still leaves them); today's 100 epochs last.
    new = train_from_scratch("config.yml", new_file, work / "new")
    print_trainings([new])
    fast = fast_path(new, new_file, work)
    print_trainings([fast.training])
    print(f"\nFast path: training {fast.training.seconds:.1f} s ({fast.training.mode}), "
          f"server start until the first /model/parse answered {fast.serve_seconds:.1f} s, "
          f"total {fast.total_seconds:.1f} s; new examples parsed to their intent: "
          f"{fast.new_examples_right}/{fast.new_examples}", flush=True)
    models = {"config.yml": new.model, "fast path": fast.training.model}
    scores: Dict[str, Dict[str, float]] = {}
    if not args.no_accuracy:
        scores.update(blind_scores(models))
        print(f"\nBlind set so far: {json.dumps(scores)}", flush=True)
    same = yaml.safe_load(today_file.read_text()) == yaml.safe_load(new_file.read_text())
    if same:  # config.yml is today's configuration: one training stands for both
        print("\nconfig.yml is today's configuration: its training stands for both.")
        today = dataclasses.replace(new, label="today")
    else:
        today = train_from_scratch("today", today_file, work / "today")
    print_trainings([today, new, fast.training])
    if not args.no_accuracy:
        if same:
            scores = {"today": scores["config.yml"], **scores}
        else:
            scores = {**blind_scores({"today": today.model}), **scores}
        print_scores(scores, "today")
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}")
    print("\nTargets (issue 15, target 1):")
    for line in verdict(new, fast, scores or None):
        print(f"  {line}")
    (work / "results.json").write_text(json.dumps(
        {"today": today.as_dict(), "config.yml": new.as_dict(), "fast_path": fast.as_dict(),
         "blind": scores}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
