"""Starting and stopping server processes: the one helper of tools/run.py, the tools and the tests.

Every server runs in a process group of its own (`ServerProcess`), so Sanic's
worker processes (children of `rasa run`) are stopped with it. `stop` sends
SIGTERM to the groups and to every descendant, and SIGKILL to whatever still
runs after a grace period; `kill` sends SIGKILL at once, as a crash would.

For a server with a log file and a health URL: `Server` (start, wait until up,
kill, stop, restart on the same port, the log's tail), `ServerGroup` (servers
started together, stopped together) and `serving(...)`, which starts servers,
waits until they answer and always stops them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

#: Largest request body Rasa accepts (Sanic answers 413 above it). A channel's
#: webhook payload is a few KiB; a 2,000-character message is under 15 KiB of JSON.
REQUEST_MAX_SIZE = 256 * 1024
#: Seconds the servers get to exit after SIGTERM before they are killed. Sanic lets
#: requests in flight finish for up to 15 s; stopping is bounded by 15 s altogether.
STOP_GRACE_SECONDS = 10.0
#: Seconds to wait for killed processes to disappear.
KILL_WAIT_SECONDS = 4.0
#: Seconds for a server to answer its health URL (model loading on 2 busy cores).
STARTUP_TIMEOUT = 300.0
#: Seconds between two polls of a starting server's health URL (a poll costs about a
#: millisecond; a longer pause would add up to its length to every start-up).
POLL_SECONDS = 0.1


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def distinct_ports(count: int) -> List[int]:
    """`count` different free ports."""
    ports: List[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Polls `url` until it answers 200, the process dies, or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(POLL_SECONDS)
    return False


def server_env(base: Mapping[str, str]) -> Dict[str, str]:
    """The servers' environment: `base`, with the request size limit unless set."""
    return {**base, "TF_CPP_MIN_LOG_LEVEL": base.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            "SANIC_REQUEST_MAX_SIZE": base.get("SANIC_REQUEST_MAX_SIZE") or str(REQUEST_MAX_SIZE)}


def action_server_command(port: int, actions: str = "actions") -> List[str]:
    """Starts the action server (bound to 127.0.0.1 unless $ACTION_SERVER_HOST is set).

    Args:
        port: The port to listen on.
        actions: The package of actions to serve.
    """
    return [str(BIN / "python"), "-m", "tools.action_server",
            "--port", str(port), "--actions", actions]


class ServerProcess(subprocess.Popen[bytes]):
    """A server started in a session of its own.

    Its process group holds it and every process it forks (Sanic's worker
    processes are children of the `rasa run` process), so `stop` can signal them
    all, even after the server itself has died. The server gets no signal from
    the terminal: Ctrl-C reaches the process that started it alone.
    """

    def __init__(self, args: List[str], **kwargs: Any) -> None:
        """Starts `args` as `subprocess.Popen` does, in a new session."""
        super().__init__(args, start_new_session=True, **kwargs)


@dataclass(frozen=True)
class ProcessInfo:
    """One line of the process table: a process's parent, group and state."""

    ppid: int
    pgid: int
    state: str  # e.g. R running, S sleeping, T stopped, Z zombie (exited, not yet reaped)


def process_table() -> Dict[int, ProcessInfo]:
    """Every process on the machine, read from /proc (empty where there is no /proc)."""
    table: Dict[int, ProcessInfo] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = ProcessInfo(int(fields[1]), int(fields[2]), fields[0])
    return table


def descendants(pid: int, table: Optional[Mapping[int, ProcessInfo]] = None) -> List[int]:
    """The processes below `pid` in the process tree (children, their children...)."""
    table = process_table() if table is None else table
    children: Dict[int, List[int]] = {}
    for child, info in table.items():
        children.setdefault(info.ppid, []).append(child)
    found: List[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _signal(pid: int, signum: int, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _group_exists(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Stop:
    """Signals processes, their process groups and their descendants (see `stop`)."""

    def __init__(self, processes: Sequence[subprocess.Popen[bytes]]) -> None:
        self.processes = list(processes)
        self.groups = [p.pid for p in self.processes if isinstance(p, ServerProcess)]
        table = process_table()
        # Remembered now: a process whose parent dies is moved under another one.
        self.tree = {pid for p in self.processes if p.poll() is None
                     for pid in descendants(p.pid, table)}

    def alive(self) -> bool:
        """Whether any of the processes, their groups or their descendants still runs."""
        running = [p for p in self.processes if p.poll() is None]  # poll() reaps
        table = process_table()
        if not table:  # no /proc: ask the kernel about the groups themselves
            return bool(running) or any(_group_exists(group) for group in self.groups)
        groups = set(self.groups)
        return bool(running) or any(
            info.state != "Z" and (info.pgid in groups or pid in self.tree)
            for pid, info in table.items())

    def send(self, signum: int) -> None:
        """Sends `signum` to every process group, process and descendant still there."""
        for group in self.groups:
            _signal(group, signum, group=True)
        for process in self.processes:
            if process.poll() is None and not isinstance(process, ServerProcess):
                process.send_signal(signum)
        for pid in self.tree:
            _signal(pid, signum, group=False)

    def wait(self, seconds: float, hurry: Callable[[], bool] = lambda: False) -> bool:
        """Waits until all are gone (True), `seconds` pass or `hurry()` says so (False)."""
        deadline = time.monotonic() + seconds
        while self.alive():
            if time.monotonic() >= deadline or hurry():
                return False
            time.sleep(0.1)
        return True

    def kill(self) -> None:
        """SIGKILL to all; returns once they are gone (normally within milliseconds)."""
        self.send(signal.SIGKILL)
        self.wait(KILL_WAIT_SECONDS)
        for process in self.processes:
            if process.poll() is None:  # should not happen after SIGKILL; never leave a zombie
                process.kill()
                process.wait()


def stop(processes: Sequence[subprocess.Popen[bytes]], grace: float = STOP_GRACE_SECONDS,
         hurry: Callable[[], bool] = lambda: False) -> None:
    """Stops the processes and everything they started, within `grace` + a few seconds.

    Each gets SIGTERM: a `ServerProcess` through its whole process group, so
    Sanic's worker processes get it too, and every descendant found in the
    process tree (also those that left the group). What still runs after
    `grace` seconds, or once `hurry()` is true, gets SIGKILL: a stuck or stopped
    worker cannot hold its port. Returns when all are gone (SIGKILL'ed
    processes normally within milliseconds; at most `KILL_WAIT_SECONDS`).

    Args:
        processes: The processes started (plain `Popen`s are signalled alone,
            with their descendants).
        grace: Seconds to wait for a clean exit after SIGTERM.
        hurry: Called while waiting; true (e.g. after a second Ctrl-C) skips
            the rest of the grace period.
    """
    stopping = _Stop(processes)
    stopping.send(signal.SIGTERM)
    if stopping.wait(grace, hurry):
        return
    still = [p.pid for p in processes if p.poll() is None]
    print(f"Killing what still runs (processes {still or 'left in their groups'}).",
          file=sys.stderr, flush=True)
    stopping.kill()


def kill(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGKILL to the processes, their groups and descendants at once, as in a crash.

    Nothing gets a chance to finish requests or release locks; returns once all
    are gone, so their ports are free.
    """
    _Stop(processes).kill()


class ServerNotUp(RuntimeError):
    """A server exited, or did not answer its health URL in time."""


@dataclass
class Server:
    """One server process, its log (`<logs>/<name>.log`) and its health URL.

    It can be killed and started again on the same port; its output of every
    start is appended to the log.
    """

    name: str
    command: List[str]
    health: str
    env: Mapping[str, str]
    logs: Path
    cwd: Path = ROOT
    process: Optional[ServerProcess] = None
    starts: int = 0

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.logs / f"{self.name}.log"

    def start(self) -> None:
        """Starts the process in a process group of its own (output appended to the log).

        Raises:
            RuntimeError: It is running already.
        """
        if self.running():
            raise RuntimeError(f"{self.name} is running already")
        self.starts += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            log.write(f"===== {self.name} start {self.starts} =====\n".encode())
            log.flush()
            self.process = ServerProcess(self.command, cwd=self.cwd, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT)

    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def wait_up(self, timeout: float = STARTUP_TIMEOUT, url: Optional[str] = None) -> None:
        """Waits until the health URL (or `url`) answers 200.

        Raises:
            ServerNotUp: The server exited or did not answer within `timeout`
                seconds (the message holds the end of its log).
        """
        url = url or self.health
        if self.process is None or not wait_until_up(url, self.process, timeout):
            raise ServerNotUp(f"{self.name} did not come up at {url}:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL to the server and its workers, as a crash (see `kill`)."""
        if self.process is not None:
            kill([self.process])

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stops the server and its workers (see `stop`); does nothing if none runs."""
        if self.process is not None:
            stop([self.process], grace)

    def log_text(self) -> str:
        """The server's whole log ("" before the first start)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, headed by its name."""
        return f"--- {self.name}\n" + "\n".join(self.log_text().splitlines()[-lines:])


@dataclass
class ServerGroup:
    """Servers started together, waited for together and stopped together."""

    servers: List[Server] = field(default_factory=list)

    def start(self, server: Server) -> Server:
        """Starts `server` and adds it to the group (then it is stopped with the rest)."""
        self.servers.append(server)
        server.start()
        return server

    def wait_up(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Waits until every server answers (each gets `timeout` seconds).

        Raises:
            ServerNotUp: One did not come up; the message holds every log's tail.
        """
        for server in self.servers:
            try:
                server.wait_up(timeout)
            except ServerNotUp as error:
                others = [other.log_tail() for other in self.servers if other is not server]
                raise ServerNotUp("\n".join([str(error), *others])) from None

    def log_tails(self, lines: int = 30) -> str:
        """The end of every server's log, for failure messages."""
        return "\n".join(server.log_tail(lines) for server in self.servers)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stops every server at once (see `stop`)."""
        stop([server.process for server in self.servers if server.process is not None], grace)


@contextlib.contextmanager
def serving(*servers: Server, timeout: float = STARTUP_TIMEOUT) -> Iterator[ServerGroup]:
    """Starts the servers, waits until each answers, and stops them all when the block ends.

    They are stopped also when one fails to start (`ServerNotUp`) or the block raises.

    Args:
        servers: The servers, started in this order (and all before any is waited for).
        timeout: Seconds each server gets to answer its health URL.
    """
    group = ServerGroup()
    try:
        for server in servers:
            group.start(server)
        group.wait_up(timeout)
        yield group
    finally:
        group.stop()
