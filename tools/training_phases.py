"""Where a `rasa train` spends its time: one timed run, split into phases from its log.

`timed_run` starts a command (a `rasa train ... --debug`), stamps every line of
its output with the seconds since the start, keeps the stamped log in a file and
returns the lines with the wall time. `phases` reads such a log and splits the
run into process start (Python, Rasa and TensorFlow imports, reading the data),
NLU featurisation (TextCleaner, spaCy, the two CountVectorsFeaturizers), the
DIETClassifier's epochs, core (the rule policy), packaging the model and process
exit. A phase whose markers are missing (e.g. DIET restored from the cache) is 0.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

#: The phases in order, as `phases` names them.
PHASES = ("start", "nlu_featurisation", "diet", "core", "packaging", "exit")

_NODE = re.compile(r"Node '[^']+' running '")
_DIET_START = re.compile(r"running 'DIETClassifier\.train'")
_DIET_END = re.compile(r"Finished training component 'DIETClassifier'")
_CORE_END = re.compile(r"(Finished training|Restored) component '\w*RulePolicy'")
_SAVED = re.compile(r"Your Rasa model is trained and saved")
_EPOCHS = re.compile(r"Epochs: 100%\|[^|]*\| (\d+)/(\d+)")


@dataclass(frozen=True)
class TimedRun:
    """One command's wall time, CPU time, exit code and output lines stamped with seconds."""

    seconds: float
    returncode: int
    lines: List[Tuple[float, str]]
    cpu_seconds: float = 0.0

    def tail(self, count: int = 30) -> str:
        """The last `count` lines of output, for error messages."""
        return "\n".join(text for _, text in self.lines[-count:])


def timed_run(command: Sequence[str], env: Mapping[str, str], log: Path,
              cwd: Optional[Path] = None) -> TimedRun:
    """Runs `command` to the end, stamping each output line as it arrives.

    Args:
        command: The command and its arguments.
        env: Its environment (PYTHONUNBUFFERED is set so lines arrive when written).
        log: A file for the stamped output (stdout and stderr together).
        cwd: Its working folder.
    """
    lines: List[Tuple[float, str]] = []
    log.parent.mkdir(parents=True, exist_ok=True)
    cpu_before = _children_cpu()
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out, subprocess.Popen(
            list(command), cwd=cwd, env={**env, "PYTHONUNBUFFERED": "1"}, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, errors="replace") as process:
        assert process.stdout is not None
        for text in process.stdout:
            stamp = time.perf_counter() - started
            lines.append((stamp, text.rstrip("\n")))
            out.write(f"{stamp:9.2f} {text}")
        returncode = process.wait()
    seconds = time.perf_counter() - started
    return TimedRun(seconds, returncode, lines, _children_cpu() - cpu_before)


def _children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _first(lines: Sequence[Tuple[float, str]], pattern: re.Pattern[str]) -> Optional[float]:
    return next((stamp for stamp, text in lines if pattern.search(text)), None)


def phases(run: TimedRun) -> Dict[str, float]:
    """Splits a `rasa train --debug` run into `PHASES` (seconds each, summing to the wall time).

    Missing markers make their phase 0: its time goes to the phase before.
    """
    lines = run.lines
    marks: List[Optional[float]] = [
        0.0,
        _first(lines, _NODE),
        _first(lines, _DIET_START),
        _first(lines, _DIET_END),
        _first(lines, _CORE_END),
        _first(lines, _SAVED),
        run.seconds,
    ]
    found: List[float] = []
    for mark in marks:  # a missing mark takes its predecessor's stamp (a phase of 0 s)
        found.append(found[-1] if mark is None or (found and mark < found[-1]) else mark)
    return {name: found[i + 1] - found[i] for i, name in enumerate(PHASES)}


def epochs(run: TimedRun) -> int:
    """How many epochs the DIETClassifier ran (0 if it was restored or not trained)."""
    done = [int(match.group(2)) for _, text in run.lines
            for match in [_EPOCHS.search(text)] if match]
    return done[-1] if done else 0


def training_env(cache: Path, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment of a timed training: Rasa's cache in `cache`, quiet TensorFlow.

    Args:
        cache: Rasa's training cache folder (a new empty one trains from scratch).
        base: The environment to start from; `os.environ` if None.
    """
    env = dict(os.environ if base is None else base)
    env.update({"RASA_CACHE_DIRECTORY": str(cache), "TF_CPP_MIN_LOG_LEVEL": "2",
                "RASA_TELEMETRY_ENABLED": "false", "PYTHONHASHSEED": "0"})
    return env
