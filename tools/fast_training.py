"""`make train`: fine-tune the current model on the changed data, or retrain it from scratch.

The fast path is Rasa's incremental training, `rasa train --finetune MODEL
--epoch-fraction F`: the previous model's weights are loaded and trained for
F x the configured epochs on the whole (new) data. The CountVectorsFeaturizers
keep their vocabulary and append the new examples' words and character n-grams
at its end (`_fit_loaded_vectorizer`); DIET widens its sparse input layers for
them, the old weights untouched. Rasa refuses to fine-tune (and this script then
retrains from scratch) when anything but the epochs changed in config.yml, when
an intent, entity or action was added or lost all its examples, or when the
domain changed in a way that matters to core (e.g. a new slot or action).

`--full` (`make train-full`) always retrains from scratch, as does a run with no
previous model. Either way the new model is written next to the target under a
temporary name and then moved over it, so a reader never sees a half-written file.

Usage:
    python -m tools.fast_training --model models/night-cramps.tar.gz [--full]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: The share of config.yml's DIET epochs a fine-tuning runs (100 epochs: 25). Measured
#: with tools/training_benchmark.py (docs/performance.md, "Retraining").
EPOCH_FRACTION = 0.25

#: Runs a command in a folder with an environment; returns its exit code.
Runner = Callable[[Sequence[str], Path, Mapping[str, str]], int]


def run_command(command: Sequence[str], cwd: Path, env: Mapping[str, str]) -> int:
    """Runs `command` with its output on this process's, returning its exit code."""
    return subprocess.run(list(command), cwd=cwd, env=dict(env), check=False).returncode


@dataclass(frozen=True)
class Outcome:
    """What `train` did: "finetune" or "full", how long it took, and the model."""

    mode: str
    seconds: float
    model: Path


def train_command(model: Path, *, config: Path = ROOT / "config.yml",
                  data: Sequence[Path] = (ROOT / "data",),
                  finetune: Optional[Path] = None,
                  epoch_fraction: float = EPOCH_FRACTION,
                  extra: Sequence[str] = ()) -> List[str]:
    """The `rasa train` command writing `model` (a `NAME.tar.gz` path).

    Args:
        model: The model file to write.
        config: The pipeline and policies.
        data: The training data folders or files.
        finetune: The model to fine-tune; None trains from scratch.
        epoch_fraction: With `finetune`, the share of the configured epochs to run.
        extra: More arguments, e.g. `("--debug",)`.
    """
    name = model.name[: -len(".tar.gz")] if model.name.endswith(".tar.gz") else model.name
    command = [str(BIN / "rasa"), "train", "--config", str(config), "--domain",
               str(ROOT / "domain.yml"), "--data", *map(str, data), "--out",
               str(model.parent), "--fixed-model-name", name, *extra]
    if finetune is not None:
        command += ["--finetune", str(finetune), "--epoch-fraction", str(epoch_fraction)]
    return command


def train(model: Path, *, full: bool = False, config: Path = ROOT / "config.yml",
          data: Sequence[Path] = (ROOT / "data",), epoch_fraction: float = EPOCH_FRACTION,
          env: Optional[Mapping[str, str]] = None, extra: Sequence[str] = (),
          runner: Runner = run_command, log: Callable[[str], None] = print) -> Outcome:
    """Trains `model`: fine-tunes the existing file unless `full`, else from scratch.

    A fine-tuning that Rasa refuses (or that fails) is followed by a full training.

    Args:
        model: The model file to (re)write, e.g. models/night-cramps.tar.gz.
        full: Retrain from scratch even if a model exists.
        config: The pipeline and policies.
        data: The training data folders or files.
        epoch_fraction: The share of the configured DIET epochs a fine-tuning runs.
        env: The environment of `rasa train`; `os.environ` if None.
        extra: More arguments for `rasa train`, e.g. `("--debug",)`.
        runner: Runs the command (injected by tests).
        log: Receives one line on what is being done.

    Raises:
        RuntimeError: The full training failed too.
    """
    env = dict(os.environ if env is None else env)
    model.parent.mkdir(parents=True, exist_ok=True)
    scratch = model.with_name(f"{model.name[: -len('.tar.gz')]}-next.tar.gz")
    started = time.perf_counter()
    mode = "full"
    if not full and model.exists():
        log(f"Fine-tuning {model} for {epoch_fraction:g} of the configured epochs "
            "(`make train-full` retrains from scratch).")
        command = train_command(scratch, config=config, data=data, finetune=model,
                                epoch_fraction=epoch_fraction, extra=extra)
        if runner(command, ROOT, env) == 0 and scratch.exists():
            mode = "finetune"
        else:
            log("Rasa cannot fine-tune this model on this data (see above): retraining "
                "from scratch.")
    if mode == "full":
        command = train_command(scratch, config=config, data=data, extra=extra)
        if runner(command, ROOT, env) != 0:
            raise RuntimeError("rasa train failed (see its output above)")
    os.replace(scratch, model)
    return Outcome(mode, time.perf_counter() - started, model)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point (`make train`, `make train-full`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "night-cramps.tar.gz")
    parser.add_argument("--full", action="store_true", help="retrain from scratch")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--epoch-fraction", type=float, default=EPOCH_FRACTION)
    args = parser.parse_args(argv)
    try:
        outcome = train(args.model, full=args.full, config=args.config,
                        epoch_fraction=args.epoch_fraction)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{outcome.model}: {outcome.mode} training in {outcome.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
