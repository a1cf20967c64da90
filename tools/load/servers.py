"""Starting and stopping the servers under test: commands, endpoints, process groups."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from tools import run

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "night-cramps.tar.gz"
STARTUP_TIMEOUT = 300.0  # seconds for a server to answer (model loading on busy cores)
BASE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "RASA_TELEMETRY_ENABLED": "false", "PYTHONHASHSEED": "0"}


@dataclass
class Group:
    """Processes started together, with their logs, stopped together."""

    logs: Path
    processes: List[subprocess.Popen[bytes]] = field(default_factory=list)
    waits: List[Tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, command: List[str], cwd: Path, env: Dict[str, str],
              health: str) -> subprocess.Popen[bytes]:
        """Starts a server; `wait` later waits for `health` to answer."""
        with open(self.logs / f"{name}.log", "wb") as log:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.waits.append((health, process))
        return process

    def wait(self) -> None:
        """Waits until every server answers; raises with the log tails if one does not."""
        for url, process in self.waits:
            if not run.wait_until_up(url, process, STARTUP_TIMEOUT):
                raise RuntimeError(f"{url} did not come up:\n{self.tails()}")
        self.waits.clear()

    def tails(self, lines: int = 15) -> str:
        """The end of every log."""
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self) -> None:
        """Stops every process (SIGTERM, then SIGKILL after 15 s)."""
        run.stop(self.processes)


def load_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The servers' environment: tools/run.py's `server_env`, quiet, plus `extra`."""
    return run.server_env({**os.environ, **BASE_ENV, **(extra or {})})


def action_server_command(port: int, actions: str = "actions") -> List[str]:
    """tools/run.py's action server command, serving the package `actions`."""
    command = run.action_server_command(port)
    command[command.index("--actions") + 1] = actions
    return command


def rasa_command(model: Path, port: int, endpoints: Path, credentials: Path,
                 token: str) -> List[str]:
    """`rasa run` on loopback with the HTTP API (for /model/parse) behind a token."""
    return [str(BIN / "rasa"), "run", "--model", str(model), "--port", str(port),
            "--interface", "127.0.0.1", "--endpoints", str(endpoints),
            "--credentials", str(credentials), "--enable-api", "--auth-token", token]


def project_endpoints(source: Path, action_url: str, db: Path,
                      tracker_store_type: Optional[str]) -> str:
    """The default profile's endpoints file, with this run's action port and SQLite file.

    Keeps every other setting of `source` (the tracker store's type and options, the
    action endpoint's options such as `enable_selective_domain`).
    """
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    action = dict(data.get("action_endpoint") or {})
    action["url"] = action_url
    store = dict(data.get("tracker_store") or {"type": "SQL", "dialect": "sqlite"})
    if str(store.get("dialect", "sqlite")) != "sqlite":
        raise SystemExit(f"{source}: the default profile's tracker store must be SQLite")
    store["db"] = str(db)
    if tracker_store_type:
        store["type"] = tracker_store_type
    data["action_endpoint"], data["tracker_store"] = action, store
    lock_store = data.get("lock_store")
    if isinstance(lock_store, dict) and "db" in lock_store:  # an SQLite lock file
        data["lock_store"] = {**lock_store, "db": str(db.with_name(f"{db.stem}-locks.db"))}
    return str(yaml.safe_dump(data, sort_keys=False))
