"""`make run-prod`: tools/run.py with endpoints.prod.yml and two Rasa replicas.

The real local PostgreSQL and Redis (scripts/services.sh), this session's own
database, the project's endpoints.prod.yml filled from `services.sh env`.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Iterator, List

import pytest
import requests

from tests.prod.conftest import Services
from tests.servers import BIN, MODEL, ROOT
from tools.content.publish import PublishError, assistant, serve
from tools.processes import Server, free_port, serving

CHANNEL_VARIABLES = ("TELEGRAM_", "SLACK_", "FACEBOOK_", "TWILIO_")
#: The replicas' HTTP API token, so a model can be published to them.
PUBLISH_TOKEN = "run-prod-publish-token"


def bindable(port: int) -> bool:
    """Whether a server could listen on `port` on loopback now."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def content_copy(tmp: Path) -> Path:
    """A copy of the project's content folder in `tmp`."""
    target = tmp / "content"
    shutil.copytree(ROOT / "content", target)
    return target


@pytest.fixture(scope="module")
def replicas(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[List[str]]:
    """The base URLs of the two replicas `tools/run.py --replicas 2` started, then the console's."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    tmp: Path = tmp_path_factory.mktemp("run-prod")
    port = free_port()
    while not bindable(port + 1):  # the second replica takes the next port
        port = free_port()
    actions_port, console_port = free_port(), free_port()
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(CHANNEL_VARIABLES) and k != "RASA_API_TOKEN"}
    env = {**inherited, **services.env, "DB_NAME": services.database,
           "ACTION_SERVER_URL": f"http://127.0.0.1:{actions_port}/webhook",
           "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_API_TOKEN": PUBLISH_TOKEN,
           # The action server follows approved content versions into CONTENT_DIR: a copy,
           # never the project's content/ (another test publishes versions in this database).
           "CONTENT_DIR": str(content_copy(tmp))}
    bases = [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"]
    run = Server("run", [str(BIN / "python"), "tools/run.py", "--model", str(MODEL),
                         "--endpoints", "endpoints.prod.yml", "--replicas", "2",
                         "--port", str(port), "--actions-port", str(actions_port),
                         "--web-port", "0", "--console-port", str(console_port)],
                 f"{bases[0]}/", env, tmp)
    with serving(run):
        run.wait_up(url=f"{bases[1]}/")
        run.wait_up(url=f"http://127.0.0.1:{console_port}/health")
        yield [*bases, f"http://127.0.0.1:{console_port}"]


def test_two_replicas_share_one_conversation_in_postgres(replicas: List[str],
                                                         services: Services,
                                                         conversation_id: str) -> None:
    first, second, _ = replicas

    def say(base: str, text: str) -> List[str]:
        reply = requests.post(f"{base}/webhooks/rest/webhook", timeout=60,
                              json={"sender": conversation_id, "message": text})
        assert reply.status_code == 200
        return [m.get("text", "") for m in reply.json()]

    causes = say(first, "why do I get leg cramps at night?")
    assert causes and any("cramp" in text.lower() for text in causes)
    # The follow-up only makes sense with the topic the other replica stored.
    follow_up = " ".join(say(second, "what about in pregnancy?")).lower()
    assert "pregnan" in follow_up
    with services.pg() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT data FROM events WHERE sender_id = %s AND type_name = 'user' "
                       "ORDER BY id", (conversation_id,))
        texts = [row[0] for row in cursor.fetchall()]
    assert len(texts) == 2 and "cramps at night" in texts[0] and "pregnancy" in texts[1]


def test_the_console_runs_once_beside_the_replicas_on_postgres(replicas: List[str],
                                                              services: Services) -> None:
    console = replicas[2]
    assert requests.get(f"{console}/login", timeout=30).status_code == 200
    assert requests.get(f"{console}/audit", timeout=30, allow_redirects=False).status_code in (
        302, 303)
    with services.pg() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables "
                       "WHERE table_schema = 'public'")
        tables = {row[0] for row in cursor.fetchall()}
    assert {"events", "console_users", "console_schema_version"} <= tables, tables


def test_publish_reaches_every_replica_or_says_they_differ(replicas: List[str],
                                                           tmp_path: Path) -> None:
    first, second, _ = replicas
    group = assistant({"RASA_URL": f"{first}, {second}", "RASA_API_TOKEN": PUBLISH_TOKEN},
                      tmp_path)
    assert group.status().model_file == MODEL.name
    renamed = tmp_path / "renamed-night-cramps.tar.gz"
    shutil.copyfile(MODEL, renamed)
    try:
        assert serve(group, renamed).model_file == renamed.name
        for server in group.servers:  # each replica, asked on its own
            assert server.status().model_file == renamed.name
        group.servers[0].load(MODEL)
        with pytest.raises(PublishError, match="serve different models"):
            group.status()
    finally:
        serve(group, MODEL)
    reply = requests.post(f"{second}/webhooks/rest/webhook", timeout=60,
                          json={"sender": "after-publish", "message": "what causes leg cramps"})
    assert reply.status_code == 200 and reply.json()
