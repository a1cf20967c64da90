"""The servers under test: their environment, commands and endpoints files.

They are started and stopped through tools/processes.py (`ServerGroup`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from tools.processes import server_env

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "night-cramps.tar.gz"
BASE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "RASA_TELEMETRY_ENABLED": "false", "PYTHONHASHSEED": "0"}


def load_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The servers' environment: `server_env`, quiet, plus `extra`."""
    return server_env({**os.environ, **BASE_ENV, **(extra or {})})


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
