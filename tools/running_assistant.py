"""Starts the real action server and Rasa server (trained model, SQLite) on loopback.

Shared by the test suites and by the end-to-end evaluation (`make evaluate`). Each call gets its own
ports, its own SQLite file and its own copy of the content store. The servers run
as `make run` starts them: the action server through tools/action_server.py
(bound to 127.0.0.1), the project's tracker store (identifiers redacted,
"delete my data" honoured) and the request size limit of tools/run.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import requests

from connectors.credentials import write_active_credentials
from tools.run import action_server_command, free_port, server_env, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "night-cramps.tar.gz"
TOKEN = "integration-test-token"
#: The tracker store of endpoints.yml and endpoints.prod.yml.
TRACKER_STORE = "stores.privacy_tracker_store.PrivacySQLTrackerStore"


@dataclass
class Assistant:
    """A running assistant: Rasa at `base`, its content copy and its SQLite file."""

    base: str
    content: Path
    db: Path
    logs: Path
    processes: List[subprocess.Popen[bytes]] = field(default_factory=list)

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
        stop(self.processes)


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
    with open(tmp / "actions.log", "w") as actions_log, open(tmp / "rasa.log", "w") as rasa_log:
        actions = subprocess.Popen(
            action_server_command(action_port),
            cwd=ROOT, env=full_env, stdout=actions_log, stderr=subprocess.STDOUT)
        api = ["--enable-api", "--auth-token", TOKEN] if enable_api else []
        rasa = subprocess.Popen(
            [str(BIN / "rasa"), "run", *api,
             "--model", str(model), "--port", str(rasa_port), "--interface", "127.0.0.1",
             "--endpoints", str(endpoints),
             "--credentials", str(credentials), *rasa_args],
            cwd=ROOT, env=full_env, stdout=rasa_log, stderr=subprocess.STDOUT)
        assistant = Assistant(f"http://127.0.0.1:{rasa_port}", content, db, tmp, [rasa, actions])
        try:
            for url, server in ((f"http://127.0.0.1:{action_port}/health", actions),
                                (f"http://127.0.0.1:{rasa_port}/", rasa)):
                if not wait_until_up(url, server, 300):
                    raise RuntimeError(f"{url} did not come up (see logs in {tmp})")
            yield assistant
        finally:
            assistant.stop()
