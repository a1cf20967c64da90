"""An approved answer reaches every action server within seconds, through PostgreSQL.

Two real action servers (tools/action_server.py, as `make run` starts them), each
with its own copy of the content folder, follow this session's PostgreSQL
database: one through `--content-db`, the other through `--endpoints
endpoints.prod.yml` (its tracker store, from the variables of `services.sh env`).
A changed answer is published as the console publishes it
(`ContentVersions.publish`); both must answer real action calls with the new text
within a few seconds, without a restart.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Dict, List

import requests
import sqlalchemy as sa

from stores.content_versions import ContentVersions, engine_for_url
from tests.prod.conftest import Services
from tests.servers import ROOT
from tools.processes import Server, action_server_command, free_port, serving

NEW_ANSWER = "Approved just now, tired muscles are the likeliest cause of night cramps."
#: Seconds an approved change may take to reach an action server (1 s poll + 1 s reload).
PROPAGATION_BOUND = 10.0


def database_url(services: Services) -> str:
    env = services.env
    return (f"postgresql://{env['DB_USER']}:{env['DB_PASSWORD']}@{env['DB_HOST']}:"
            f"{env['DB_PORT']}/{services.database}")


def action_server(name: str, tmp: Path, env: Dict[str, str], args: List[str]) -> Server:
    """An action server serving its own copy of content/."""
    content = tmp / f"{name}-content"
    shutil.copytree(ROOT / "content", content)
    port = free_port()
    return Server(name, [*action_server_command(port), *args], f"http://127.0.0.1:{port}/health",
                  {**os.environ, **env, "CONTENT_DIR": str(content)}, tmp)


def answer(server: Server) -> str:
    """The server's answer to a real `action_answer_question` call about causes."""
    call = {"next_action": "action_answer_question", "sender_id": "propagation",
            "tracker": {"sender_id": "propagation", "events": [], "slots": {},
                        "latest_message": {"text": "why do I get cramps at night",
                                           "intent": {"name": "ask_causes"}}}}
    url = server.health.replace("/health", "/webhook")
    response = requests.post(url, json=call, timeout=30)
    assert response.status_code == 200, response.text
    return str(response.json()["responses"][0]["text"])


def test_an_approved_answer_reaches_both_action_servers(services: Services,
                                                        tmp_path: Path) -> None:
    url = database_url(services)
    by_url = action_server("actions-a", tmp_path, {}, ["--content-db", url])
    by_endpoints = action_server(
        "actions-b", tmp_path, {**services.env, "DB_NAME": services.database},
        ["--endpoints", str(ROOT / "endpoints.prod.yml")])
    with serving(by_url, by_endpoints, timeout=120):
        assert all(NEW_ANSWER not in answer(server) for server in (by_url, by_endpoints))
        text = (ROOT / "content" / "topics" / "causes.yml").read_text()
        changed = re.sub(r"(?ms)^answer: >-\n.*?(?=^\S)", f"answer: {NEW_ANSWER}\n", text)
        versions = ContentVersions(engine_for_url(url), ROOT / "content")
        version = versions.publish("topics/causes.yml", changed, "dr.reviewer")
        published = time.monotonic()
        waiting = {by_url.name: by_url, by_endpoints.name: by_endpoints}
        while waiting and time.monotonic() - published < PROPAGATION_BOUND:
            for name, server in list(waiting.items()):
                if answer(server).startswith(NEW_ANSWER):
                    del waiting[name]
            time.sleep(0.2)
        assert not waiting, (f"not updated within {PROPAGATION_BOUND} s: {list(waiting)}\n"
                             f"{by_url.log_tail()}\n{by_endpoints.log_tail()}")
        for server in (by_url, by_endpoints):
            assert f"Content version {version} applied: topics/causes.yml" in server.log_text()
        # This session's database is shared by the other production tests: leave no version
        # for their action servers to follow.
        with versions.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE content_versions"))
        versions.engine.dispose()
    # content/ itself, the record for git, is left to tools/export_content.py.
    assert NEW_ANSWER not in (ROOT / "content" / "topics" / "causes.yml").read_text()


def test_an_unreachable_database_does_not_stop_the_action_server(tmp_path: Path) -> None:
    closed = f"postgresql://nobody:x@127.0.0.1:{free_port()}/nothing"
    server = action_server("actions-no-db", tmp_path, {}, ["--content-db", closed])
    with serving(server, timeout=120):
        before = answer(server)
        time.sleep(2)  # a few failed polls
        assert server.running() and answer(server) == before
        assert "Cannot read the approved content versions" in server.log_text()
