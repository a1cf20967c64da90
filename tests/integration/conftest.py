"""Starts the real action server and Rasa server (trained model, SQLite) on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests

from scripts.run import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "night-cramps.tar.gz"
TOKEN = "integration-test-token"


@dataclass
class Assistant:
    base: str
    content: Path
    db: Path

    def say(self, text: str, sender: str | None = None) -> List[Dict[str, Any]]:
        response = requests.post(f"{self.base}/webhooks/rest/webhook",
                                 json={"sender": sender or uuid.uuid4().hex, "message": text},
                                 timeout=60)
        assert response.status_code == 200, response.text
        return list(response.json())

    def tracker(self, sender: str) -> Dict[str, Any]:
        response = requests.get(f"{self.base}/conversations/{sender}/tracker",
                                params={"token": TOKEN}, timeout=30)
        response.raise_for_status()
        return dict(response.json())

    def topic(self, sender: str) -> Any:
        return self.tracker(sender)["slots"].get("topic")


@pytest.fixture(scope="session")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    tmp = tmp_path_factory.mktemp("assistant")
    content = tmp / "content"
    shutil.copytree(ROOT / "content", content)
    action_port, rasa_port = free_port(), free_port()
    endpoints = tmp / "endpoints.yml"
    db = tmp / "tracker.db"
    endpoints.write_text(
        f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n"
        f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {db}\n")
    env = {**os.environ, "CONTENT_DIR": str(content), "TF_CPP_MIN_LOG_LEVEL": "3"}
    logs = [open(tmp / "actions.log", "w"), open(tmp / "rasa.log", "w")]
    actions = subprocess.Popen(
        [str(BIN / "rasa"), "run", "actions", "--port", str(action_port)],
        cwd=ROOT, env=env, stdout=logs[0], stderr=subprocess.STDOUT)
    rasa = subprocess.Popen(
        [str(BIN / "rasa"), "run", "--enable-api", "--auth-token", TOKEN, "--model", str(MODEL),
         "--port", str(rasa_port), "--interface", "127.0.0.1", "--endpoints", str(endpoints),
         "--credentials", str(ROOT / "credentials.yml")],
        cwd=ROOT, env=env, stdout=logs[1], stderr=subprocess.STDOUT)
    try:
        for url, server in ((f"http://127.0.0.1:{action_port}/health", actions),
                            (f"http://127.0.0.1:{rasa_port}/", rasa)):
            if not wait_until_up(url, server, 300):
                raise RuntimeError(f"{url} did not come up (see logs in {tmp})")
        yield Assistant(f"http://127.0.0.1:{rasa_port}", content, db)
    finally:
        for process in (rasa, actions):
            process.terminate()
        for process in (rasa, actions):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
