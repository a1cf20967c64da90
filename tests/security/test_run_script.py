"""tools/run.py (`make run`): the API only with a token, loopback, a request size limit."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterator

import pytest
import requests

from connectors.resilience import TROUBLE_TEXT
from nightcramps.content_store import YamlContentStore
from tests.security.test_action_server import connects, listening
from tests.servers import BIN, MODEL, ROOT, TRACKER_STORE
from tools.processes import (
    REQUEST_MAX_SIZE,
    Server,
    action_server_command,
    free_port,
    server_env,
    serving,
)
from tools.run import action_server_health, api_args

CHANNEL_VARIABLES = ("TELEGRAM_", "SLACK_", "FACEBOOK_", "TWILIO_")


def test_api_is_on_only_with_a_token() -> None:
    assert api_args({}) == []
    assert api_args({"RASA_API_TOKEN": ""}) == []
    assert api_args({"RASA_API_TOKEN": "s3cret"}) == ["--enable-api", "--auth-token", "s3cret"]


def test_servers_get_the_request_size_limit_unless_set() -> None:
    assert server_env({})["SANIC_REQUEST_MAX_SIZE"] == str(REQUEST_MAX_SIZE) == "262144"
    assert server_env({"SANIC_REQUEST_MAX_SIZE": "1000"})["SANIC_REQUEST_MAX_SIZE"] == "1000"


def test_action_server_is_started_through_the_binding_script() -> None:
    command = action_server_command(5055)
    assert command[1:3] == ["-m", "tools.action_server"] and "5055" in command
    assert action_server_health({}, 5055) == "http://127.0.0.1:5055/health"
    assert action_server_health({"ACTION_SERVER_HOST": "10.1.2.3"}, 1) == "http://10.1.2.3:1/health"
    assert action_server_health({"ACTION_SERVER_HOST": "0.0.0.0"}, 1) == "http://127.0.0.1:1/health"


class MadeRun:
    """`tools/run.py` as `make run` starts it, on free ports and a temporary SQLite file."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port, self.actions_port, self.console_port = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.endpoints = tmp / "endpoints.yml"
        text = (ROOT / "endpoints.yml").read_text()
        assert f"type: {TRACKER_STORE}" in text and "127.0.0.1:5055" in text
        # The file names another port: run.py must point Rasa at the server it starts.
        self.stale_port = free_port()
        self.endpoints.write_text(text.replace("127.0.0.1:5055", f"127.0.0.1:{self.stale_port}")
                                  .replace("db: tracker.db", f"db: {tmp / 'tracker.db'}")
                                  .replace("db: locks.db", f"db: {tmp / 'locks.db'}"))

    def env(self) -> Dict[str, str]:
        content = self.tmp / "content"
        shutil.copytree(ROOT / "content", content)
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(CHANNEL_VARIABLES)
                     and k not in ("RASA_API_TOKEN", "ACTION_SERVER_HOST", "SANIC_REQUEST_MAX_SIZE",
                                   "SANIC_WORKERS")}
        # Two workers (`SANIC_WORKERS=2 make run`): where the shared lock store matters.
        return {**inherited, "CONTENT_DIR": str(content), "TF_CPP_MIN_LOG_LEVEL": "3",
                "SANIC_WORKERS": "2"}


@pytest.fixture(scope="module")
def made_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MadeRun]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    run = MadeRun(tmp_path_factory.mktemp("made-run"))
    server = Server("run", [str(BIN / "python"), "tools/run.py", "--model", str(MODEL),
                            "--port", str(run.port), "--actions-port", str(run.actions_port),
                            "--web-port", "0", "--endpoints", str(run.endpoints),
                            "--console-port", str(run.console_port)],
                    f"{run.base}/", run.env(), run.tmp)
    with serving(server):
        server.wait_up(url=f"http://127.0.0.1:{run.console_port}/health")
        yield run


def test_make_run_keeps_the_api_off_without_a_token(made_run: MadeRun) -> None:
    for path in ("/status", "/version", "/conversations/me/tracker", "/model/parse"):
        assert requests.get(made_run.base + path, timeout=30).status_code == 404, path
    assert "HTTP API: off" in (made_run.tmp / "run.log").read_text()
    reply = requests.post(f"{made_run.base}/webhooks/rest/webhook", timeout=60,
                          json={"sender": "me", "message": "hi"})
    assert reply.status_code == 200 and reply.json()


def test_make_run_binds_the_action_server_to_loopback(made_run: MadeRun) -> None:
    assert listening(made_run.actions_port) == {"127.0.0.1"}
    assert not connects("127.0.0.2", made_run.actions_port)


def test_make_run_binds_the_console_to_loopback_behind_a_login(made_run: MadeRun) -> None:
    assert listening(made_run.console_port) == {"127.0.0.1"}
    assert not connects("127.0.0.2", made_run.console_port)
    page = requests.get(f"http://127.0.0.1:{made_run.console_port}/topics", timeout=30,
                        allow_redirects=False)
    assert page.status_code in (302, 303) and page.headers["Location"].endswith("/login")


def test_make_run_calls_the_action_server_it_started(made_run: MadeRun) -> None:
    reply = requests.post(f"{made_run.base}/webhooks/rest/webhook", timeout=60,
                          json={"sender": "actions-port", "message": "what causes leg cramps"})
    texts = [message.get("text", "") for message in reply.json()]
    assert reply.status_code == 200 and texts
    causes = YamlContentStore(ROOT / "content").get("causes")
    assert causes is not None
    assert TROUBLE_TEXT not in texts and any(causes.answer in text for text in texts)
    assert (f"Rasa will call the action server at http://127.0.0.1:{made_run.actions_port}"
            "/webhook") in (made_run.tmp / "run.log").read_text()


def test_make_run_refuses_oversized_requests(made_run: MadeRun) -> None:
    url = f"{made_run.base}/webhooks/rest/webhook"
    big = {"sender": "me", "message": "cramp " * (REQUEST_MAX_SIZE // 6 + 1)}
    assert requests.post(url, json=big, timeout=60).status_code == 413
    fits = {"sender": "me", "message": "cramp " * 2000}  # 12 kB: a long message still fits
    assert requests.post(url, json=fits, timeout=60).status_code == 200
    assert requests.get(made_run.base + "/", timeout=30).status_code == 200


def test_make_run_serialises_a_conversation_across_its_workers(made_run: MadeRun) -> None:
    """Messages of one conversation sent at once: each is answered before the next is read.

    With `SANIC_WORKERS=2`, `make run` starts two Rasa workers sharing the SQLite
    lock store; without a shared lock, two workers would handle the same
    conversation at once and interleave or lose events.
    """
    rasa = subprocess.run(["pgrep", "-f", "--", f"rasa run .*--port {made_run.port}( |$)"],
                          capture_output=True, text=True, check=False).stdout.split()
    # Sanic's main process and its 2 workers; a worker that failed to start leaves 2.
    assert len(rasa) == 3, (rasa, (made_run.tmp / "run.log").read_text()[-4000:])
    url = f"{made_run.base}/webhooks/rest/webhook"
    texts = [f"what causes night leg cramps {n}" for n in range(8)]
    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        replies = list(pool.map(lambda text: requests.post(
            url, json={"sender": "burst", "message": text}, timeout=120), texts))
    assert all(reply.status_code == 200 and reply.json() for reply in replies)
    with sqlite3.connect(made_run.tmp / "tracker.db") as db:
        kinds = [kind for (kind,) in db.execute(
            "SELECT type_name FROM events WHERE sender_id = 'burst' ORDER BY id")]
    users = [i for i, kind in enumerate(kinds) if kind == "user"]
    assert len(users) == len(texts)
    for start, end in zip(users, [*users[1:], len(kinds)], strict=True):
        assert "bot" in kinds[start:end]  # answered before the next message was read
    assert sqlite3.connect(made_run.tmp / "locks.db").execute(
        "SELECT count(*) FROM lock_tickets").fetchone() == (0,)
