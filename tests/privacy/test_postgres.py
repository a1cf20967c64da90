"""The production profile's PostgreSQL: redaction, "delete my data" and retention.

Uses the local PostgreSQL of scripts/services.sh (started if needed, a fresh
database per session; see tests/prod/conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from rasa.core.utils import AvailableEndpoints

from actions.privacy import DELETED_TEXT
from stores.privacy_tracker_store import PrivacySQLTrackerStore
from tests.privacy.conftest import (
    CANCEL,
    CONFIRM,
    DAY,
    PII_PARTS,
    PII_QUESTION,
    PII_REDACTED,
    PII_TOPIC,
    answer_of,
    conversation,
    reply_text,
    save,
    store_from,
    turn,
)
from tests.prod.conftest import Services
from tests.servers import BIN, ROOT, TRACKER_STORE, Assistant, running_assistant


def prod_env(services: Services) -> Dict[str, str]:
    """What endpoints.prod.yml needs, pointing at this session's database."""
    return {**services.env, "DB_NAME": services.database,
            "ACTION_SERVER_URL": "http://127.0.0.1:5055/webhook",
            "SQL_POOL_SIZE": "2", "SQL_MAX_OVERFLOW": "2"}


def rows(services: Services, sender: str | None = None) -> List[str]:
    """The stored events (JSON) of one conversation, or of all."""
    connection = services.pg()
    try:
        with connection.cursor() as cursor:
            if sender is None:
                cursor.execute("SELECT data FROM events ORDER BY id")
            else:
                cursor.execute("SELECT data FROM events WHERE sender_id = %s ORDER BY id",
                               (sender,))
            return [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()


@pytest.fixture
def prod_store(services: Services, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[PrivacySQLTrackerStore]:
    """The tracker store Rasa builds from endpoints.prod.yml."""
    for name, value in prod_env(services).items():
        monkeypatch.setenv(name, value)
    endpoints = AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.prod.yml"))
    assert endpoints.tracker_store is not None
    store = store_from({"type": endpoints.tracker_store.type, "url": endpoints.tracker_store.url,
                        **endpoints.tracker_store.kwargs})
    assert isinstance(store, PrivacySQLTrackerStore)
    assert store.engine.url.get_backend_name() == "postgresql"
    yield store
    store.engine.dispose()


def test_prod_store_redacts_and_deletes(prod_store: PrivacySQLTrackerStore,
                                        services: Services) -> None:
    sender, bystander = f"pg-{uuid.uuid4().hex}", f"pg-{uuid.uuid4().hex}"
    save(prod_store, conversation(bystander, ["hello"], time.time()))
    tracker = conversation(sender, [PII_QUESTION], time.time())
    save(prod_store, tracker)
    stored = "\n".join(rows(services, sender))
    assert PII_REDACTED in stored
    assert not [part for part in PII_PARTS if part in stored]

    for event in turn("delete my data", "request_data_deletion", "Done.",
                      "action_delete_conversation", time.time() + 5):
        tracker.update(event)
    save(prod_store, tracker)
    assert rows(services, sender) == []
    assert asyncio.run(prod_store.retrieve(sender)) is None
    assert len(rows(services, bystander)) == len(conversation(bystander, ["hello"], 0).events)


def test_purge_script_on_postgresql(prod_store: PrivacySQLTrackerStore,
                                    services: Services) -> None:
    tag = uuid.uuid4().hex[:8]
    now = time.time()
    old, recent = f"pg-old-{tag}", f"pg-recent-{tag}"
    save(prod_store, conversation(old, ["a", "b"], now - 400 * DAY))
    save(prod_store, conversation(recent, ["c"], now - 300 * DAY))
    old_events = len(rows(services, old))
    env = {**os.environ, **prod_env(services)}
    command = [str(BIN / "python"), "tools/purge_conversations.py",
               "--endpoints", "endpoints.prod.yml"]

    dry = subprocess.run([*command, "--older-than-days", "365", "--dry-run"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert dry.returncode == 0, dry.stderr
    assert f"Would delete 1 conversation(s) ({old_events} events)" in dry.stdout
    assert rows(services, old)

    done = subprocess.run([*command, "--older-than-days", "365"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert f"Deleted 1 conversation(s) ({old_events} events)" in done.stdout
    assert rows(services, old) == [] and rows(services, recent)


@pytest.fixture(scope="module")
def pg_assistant(services: Services, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[Assistant]:
    """The assistant on this session's PostgreSQL database, HTTP API off."""
    env = services.env
    section = (f"tracker_store:\n  type: {TRACKER_STORE}\n  dialect: postgresql\n"
               f"  url: {env['DB_HOST']}\n  port: {env['DB_PORT']}\n  db: {services.database}\n"
               f"  username: {env['DB_USER']}\n  password: {env['DB_PASSWORD']}\n")
    tmp: Path = tmp_path_factory.mktemp("privacy-pg")
    with running_assistant(tmp, tracker_store=section, enable_api=False,
                           env={"SQL_POOL_SIZE": "2", "SQL_MAX_OVERFLOW": "2"}) as running:
        yield running


def test_identifiers_never_reach_postgresql(pg_assistant: Assistant, services: Services) -> None:
    sender = f"pg-{uuid.uuid4().hex}"
    replies = pg_assistant.say(PII_QUESTION, sender)
    assert answer_of(PII_TOPIC) in reply_text(replies)
    stored = "\n".join(rows(services, sender))
    assert PII_REDACTED in stored
    assert not [part for part in PII_PARTS if part in "\n".join(rows(services))]


def test_delete_my_data_on_postgresql(pg_assistant: Assistant, services: Services) -> None:
    sender = f"pg-{uuid.uuid4().hex}"
    pg_assistant.say("what causes night leg cramps", sender)
    assert rows(services, sender)
    [question] = pg_assistant.say("erase what i told you", sender)
    assert [b["payload"] for b in question["buttons"]] == [CONFIRM, CANCEL]
    assert rows(services, sender)
    assert reply_text(pg_assistant.say(CONFIRM, sender)) == DELETED_TEXT
    assert rows(services, sender) == []
