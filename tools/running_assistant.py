"""Starts the real action server and Rasa server (trained model, SQLite) on loopback.

Shared by the test suites and by the end-to-end evaluation (`make evaluate`). Each call gets its own
ports, its own SQLite file and its own copy of the content store. The servers run
as `make run` starts them: the action server through tools/action_server.py
(bound to 127.0.0.1), the project's tracker store (identifiers redacted,
"delete my data" honoured) and the request size limit (`server_env`); they are
started and stopped through tools/processes.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import requests

from connectors.credentials import write_active_credentials
from tools.processes import (
    Server,
    ServerGroup,
    action_server_command,
    free_port,
    server_env,
    serving,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "night-cramps.tar.gz"
TOKEN = "integration-test-token"
#: The tracker store of endpoints.yml and endpoints.prod.yml.
TRACKER_STORE = "stores.privacy_tracker_store.PrivacySQLTrackerStore"


@dataclass
class Assistant:
    """A running assistant: Rasa at `base`, its content copy, its SQLite file and logs."""

    base: str
    content: Path
    db: Path
    logs: Path
    servers: ServerGroup = field(default_factory=ServerGroup)

    def say(self, text: str, sender: str | None = None) -> List[Dict[str, Any]]:
        """Sends `text` through the REST channel and returns the bot's messages."""
        response = requests.post(f"{self.base}/webhooks/rest/webhook",
                                 json={"sender": sender or uuid.uuid4().hex, "message": text},
                                 timeout=60)
        assert response.status_code == 200, response.text
        return list(response.json())

    def tracker(self, sender: str) -> Dict[str, Any]:
        """The conversation's tracker, through the token-protected HTTP API."""
        response = requests.get(f"{self.base}/conversations/{sender}/tracker",
                                params={"token": TOKEN}, timeout=30)
        response.raise_for_status()
        return dict(response.json())

    def topic(self, sender: str) -> Any:
        """The conversation's `topic` slot."""
        return self.tracker(sender)["slots"].get("topic")

    def stop(self) -> None:
        """Stops Rasa and the action server (idempotent)."""
        self.servers.stop()


@contextlib.contextmanager
def running_assistant(
    tmp: Path,
    *,
    credentials: Optional[Path] = None,
    rasa_args: Sequence[str] = (),
    env: Optional[Mapping[str, str]] = None,
    enable_api: bool = True,
    tracker_store: Optional[str] = None,
    model: Path = MODEL,
) -> Iterator[Assistant]:
    """Runs the action server and Rasa until the block ends.

    Args:
        tmp: An empty folder for the content copy, the SQLite file and the logs.
        credentials: The credentials file; if None, the project's with only REST on.
        rasa_args: Extra arguments for `rasa run`, e.g. `("--cors", "http://x")`.
        env: Extra environment variables for both servers.
        enable_api: Whether Rasa's HTTP API is on (with the token `TOKEN`).
        tracker_store: The endpoints file's `tracker_store` section; if None, the
            project's store on an SQLite file in `tmp`.
        model: The trained model to serve.
    """
    if not model.exists():
        raise RuntimeError(f"{model} is missing: run `make train` first")
    content = tmp / "content"
    shutil.copytree(ROOT / "content", content)
    action_port, rasa_port = free_port(), free_port()
    endpoints = tmp / "endpoints.yml"
    db = tmp / "tracker.db"
    if tracker_store is None:
        tracker_store = f"tracker_store:\n  type: {TRACKER_STORE}\n  dialect: sqlite\n  db: {db}\n"
    endpoints.write_text(
        f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n{tracker_store}")
    if credentials is None:  # REST only: the messaging channels need their variables set
        credentials = tmp / "credentials.yml"
        write_active_credentials(ROOT / "credentials.yml", credentials, {})
    full_env = server_env({**os.environ, "CONTENT_DIR": str(content),
                           "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    api = ["--enable-api", "--auth-token", TOKEN] if enable_api else []
    actions = Server("actions", action_server_command(action_port),
                     f"http://127.0.0.1:{action_port}/health", full_env, tmp)
    rasa = Server("rasa", [str(BIN / "rasa"), "run", *api,
                           "--model", str(model), "--port", str(rasa_port),
                           "--interface", "127.0.0.1", "--endpoints", str(endpoints),
                           "--credentials", str(credentials), *rasa_args],
                  f"http://127.0.0.1:{rasa_port}/", full_env, tmp)
    with serving(actions, rasa) as servers:
        yield Assistant(f"http://127.0.0.1:{rasa_port}", content, db, tmp, servers)
