"""`make run` stops everything it started on Ctrl-C, SIGTERM or a server's death, stuck workers too.

tools/run.py starts the action server, Rasa with two Sanic workers
(`SANIC_WORKERS=2`; children of the `rasa run` process) and the demo page, on
free ports. One Rasa worker is
frozen with SIGSTOP: it cannot react to SIGTERM, as a worker stuck in a long
computation could not. After the signal, every process of the tree must be
gone within 15 s (the bound the project sets for stopping) and every port free.
So too when `rasa run` itself dies, leaving its workers behind.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from tests.servers import BIN, MODEL, ROOT
from tools.processes import Server, free_port

#: Seconds within which every process must be gone after the signal.
STOP_BOUND_SECONDS = 15.0
CHANNEL_VARIABLES = ("TELEGRAM_", "SLACK_", "FACEBOOK_", "TWILIO_")

#: A process as /proc knows it: its pid and start time (a reused pid has another).
Identity = Tuple[int, int]


def stat_fields(pid: int) -> Optional[List[str]]:
    """The fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def cmdline(pid: int) -> str:
    """The process's command line, with spaces between the arguments."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def tree(root: int) -> Dict[int, int]:
    """Every process below `root`, as {pid: parent pid}; read from /proc, not from run.py."""
    parents: Dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = stat_fields(int(entry.name))
        if fields is not None:
            parents[int(entry.name)] = int(fields[1])
    found: Dict[int, int] = {}
    todo = [root]
    while todo:
        parent = todo.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = ppid
                todo.append(pid)
    return found


def identity(pid: int) -> Optional[Identity]:
    fields = stat_fields(pid)
    return (pid, int(fields[19])) if fields else None  # field 22 of stat: start time


def running(process: Identity) -> bool:
    """Whether the process still exists and is not a zombie (exited, not yet reaped)."""
    fields = stat_fields(process[0])
    return fields is not None and int(fields[19]) == process[1] and fields[0] != "Z"


def bindable(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now (as servers bind: SO_REUSEADDR)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


def listening(port: int) -> bool:
    """Whether any TCP socket on the machine listens on `port` (/proc/net/tcp and tcp6)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                return True
    return False


@dataclass
class Run:
    """tools/run.py running: its process, its ports and every process below it."""

    process: subprocess.Popen[bytes]
    ports: List[int]
    log: Path
    processes: List[Identity]
    rasa: int  # the `rasa run` process
    rasa_workers: List[int]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    """tools/run.py as `SANIC_WORKERS=2 make run` starts it, on free ports and SQLite files."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    port, actions_port, web_port = free_port(), free_port(), free_port()
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        f"action_endpoint:\n  url: http://127.0.0.1:{actions_port}/webhook\n"
        "tracker_store:\n  type: stores.privacy_tracker_store.PrivacySQLTrackerStore\n"
        f"  dialect: sqlite\n  db: {tmp_path / 'tracker.db'}\n"
        f"lock_store:\n  type: stores.sqlite_lock_store.SQLiteLockStore\n"
        f"  db: {tmp_path / 'locks.db'}\n")
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(CHANNEL_VARIABLES) and k not in ("RASA_API_TOKEN", "SANIC_WORKERS")}
    env.update(CONTENT_DIR=str(content), DELIVERY_IDS_DB=str(tmp_path / "delivery_ids.db"),
               TF_CPP_MIN_LOG_LEVEL="3", SANIC_WORKERS="2")
    server = Server("run", [str(BIN / "python"), "-m", "tools.run", "--model", str(MODEL),
                            "--port", str(port), "--actions-port", str(actions_port),
                            "--web-port", str(web_port), "--endpoints", str(endpoints),
                            "--console-port", str(free_port())],
                    f"http://127.0.0.1:{port}/", env, tmp_path)
    log = server.log
    seen: List[Identity] = []
    try:
        server.start()
        assert server.process is not None
        process = server.process
        server.wait_up()
        server.wait_up(url=f"http://127.0.0.1:{web_port}/")
        deadline = time.monotonic() + 60
        while "The assistant is running" not in log.read_text():
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.2)
        # Both Rasa workers, once each has forked (the first may answer before the second
        # shows in /proc): bounded wait.
        deadline = time.monotonic() + 30
        while True:
            below = tree(process.pid)
            # The `rasa run` process run.py started; its forked workers share its command line.
            rasa = [pid for pid, parent in below.items() if parent == process.pid
                    and re.search(rf"(^|[ /])rasa run .*--port {port}\b", cmdline(pid))]
            assert len(rasa) == 1, {pid: cmdline(pid) for pid in below}
            workers = [pid for pid, parent in below.items() if parent == rasa[0]]
            if len(workers) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        seen = [i for i in map(identity, below) if i]
        assert len(workers) >= 2, f"Rasa has no 2 worker processes: {below}"
        assert not any(bindable(p) for p in (port, actions_port, web_port))
        assert all(listening(p) for p in (port, actions_port, web_port))
        yield Run(process, [port, actions_port, web_port], log, seen, rasa[0], workers)
    finally:
        # Whatever run.py left (this test then fails): frozen ones woken, all killed. Once
        # run.py has gone, they are no longer below it: they are known by their identity.
        for pid, _ in [p for p in seen if running(p)]:
            for signum in (signal.SIGKILL, signal.SIGCONT):
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass
        server.kill()  # run.py itself, if it still runs, with what is still below it


def freeze(pid: int) -> None:
    """SIGSTOPs the process and waits until it is stopped (signals arrive asynchronously)."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while (stat_fields(pid) or ["gone"])[0] != "T":
        assert time.monotonic() < deadline, f"process {pid} did not stop: {stat_fields(pid)}"
        time.sleep(0.05)


def stop_time(run: Run, since: float) -> float:
    """Seconds from `since` until run.py and every process below it are gone (or the bound)."""
    deadline = since + STOP_BOUND_SECONDS
    while time.monotonic() < deadline and (
            run.process.poll() is None or any(running(p) for p in run.processes)):
        time.sleep(0.1)
    return time.monotonic() - since


def assert_all_gone(run: Run, took: float, exit_code: int) -> None:
    """run.py exited with `exit_code`, nothing it started runs, its ports are free."""
    left = {pid: cmdline(pid) for pid, started in run.processes if running((pid, started))}
    assert run.process.poll() == exit_code, f"run.py still runs or failed:\n{run.log.read_text()}"
    assert not left, f"still running {took:.1f} s after the signal: {left}"
    assert took <= STOP_BOUND_SECONDS
    # A port that cannot be bound must at least have no server on it: a client anywhere on
    # the machine may have been given it as its local port since.
    # A killed process's sockets close as it exits, which can trail its disappearance
    # from the process table by a moment: the ports get what is left of the bound.
    deadline = time.monotonic() + max(0.0, STOP_BOUND_SECONDS - took)
    busy = [port for port in run.ports if not bindable(port) and listening(port)]
    while busy and time.monotonic() < deadline:
        time.sleep(0.1)
        busy = [port for port in run.ports if not bindable(port) and listening(port)]
    assert not busy, f"ports (of Rasa, the action server, the page: {run.ports}) still taken " \
                     f"{STOP_BOUND_SECONDS} s after the signal: {busy}"
    assert "Stopped." in run.log.read_text()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_everything_stops_within_15_s_with_a_stuck_worker(run: Run, signum: int) -> None:
    freeze(run.rasa_workers[0])

    signalled = time.monotonic()
    run.process.send_signal(signum)
    took = stop_time(run, signalled)

    assert_all_gone(run, took, exit_code=0)
    print(f"everything stopped {took:.1f} s after {signal.Signals(signum).name}")


def test_a_server_dying_stops_the_rest_and_its_orphaned_workers(run: Run) -> None:
    # `rasa run` killed outright: its workers live on without it, holding the port.
    freeze(run.rasa_workers[0])
    killed = time.monotonic()
    os.kill(run.rasa, signal.SIGKILL)
    took = stop_time(run, killed)

    assert_all_gone(run, took, exit_code=1)
    assert "A server stopped unexpectedly" in run.log.read_text()
    print(f"everything stopped {took:.1f} s after `rasa run` was killed")
