"""Start-up benchmark: how long `make run` takes to answer its first message, and its memory.

Usage:
    python -m tools.startup_benchmark [--runs 3] [--model models/night-cramps.tar.gz]
                                      [--workers 1] [--load 20x10] [--phases 3]
                                      [--variant NAME:KEY=VALUE;...] [--output FILE]

Each run starts what `make run` starts, through tools/run.py itself (the action
server, Rasa with `--workers` Sanic workers, the demo page), on free ports, with
SQLite files and logs in a temporary folder, and times from the launch of
tools/run.py:

- the action server's `/health`, Rasa's `/`, the demo page's `/`;
- the first REST message answered with a real answer (not the "having trouble"
  one), sent as soon as Rasa's `/` answers;
- the line "The assistant is running" in run.py's output.

Then (`--load CONVERSATIONSxMESSAGES`, `0` skips) that many conversations at once
are sent through the REST channel while the memory of every process below run.py
is sampled from /proc: RSS and PSS (RSS with shared pages divided among the
processes sharing them) of the Rasa main process, each worker, the action
server and the demo page, at their peak over the load. The servers are stopped
after each run.

`--variant` adds a variant measured side by side, the runs of all variants
taking turns: its environment variables (e.g. `before:script=/tmp/run_before.py`
runs another copy of run.py; `arena2:MALLOC_ARENA_MAX=2` sets a variable;
`workers1:SANIC_WORKERS=1`). `current` is tools/run.py as it is.

`--phases N` also runs N fresh interpreters that load the model the way a Rasa
worker does, for the breakdown: interpreter start, importing TensorFlow, the
rest of Rasa's imports, loading the model (with each pipeline component's share,
from a profile of one extra load) and the first parse.

Prints medians over the runs; writes every figure to `--output`. Figures are
only comparable within one run of this script (the machine may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from tools.processes import BIN, ROOT, Server, descendants, free_port
from tools.run import DEFAULT_WORKERS

MODEL = ROOT / "models" / "night-cramps.tar.gz"
#: Seconds a run may take to answer its first message.
STARTUP_LIMIT = 300.0
#: Seconds between two checks of the servers while they start.
POLL_SECONDS = 0.05
#: The first message; its answer must be a real one.
FIRST_MESSAGE = "why do I get leg cramps at night?"
#: Environment variables left out of the servers' environment (a channel whose
#: variables are set would switch on; the API token would force one worker).
LEFT_OUT = ("TELEGRAM_", "SLACK_", "FACEBOOK_", "TWILIO_", "RASA_API_TOKEN", "SANIC_WORKERS")


@dataclass
class Memory:
    """Peak memory of one kind of process, in MiB (the sum over processes of that kind)."""

    rss_mib: float = 0.0
    pss_mib: float = 0.0
    processes: int = 0


@dataclass
class StartupRun:
    """One start of `make run`: seconds from launch, and memory."""

    actions_up: float = float("nan")
    rasa_up: float = float("nan")
    web_up: float = float("nan")
    first_answer: float = float("nan")
    ready_printed: float = float("nan")
    memory_after_start: Dict[str, Memory] = field(default_factory=dict)
    memory_peak_under_load: Dict[str, Memory] = field(default_factory=dict)
    load_messages_per_second: float = float("nan")


def endpoints_text(action_port: int, tmp: Path) -> str:
    """The default profile's endpoints (endpoints.yml) with this run's port and files."""
    return (f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n"
            "  enable_selective_domain: true\n"
            "tracker_store:\n  type: stores.privacy_tracker_store.PrivacySQLTrackerStore\n"
            f"  dialect: sqlite\n  db: {tmp / 'tracker.db'}\n"
            "lock_store:\n  type: stores.sqlite_lock_store.SQLiteLockStore\n"
            f"  db: {tmp / 'locks.db'}\n")


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def real_answer(base: str, text: str, sender: str, trouble: str) -> bool:
    """Whether a REST message gets a 200 with a real answer (not the `trouble` one)."""
    request = urllib.request.Request(
        f"{base}/webhooks/rest/webhook", method="POST",
        data=json.dumps({"sender": sender, "message": text}).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
        return False
    texts = [str(message.get("text", "")) for message in answer if isinstance(message, dict)]
    return bool(texts) and not any(trouble in part for part in texts)


def _proc_memory(pid: int) -> Tuple[float, float]:
    """RSS and PSS of a process in MiB (0, 0 if it is gone)."""
    values = {"Rss:": 0.0, "Pss:": 0.0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(" ")
            if name in values:
                values[name] = float(rest.split()[0]) / 1024
    except (OSError, ValueError):
        pass
    return values["Rss:"], values["Pss:"]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2:].split()[1])


def role(pid: int, rasa_main: set[int]) -> str:
    """What a process below run.py is: Rasa's main process, a worker, the action server..."""
    command = _cmdline(pid)
    if " run " in f"{command} " and "rasa" in command and "tools.run" not in command:
        return "rasa worker" if _parent(pid) in rasa_main else "rasa main"
    if "tools.action_server" in command:
        return "action server"
    if "serve_web" in command:
        return "demo page"
    if " -m console" in command:
        return "content console"
    return "other"


def memory_by_role(root: int) -> Dict[str, Memory]:
    """Memory of every process below `root` (and of `root`, as run.py), by role."""
    pids = descendants(root)
    rasa_main = {pid for pid in pids if " run " in _cmdline(pid) and "rasa" in _cmdline(pid)
                 and _parent(pid) not in pids}
    found: Dict[str, Memory] = {}
    for pid, kind in [(root, "run.py"), *((pid, role(pid, rasa_main)) for pid in pids)]:
        rss, pss = _proc_memory(pid)
        if not rss:
            continue
        entry = found.setdefault(kind, Memory())
        entry.rss_mib += rss
        entry.pss_mib += pss
        entry.processes += 1
    total = Memory(sum(m.rss_mib for m in found.values()), sum(m.pss_mib for m in found.values()),
                   sum(m.processes for m in found.values()))
    found["total"] = total
    return found


def peak(samples: List[Dict[str, Memory]]) -> Dict[str, Memory]:
    """Each role's highest RSS and PSS over the samples (total: the highest total)."""
    result: Dict[str, Memory] = {}
    for sample in samples:
        for kind, memory in sample.items():
            best = result.setdefault(kind, Memory())
            best.rss_mib = max(best.rss_mib, memory.rss_mib)
            best.pss_mib = max(best.pss_mib, memory.pss_mib)
            best.processes = max(best.processes, memory.processes)
    return result


def run_load(base: str, conversations: int, messages: int) -> float:
    """Sends `conversations` conversations of `messages` messages at once; messages/s."""
    from tools.load.deadline import Deadline  # imported by `main` before any launch
    from tools.load.traffic import System, concurrent_load, load_stories

    system = System("ours", [base], "")
    result = asyncio.run(concurrent_load(system, system.bases, conversations, messages,
                                         load_stories(), "startup-load",
                                         Deadline(time.monotonic() + 600)))
    return float(result["messages_per_second"])


@dataclass
class Variant:
    """What is started: run.py (or another script) with extra environment variables."""

    name: str
    script: Optional[Path] = None
    env: Dict[str, str] = field(default_factory=dict)
    runs: List[StartupRun] = field(default_factory=list)


def parse_variant(text: str) -> Variant:
    """`NAME:KEY=VALUE;KEY=VALUE` (`script=PATH` names another run.py).

    Raises:
        ValueError: The text has no name or a setting without `=`.
    """
    name, _, settings = text.partition(":")
    if not name.strip():
        raise ValueError(f"variant {text!r} has no name")
    variant = Variant(name.strip())
    for setting in filter(None, (part.strip() for part in settings.split(";"))):
        key, equals, value = setting.partition("=")
        if not equals:
            raise ValueError(f"variant {text!r}: {setting!r} is not KEY=VALUE")
        if key == "script":
            variant.script = Path(value)
        else:
            variant.env[key] = value
    return variant


def one_run(model: Path, workers: int, load: Tuple[int, int], tmp: Path, trouble: str,
            variant: Optional[Variant] = None) -> StartupRun:
    """Starts `make run`'s servers once, times them, measures memory, stops them.

    Args:
        model: The trained model.
        workers: Rasa's worker processes (`SANIC_WORKERS`), unless the variant sets them.
        load: Conversations and messages each sent after start-up (0: none).
        tmp: A folder for the SQLite files and logs.
        trouble: The "having trouble" answer's first paragraph: not a real answer.
        variant: What to start (default: tools/run.py as it is).
    """
    variant = variant or Variant("current")
    port, actions_port, web_port = free_port(), free_port(), free_port()
    endpoints = tmp / "endpoints.yml"
    endpoints.write_text(endpoints_text(actions_port, tmp))
    env = {key: value for key, value in os.environ.items() if not key.startswith(LEFT_OUT)}
    env.update(DELIVERY_IDS_DB=str(tmp / "delivery_ids.db"), SANIC_WORKERS=str(workers),
               TF_CPP_MIN_LOG_LEVEL="3", SQLALCHEMY_SILENCE_UBER_WARNING="1",
               RASA_TELEMETRY_ENABLED="false", PYTHONHASHSEED="0")
    env.update(variant.env)
    base = f"http://127.0.0.1:{port}"
    script = [str(variant.script)] if variant.script else ["-m", "tools.run"]
    server = Server("run", [str(BIN / "python"), *script, "--model", str(model),
                            "--port", str(port), "--actions-port", str(actions_port),
                            "--web-port", str(web_port), "--endpoints", str(endpoints)],
                    f"{base}/", env, tmp)
    result = StartupRun()
    launched = time.monotonic()
    server.start()
    try:
        assert server.process is not None
        while time.monotonic() - launched < STARTUP_LIMIT:
            if server.process.poll() is not None:
                raise RuntimeError(f"tools/run.py exited:\n{server.log_tail()}")
            now = lambda: time.monotonic() - launched  # noqa: E731
            if result.actions_up != result.actions_up and _get(
                    f"http://127.0.0.1:{actions_port}/health"):
                result.actions_up = now()
            if result.web_up != result.web_up and _get(f"http://127.0.0.1:{web_port}/"):
                result.web_up = now()
            if result.rasa_up != result.rasa_up and _get(f"{base}/"):
                result.rasa_up = now()
            if (result.rasa_up == result.rasa_up and result.first_answer != result.first_answer
                    and real_answer(base, FIRST_MESSAGE, "startup-benchmark", trouble)):
                result.first_answer = now()
            if result.ready_printed != result.ready_printed and \
                    "The assistant is running" in server.log_text():
                result.ready_printed = now()
            if all(value == value for value in (result.actions_up, result.web_up,
                                                 result.first_answer, result.ready_printed)):
                break
            time.sleep(POLL_SECONDS)
        else:
            raise RuntimeError(f"no answer within {STARTUP_LIMIT:.0f} s:\n{server.log_tail()}")
        result.memory_after_start = memory_by_role(server.process.pid)
        if load[0] and load[1]:
            samples: List[Dict[str, Memory]] = []
            done = threading.Event()

            def sample() -> None:
                assert server.process is not None
                while not done.is_set():
                    samples.append(memory_by_role(server.process.pid))
                    done.wait(0.25)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            try:
                result.load_messages_per_second = run_load(base, *load)
            finally:
                done.set()
                sampler.join()
            result.memory_peak_under_load = peak(samples)
    finally:
        server.stop()
    return result


def probe(model: Path, components: bool) -> Dict[str, Any]:
    """In this fresh interpreter, loads the model as a Rasa worker does; seconds per step."""
    started = time.time()
    figures: Dict[str, Any] = {"interpreter_started_at": started}
    import tensorflow  # noqa: F401

    figures["import_tensorflow"] = time.time() - started
    mark = time.time()
    import rasa.core.run  # noqa: F401
    from rasa.core.agent import Agent

    figures["import_rasa_rest"] = time.time() - mark
    mark = time.time()
    agent = Agent.load(str(model))
    figures["model_load"] = time.time() - mark
    mark = time.time()
    asyncio.run(agent.parse_message(FIRST_MESSAGE))
    figures["first_parse"] = time.time() - mark
    if components:
        figures["components"] = component_profile(model)
    return figures


def component_profile(model: Path) -> Dict[str, float]:
    """Seconds of each graph component's load or create, from cProfile of another load."""
    import cProfile
    import pstats

    from rasa.core.agent import Agent

    profiler = cProfile.Profile()
    profiler.enable()
    Agent.load(str(model))
    profiler.disable()
    stats = pstats.Stats(profiler)
    shares: Dict[str, float] = {}
    for (filename, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if name in ("load", "create") and ("rasa/nlu" in filename or "rasa/core/policies"
                                           in filename or "/components/" in filename
                                           or "/policies/" in filename):
            label = f"{Path(filename).stem}.{name}"
            shares[label] = shares.get(label, 0.0) + float(row[3])  # cumulative seconds
    shares["total (profiled)"] = sum(row[3] for key, row in stats.stats.items()  # type: ignore[attr-defined]
                                     if key[2] == "load" and key[0].endswith("agent.py"))
    return dict(sorted(shares.items(), key=lambda item: -item[1]))


def run_probe(model: Path, components: bool) -> Dict[str, Any]:
    """`probe` in a fresh interpreter; adds the interpreter's own start."""
    launched = time.time()
    output = subprocess.run(
        [str(BIN / "python"), "-m", "tools.startup_benchmark", "--probe", "--model", str(model),
         *(["--components"] if components else [])],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=STARTUP_LIMIT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false"})
    figures: Dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    figures["interpreter_start"] = figures.pop("interpreter_started_at") - launched
    return figures


def _median(values: List[float]) -> float:
    values = [value for value in values if value == value]
    return statistics.median(values) if values else float("nan")


def print_runs(runs: List[StartupRun], workers: int, name: str) -> None:
    """The runs' medians (and each run's figure) in seconds from launch, and memory."""
    print(f"\n[{name}] `make run` start-up, {len(runs)} runs, Rasa with {workers} worker(s); "
          "seconds from launching tools/run.py "
          "(median; each run):")
    for name, label in (("actions_up", "action server /health"), ("rasa_up", "Rasa /"),
                        ("web_up", "demo page /"), ("first_answer", "first answer (REST)"),
                        ("ready_printed", "'The assistant is running'")):
        values = [getattr(run, name) for run in runs]
        print(f"  {label:<30} {_median(values):6.1f}   "
              f"({', '.join(f'{v:.1f}' for v in values)})")
    for title, attribute in (("after start-up", "memory_after_start"),
                             ("peak under load", "memory_peak_under_load")):
        kinds = sorted({kind for run in runs for kind in getattr(run, attribute)},
                       key=lambda kind: (kind == "total", kind))
        if not kinds:
            continue
        print(f"\nMemory {title} (MiB, median over runs; RSS counts shared pages in every "
              "process, PSS divides them):")
        for kind in kinds:
            rows = [getattr(run, attribute).get(kind, Memory()) for run in runs]
            print(f"  {kind:<16} RSS {_median([m.rss_mib for m in rows]):7.0f}   PSS "
                  f"{_median([m.pss_mib for m in rows]):7.0f}   processes "
                  f"{max(m.processes for m in rows)}")
    rates = [run.load_messages_per_second for run in runs]
    if any(rate == rate for rate in rates):
        print(f"  load: {_median(rates):.1f} messages/s "
              f"({', '.join(f'{r:.1f}' for r in rates)})")


def print_phases(phases: List[Dict[str, Any]]) -> None:
    """The breakdown of one worker's start-up (median seconds over fresh interpreters)."""
    print(f"\nOne worker's start-up, step by step ({len(phases)} fresh interpreters; "
          "median seconds):")
    for name, label in (("interpreter_start", "interpreter start"),
                        ("import_tensorflow", "import tensorflow"),
                        ("import_rasa_rest", "the rest of Rasa's imports"),
                        ("model_load", "load the model (Agent.load)"),
                        ("first_parse", "first parse")):
        values = [float(p[name]) for p in phases]
        print(f"  {label:<30} {_median(values):6.2f}   "
              f"({', '.join(f'{v:.2f}' for v in values)})")
    profiled = next((p["components"] for p in phases if "components" in p), None)
    if profiled:
        print("  model load by component (one profiled load; cProfile slows Python code):")
        for name, seconds in list(profiled.items())[:12]:
            print(f"    {name:<40} {seconds:6.2f}")


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the start-ups (and the breakdown), prints the figures, writes the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help="Rasa's SANIC_WORKERS (default: make run's)")
    parser.add_argument("--load", default="20x10",
                        help="CONVERSATIONSxMESSAGES sent after start-up while memory is "
                             "sampled (0: none)")
    parser.add_argument("--phases", type=int, default=0,
                        help="fresh interpreters for the step-by-step breakdown (default 0)")
    parser.add_argument("--variant", nargs="+", default=[], metavar="NAME:KEY=VALUE;...",
                        help="more variants, side by side with `current` (see above)")
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "startup.json")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--components", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.model, args.components)))
        return 0
    # SIGTERM stops the servers of the run under way too (as Ctrl-C does).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # Imported now, not while a start-up is timed (they import Rasa and TensorFlow).
    import tools.load.traffic  # noqa: F401
    from runtime.action_calls import TROUBLE_TEXT

    if not args.model.exists():
        print(f"{args.model} is missing: run `make train` first", file=sys.stderr)
        return 2
    if args.runs < 0 or args.runs > 50 or args.phases < 0 or args.phases > 50:
        parser.error("--runs and --phases must be between 0 and 50")
    conversations, _, messages = args.load.partition("x")
    try:
        load = (int(conversations), int(messages or 0))
    except ValueError:
        parser.error("--load is CONVERSATIONSxMESSAGES, e.g. 20x10, or 0")
    try:
        variants = [Variant("current"), *map(parse_variant, args.variant)]
    except ValueError as error:
        parser.error(str(error))
    for number in range(args.runs):
        for variant in variants:
            with tempfile.TemporaryDirectory(prefix="startup-benchmark-") as tmp:
                variant.runs.append(one_run(args.model, args.workers, load, Path(tmp),
                                            TROUBLE_TEXT, variant))
            print(f"run {number + 1} of {args.runs}, {variant.name}: first answer after "
                  f"{variant.runs[-1].first_answer:.1f} s", flush=True)
    phases = [run_probe(args.model, components=number == 0) for number in range(args.phases)]
    print(f"\nMachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for variant in variants:
        if variant.runs:
            print_runs(variant.runs, int(variant.env.get("SANIC_WORKERS", args.workers)),
                       variant.name)
    if phases:
        print_phases(phases)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"workers": args.workers, "load": args.load,
                                       "variants": {v.name: {"env": v.env,
                                                             "script": str(v.script or ""),
                                                             "runs": [asdict(r) for r in v.runs]}
                                                    for v in variants},
                                       "phases": phases}, indent=1), encoding="utf-8")
    print(f"\nResults written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
