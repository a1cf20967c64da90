"""Memory of `make run` under load, process by process, and the action server's start-up.

Usage:
    python -m tools.memory_benchmark [--model models/night-cramps.tar.gz]
        [--conversations 20] [--messages 10] [--starts 3] [--interval 0.2]

Two parts, in one run:

1. **The action server alone, side by side**: `--starts` times each, in turn,
   as `make run` starts it (tools/action_server.py, no TensorFlow), with
   `--allow-tensorflow` (as before), and as `rasa run actions` (Rasa's command,
   which loads TensorFlow through spaCy): seconds until `/health` answers,
   seconds until a first real action call is answered, and RSS after it.
   Medians are printed.
2. **All of `make run`**: `python -m tools.run` itself (action server, Rasa with
   its worker processes, the demo page server) on free ports, with the tracker
   and lock stores in a temporary folder. Once it answers, `--conversations`
   conversations at once each send `--messages` messages through the REST
   channel (the stories of tests/test_conversations.yml, as the load benchmark
   sends them). Every `--interval` seconds, from start-up to the end of the load,
   each process below tools/run.py is sampled from /proc: RSS (VmRSS), PSS and
   USS (private pages, from smaps_rollup). The peak of each process is printed,
   with the peak of the sum over all processes at one sample. RSS counts pages
   shared by Rasa's forked workers once per process; PSS shares them out, so the
   PSS total is what the processes take together.

Targets (issue 15): the action server within 200 MB RSS; all of `make run`
within 1.5 GB. Memory figures are MiB (1,048,576 bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import requests
import yaml

from tools.processes import (
    BIN,
    ROOT,
    ServerProcess,
    action_server_command,
    descendants,
    free_port,
    server_env,
    stop,
    wait_until_up,
)

MIB = 1024 * 1024
ACTION_SERVER_TARGET_MIB = 200
TOTAL_TARGET_MIB = 1536  # 1.5 GiB
#: A real action call: a topic question whose text the safety net reads.
ACTION_CALL = {
    "next_action": "action_answer_question", "sender_id": "memory-benchmark",
    "tracker": {"sender_id": "memory-benchmark", "events": [], "slots": {},
                "latest_message": {"text": "why do my calves cramp at night?",
                                   "intent": {"name": "ask_causes"}}}}


@dataclass(frozen=True)
class Memory:
    """One process's memory at one moment, in bytes (PSS and USS 0 when unreadable)."""

    rss: int
    pss: int = 0
    uss: int = 0


def read_memory(pid: int) -> Optional[Memory]:
    """RSS from /proc/<pid>/status, PSS and USS from smaps_rollup (None if gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in fields:  # a zombie
        return None
    rss = int(fields["VmRSS"].split()[0]) * 1024
    pss = uss = 0
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return Memory(rss)
    for line in rollup.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            if parts[0] == "Pss:":
                pss = int(parts[1]) * 1024
            elif parts[0] in ("Private_Clean:", "Private_Dirty:"):
                uss += int(parts[1]) * 1024
    return Memory(rss, pss, uss)


def command_line(pid: int) -> List[str]:
    """The process's arguments ([] if gone)."""
    try:
        return [part.decode(errors="replace")
                for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if part]
    except OSError:
        return []


def role(pid: int, parent_roles: Mapping[int, str], ppid: int) -> str:
    """What a process of `make run` is, from its command line and its parent."""
    argv = command_line(pid)
    text = " ".join(argv)
    for module, name in (("action_server", "action server"), ("serve_web", "web page server"),
                         ("run", "tools/run.py")):
        if f"tools.{module}" in argv or any(part.endswith(f"tools/{module}.py") for part in argv):
            return name
    if parent_roles.get(ppid, "").startswith("rasa"):
        return "rasa worker" if "rasa" in text and "run" in argv else "rasa helper"
    if any(part.endswith("/rasa") for part in argv) and "run" in argv:
        return "rasa run (main)"
    if "-m" in argv and "console" in argv:
        return "content console"
    return "other"


@dataclass
class Peaks:
    """Per process: its role and peak memory; and the peak of the sums over a sample."""

    roles: Dict[int, str] = field(default_factory=dict)
    peaks: Dict[int, Memory] = field(default_factory=dict)
    total: Memory = field(default_factory=lambda: Memory(0))
    samples: int = 0

    def add(self, sample: Dict[int, Memory]) -> None:
        """Folds one sample (pid -> memory) into the peaks."""
        self.samples += 1
        for pid, memory in sample.items():
            peak = self.peaks.get(pid, Memory(0))
            self.peaks[pid] = Memory(max(peak.rss, memory.rss), max(peak.pss, memory.pss),
                                     max(peak.uss, memory.uss))
        self.total = Memory(max(self.total.rss, sum(m.rss for m in sample.values())),
                            max(self.total.pss, sum(m.pss for m in sample.values())),
                            max(self.total.uss, sum(m.uss for m in sample.values())))


class Sampler:
    """Samples every process below a root process until stopped (a thread)."""

    def __init__(self, root: int, interval: float) -> None:
        """Samples `root` and its descendants every `interval` seconds once started."""
        self.root = root
        self.interval = interval
        self.peaks = Peaks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def sample(self) -> None:
        """Reads every process once."""
        from tools.processes import process_table

        table = process_table()
        pids = [self.root, *descendants(self.root, table)]
        sample: Dict[int, Memory] = {}
        for pid in sorted(pids):  # parents before their children
            memory = read_memory(pid)
            if memory is None:
                continue
            if pid not in self.peaks.roles:
                ppid = table[pid].ppid if pid in table else 0
                self.peaks.roles[pid] = role(pid, self.peaks.roles, ppid)
            sample[pid] = memory
        self.peaks.add(sample)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        """Starts sampling."""
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stops sampling, after one last sample."""
        self._stop.set()
        self._thread.join()
        self.sample()


# --- 1. the action server alone ---------------------------------------------------------

@dataclass(frozen=True)
class Start:
    """One start of the action server: seconds to /health, to a first answer; RSS then."""

    up_s: float
    answer_s: float
    rss: int


#: The ways of starting the action server that part 1 compares: port -> command.
ACTION_SERVERS: Dict[str, Callable[[int], List[str]]] = {
    "without TensorFlow": action_server_command,
    "with TensorFlow": lambda port: [*action_server_command(port), "--allow-tensorflow"],
    "rasa run actions": lambda port: [str(BIN / "rasa"), "run", "actions", "--port", str(port)],
}


def start_action_server(command: List[str], port: int, logs: Path) -> Start:
    """Starts an action server on `port`, calls one action, reads its memory, stops it."""
    env = server_env({k: v for k, v in os.environ.items() if k != "CONTENT_DB_URL"})
    with open(logs / "action-server.log", "ab") as log:
        started = time.perf_counter()
        process = ServerProcess(command, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        if not wait_until_up(f"http://127.0.0.1:{port}/health", process, 120):
            raise SystemExit(f"the action server did not start; see {logs}/action-server.log")
        up = time.perf_counter() - started
        response = requests.post(f"http://127.0.0.1:{port}/webhook", json=ACTION_CALL,
                                 timeout=60)
        response.raise_for_status()
        answered = time.perf_counter() - started
        memory = read_memory(process.pid)
        return Start(up, answered, memory.rss if memory else 0)
    finally:
        stop([process])


def action_server_side_by_side(starts: int, logs: Path) -> Dict[str, List[Start]]:
    """`starts` starts of each of `ACTION_SERVERS`, in turn."""
    runs: Dict[str, List[Start]] = {name: [] for name in ACTION_SERVERS}
    for _ in range(starts):
        for name, command in ACTION_SERVERS.items():
            port = free_port()
            runs[name].append(start_action_server(command(port), port, logs))
    return runs


# --- 2. all of make run under load ------------------------------------------------------

def endpoints_in(folder: Path, actions_port: int) -> Path:
    """endpoints.yml with its SQLite files in `folder` and the action server's port."""
    data = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    data["action_endpoint"]["url"] = f"http://127.0.0.1:{actions_port}/webhook"
    data["tracker_store"]["db"] = str(folder / "tracker.db")
    data["lock_store"]["db"] = str(folder / "locks.db")
    path = folder / "endpoints.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class RunResult:
    """What the make-run part measured."""

    peaks: Peaks
    load: Dict[str, Any]
    up_s: float


def measure_make_run(model: str, conversations: int, messages: int, interval: float,
                     folder: Path) -> RunResult:
    """Starts tools/run.py, loads it through the REST channel, samples its processes."""
    from tools.load.deadline import Deadline
    from tools.load.traffic import System, concurrent_load, load_stories

    port, actions_port, web_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RASA_API_TOKEN", "SANIC_WORKERS")}
    env["DELIVERY_IDS_DB"] = str(folder / "delivery_ids.db")
    command = [str(BIN / "python"), "-m", "tools.run", "--model", model, "--port", str(port),
               "--actions-port", str(actions_port), "--web-port", str(web_port),
               "--console-port", str(free_port()),
               "--endpoints", str(endpoints_in(folder, actions_port))]
    with open(folder / "make-run.log", "ab") as log:
        started = time.perf_counter()
        run = ServerProcess(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with Sampler(run.pid, interval) as sampler:
            for url in (f"http://localhost:{port}/", f"http://localhost:{web_port}/"):
                if not wait_until_up(url, run, 300):
                    raise SystemExit(f"make run did not come up; see {folder}/make-run.log")
            up = time.perf_counter() - started
            system = System("ours", [f"http://localhost:{port}"], "")
            load = asyncio.run(concurrent_load(
                system, system.bases, conversations, messages, load_stories(), "memory",
                Deadline(time.monotonic() + 600)))
        return RunResult(sampler.peaks, load, up)
    finally:
        stop([run])


# --- output -----------------------------------------------------------------------------

def mib(value: int) -> str:
    """Bytes as whole MiB."""
    return f"{value / MIB:,.0f}"


def verdict(value_mib: float, target_mib: int) -> str:
    """`met` or `missed`, with the figures."""
    return f"{value_mib:,.0f} MiB {'<=' if value_mib <= target_mib else '>'} {target_mib} MiB: " \
           f"{'met' if value_mib <= target_mib else 'missed'}"


def print_starts(runs: Dict[str, List[Start]]) -> None:
    """The action server's start-up table."""
    starts = len(next(iter(runs.values())))
    print(f"\nThe action server alone (median of {starts} starts each, in turn):")
    print(f"  {'':20} {'up (s)':>8} {'first answer (s)':>17} {'RSS after it (MiB)':>19}")
    for name, values in runs.items():
        print(f"  {name:20} {statistics.median(v.up_s for v in values):8.2f} "
              f"{statistics.median(v.answer_s for v in values):17.2f} "
              f"{mib(int(statistics.median(v.rss for v in values))):>19}")


def print_run(result: RunResult, conversations: int, messages: int) -> Tuple[int, int]:
    """The make-run table; returns the action server's peak RSS and the total's."""
    peaks = result.peaks
    load = result.load
    print(f"\nAll of make run (tools/run.py), up in {result.up_s:.1f} s, then "
          f"{conversations} conversations x {messages} messages through the REST channel: "
          f"{load['messages']} sent, {load['failed']} failed, "
          f"{load['messages_per_second']:.1f} messages/s, p50 {load['p50_ms']:.0f} ms, "
          f"p99 {load['p99_ms']:.0f} ms; {peaks.samples} samples.")
    print(f"  {'process (peak over the run)':30} {'pid':>7} {'RSS MiB':>8} {'PSS MiB':>8} "
          f"{'USS MiB':>8}")
    order = ["tools/run.py", "action server", "rasa run (main)", "rasa worker", "rasa helper",
             "web page server", "content console", "other"]
    for pid in sorted(peaks.peaks, key=lambda p: (order.index(peaks.roles[p]), p)):
        memory = peaks.peaks[pid]
        print(f"  {peaks.roles[pid]:30} {pid:>7} {mib(memory.rss):>8} {mib(memory.pss):>8} "
              f"{mib(memory.uss):>8}")
    total = peaks.total
    print(f"  {'all together (peak of the sum)':30} {'':>7} {mib(total.rss):>8} "
          f"{mib(total.pss):>8} {mib(total.uss):>8}")
    actions = max((m.rss for pid, m in peaks.peaks.items()
                   if peaks.roles[pid] == "action server"), default=0)
    return actions, total.rss


def main(argv: Optional[List[str]] = None) -> int:
    """Runs both parts and prints the figures against the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "night-cramps.tar.gz"))
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--starts", type=int, default=3,
                        help="starts of the action server alone, each way (0: skip)")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    args = parser.parse_args(argv)
    if not Path(args.model).is_file():
        parser.error(f"no model at {args.model} (make train)")
    with tempfile.TemporaryDirectory(prefix="memory-benchmark-") as folder:
        logs = Path(folder)
        runs = action_server_side_by_side(args.starts, logs) if args.starts else {}
        result = measure_make_run(args.model, args.conversations, args.messages,
                                  args.interval, logs)
        if runs:
            print_starts(runs)
        actions, total = print_run(result, args.conversations, args.messages)
    pss = result.peaks.total.pss
    print("\nTargets:")
    print(f"  action server, peak RSS: {verdict(actions / MIB, ACTION_SERVER_TARGET_MIB)}")
    print(f"  all of make run, peak RSS (shared pages counted per process): "
          f"{verdict(total / MIB, TOTAL_TARGET_MIB)}")
    print(f"  all of make run, peak PSS (shared pages shared out): "
          f"{verdict(pss / MIB, TOTAL_TARGET_MIB)}")
    return 0 if result.load["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
