"""Two real Rasa replicas sharing PostgreSQL and Redis, one real action server.

The messages of each conversation alternate between the replicas and are sent in
pairs at the same moment, one to each replica, so both replicas hold requests for
the same conversation at once. The per-conversation lock must serialise them:
afterwards PostgreSQL must hold every user message exactly once, each followed by
exactly the bot messages its HTTP response returned (nothing from another message
in between), in an order consistent with the clients' order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests
from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException

from stores.redis_lock_store import AtomicRedisLockStore
from tests.prod.conftest import Services, lock_keys
from tests.servers import BIN, MODEL, ROOT
from tools.processes import Server, ServerGroup, free_port, serving

ATOMIC = "stores.redis_lock_store.AtomicRedisLockStore"
CONVERSATIONS = 2
MESSAGES = [  # 10 per conversation, all different so each can be found in the events
    "hi",
    "what causes night time leg cramps",
    "what stretches help night leg cramps",
    "what about in pregnancy?",
    "do magnesium supplements help leg cramps",
    "tell me more",
    "can dehydration cause leg cramps at night",
    "should i see a doctor about leg cramps",
    "are you a bot",
    "thanks",
]


# --- running the replicas --------------------------------------------------------------

def endpoints_yaml(services: Services, database: str, action_port: int,
                   lock_store_type: str = ATOMIC) -> str:
    """endpoints.prod.yml's content with literal values for the local services."""
    env = services.env
    return (
        f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n"
        f"tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: {env['DB_HOST']}\n"
        f"  port: {env['DB_PORT']}\n  db: {database}\n  username: {env['DB_USER']}\n"
        f"  password: {env['DB_PASSWORD']}\n"
        f"lock_store:\n  type: {lock_store_type}\n  url: {env['REDIS_HOST']}\n"
        f"  port: {env['REDIS_PORT']}\n  db: {env['REDIS_DB']}\n"
        f"  password: {env['REDIS_PASSWORD']}\n")


@dataclass
class Cluster:
    """Running replicas (their base URLs) and the action server."""

    replicas: List[str]
    logs: Path
    servers: ServerGroup = field(default_factory=ServerGroup)

    def log_tails(self, lines: int = 30) -> str:
        """The end of every server log, for failure messages."""
        return self.servers.log_tails(lines)


@contextlib.contextmanager
def running_cluster(tmp: Path, services: Services, database: str,
                    lock_store_type: str = ATOMIC, replicas: int = 2) -> Iterator[Cluster]:
    """One action server and `replicas` `rasa run` processes until the block ends."""
    if not MODEL.exists():
        raise RuntimeError(f"{MODEL} is missing: run `make train` first")
    content = tmp / "content"
    shutil.copytree(ROOT / "content", content)
    ports: List[int] = []
    while len(ports) < replicas + 1:
        port = free_port()
        if port not in ports:
            ports.append(port)
    action_port, rasa_ports = ports[0], ports[1:]
    endpoints = tmp / "endpoints.yml"
    endpoints.write_text(endpoints_yaml(services, database, action_port, lock_store_type))
    credentials = tmp / "credentials.yml"
    credentials.write_text("rest:\n")
    env = {**os.environ, "CONTENT_DIR": str(content), "TF_CPP_MIN_LOG_LEVEL": "3",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "RASA_TELEMETRY_ENABLED": "false",
           "SQL_POOL_SIZE": "5", "SQL_MAX_OVERFLOW": "5"}
    servers = [Server("actions", [str(BIN / "rasa"), "run", "actions", "--port", str(action_port)],
                      f"http://127.0.0.1:{action_port}/health", env, tmp)]
    for number, port in enumerate(rasa_ports, start=1):
        servers.append(Server(
            f"replica{number}",
            [str(BIN / "rasa"), "run", "--model", str(MODEL), "--port", str(port),
             "--interface", "127.0.0.1", "--endpoints", str(endpoints),
             "--credentials", str(credentials)],
            f"http://127.0.0.1:{port}/", env, tmp))
    with serving(*servers) as group:
        yield Cluster([f"http://127.0.0.1:{port}" for port in rasa_ports], tmp, group)


# --- the conversation workload ---------------------------------------------------------

@dataclass
class Exchange:
    """One user message: where it went, when, and what the bot answered."""

    sender: str
    text: str
    replica: int
    started: float = 0.0
    finished: float = 0.0
    status: int = 0
    replies: List[Dict[str, Any]] = field(default_factory=list)


def _send(cluster: Cluster, exchange: Exchange) -> Exchange:
    exchange.started = time.monotonic()
    response = requests.post(f"{cluster.replicas[exchange.replica]}/webhooks/rest/webhook",
                             json={"sender": exchange.sender, "message": exchange.text},
                             timeout=120)
    exchange.finished = time.monotonic()
    exchange.status = response.status_code
    if response.ok:
        exchange.replies = list(response.json())
    return exchange


def _converse(cluster: Cluster, sender: str, messages: List[str]) -> List[Exchange]:
    """Sends the messages in pairs, one to each replica at the same moment."""
    exchanges = [Exchange(sender, text, index % len(cluster.replicas))
                 for index, text in enumerate(messages)]
    width = len(cluster.replicas)
    with ThreadPoolExecutor(max_workers=width) as pool:
        for start in range(0, len(exchanges), width):
            list(pool.map(lambda exchange: _send(cluster, exchange),
                          exchanges[start:start + width]))
    return exchanges


def run_workload(cluster: Cluster, senders: List[str],
                 messages: List[str]) -> List[Exchange]:
    """All conversations at once, each as `_converse`; returns every exchange."""
    with ThreadPoolExecutor(max_workers=len(senders)) as pool:
        results = list(pool.map(lambda sender: _converse(cluster, sender, messages), senders))
    return [exchange for exchanges in results for exchange in exchanges]


def stored_events(services: Services, database: str, sender: str) -> List[Dict[str, Any]]:
    """The conversation's events as PostgreSQL holds them, in insertion (id) order."""
    connection = services.pg(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT data FROM events WHERE sender_id = %s ORDER BY id", (sender,))
            return [json.loads(row[0]) for row in cursor.fetchall()]
    finally:
        connection.close()


def _as_sent(bot_events: List[Dict[str, Any]]) -> List[Optional[str]]:
    """The texts the REST channel sends for these bot events: it splits at blank lines."""
    texts: List[Optional[str]] = []
    for event in bot_events:
        text = event.get("text")
        texts.extend(text.strip().split("\n\n") if text else [None])
    return texts


def problems(exchanges: List[Exchange], events: List[Dict[str, Any]]) -> List[str]:
    """Everything wrong with one conversation's stored events (empty: all is well)."""
    found: List[str] = []
    for exchange in exchanges:
        if exchange.status != 200:
            found.append(f"{exchange.text!r}: HTTP {exchange.status}")
        elif not exchange.replies:
            found.append(f"{exchange.text!r}: no bot reply in the HTTP response")
    users = [index for index, event in enumerate(events) if event["event"] == "user"]
    stored = [events[index]["text"] for index in users]
    sent = [exchange.text for exchange in exchanges]
    for text in sent:
        if stored.count(text) != 1:
            found.append(f"{text!r} stored {stored.count(text)} times")
    for text in set(stored) - set(sent):
        found.append(f"{text!r} stored but never sent")
    starts = sum(1 for event in events if event["event"] == "session_started")
    if starts != 1:
        found.append(f"{starts} session_started events")
    # Between a user message and the next one: exactly the bot messages its answer held.
    bounds = [*users, len(events)]
    segments = {events[begin]["text"]: _as_sent([event for event in events[begin:end]
                                                  if event["event"] == "bot"])
                for begin, end in itertools.pairwise(bounds)}
    for exchange in exchanges:
        answered = [reply.get("text") for reply in exchange.replies]
        if exchange.status == 200 and segments.get(exchange.text) != answered:
            found.append(f"{exchange.text!r}: stored bot messages "
                         f"{segments.get(exchange.text)} != answered {answered}")
    # Order: a message sent after another was answered must be stored after it; of two
    # concurrent ones, the one answered clearly first (the other waited for the lock).
    position = {text: stored.index(text) for text in sent if stored.count(text) == 1}
    for first in exchanges:
        for second in exchanges:
            if first.text not in position or second.text not in position:
                continue
            after = first.finished < second.started
            clearly_first = second.finished - first.finished > 0.25
            if (after or clearly_first) and position[first.text] > position[second.text]:
                found.append(f"{first.text!r} answered before {second.text!r} but stored "
                             f"after it")
    return found


# --- tests -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The action server and two replicas with the atomic lock store."""
    with running_cluster(tmp_path_factory.mktemp("replicas"), services,
                         services.database) as running:
        yield running


def test_endpoints_prod_yml_loads_from_env_vars(services: Services, conversation_id: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in services.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DB_NAME", services.database)
    monkeypatch.setenv("ACTION_SERVER_URL", "http://127.0.0.1:5055/webhook")
    endpoints = AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.prod.yml"))
    assert endpoints.action is not None
    assert endpoints.action.url == "http://127.0.0.1:5055/webhook"

    lock_store = LockStore.create(endpoints.lock_store)
    assert isinstance(lock_store, AtomicRedisLockStore)
    ticket = lock_store.issue_ticket(conversation_id)  # authenticates against Redis
    lock_store.cleanup(conversation_id, ticket)

    tracker_store = TrackerStore.create(endpoints.tracker_store, domain=Domain.empty())
    assert isinstance(tracker_store, SQLTrackerStore)
    assert tracker_store.engine.url.get_backend_name() == "postgresql"
    assert tracker_store.engine.url.database == services.database
    tracker = DialogueStateTracker.from_events(conversation_id, [
        ActionExecuted("action_listen"), UserUttered("hello"), BotUttered("hi there")])

    async def round_trip() -> Optional[DialogueStateTracker]:
        await tracker_store.save(tracker)
        return await tracker_store.retrieve(conversation_id)

    stored = asyncio.run(round_trip())
    assert stored is not None
    assert [event.type_name for event in stored.events][-2:] == ["user", "bot"]
    tracker_store.engine.dispose()

    monkeypatch.delenv("REDIS_PASSWORD")  # a missing variable stops Rasa at startup
    with pytest.raises(RasaException, match="REDIS_PASSWORD"):
        AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.prod.yml"))


def test_interleaved_messages_on_two_replicas_are_stored_once_in_order(
        cluster: Cluster, services: Services, redis_client: Any, conversation_id: str) -> None:
    senders = [f"{conversation_id}-{number}" for number in range(CONVERSATIONS)]
    exchanges = run_workload(cluster, senders, MESSAGES)
    assert {exchange.replica for exchange in exchanges} == {0, 1}
    report: Dict[str, List[str]] = {}
    for sender in senders:
        found = problems([exchange for exchange in exchanges if exchange.sender == sender],
                         stored_events(services, services.database, sender))
        if found:
            report[sender] = found
    assert not report, (json.dumps(report, indent=1) + "\n" + cluster.log_tails())
    # Every lock was released and deleted; only the ticket counters remain (with a TTL).
    assert sorted(lock_keys(redis_client, senders)) == sorted(
        f"lock_counter:{sender}" for sender in senders)
    for sender in senders:
        assert 0 < redis_client.pttl(f"lock_counter:{sender}")


def test_a_replica_sees_what_the_other_stored(cluster: Cluster, conversation_id: str) -> None:
    """A follow-up answered by one replica uses the topic set through the other."""
    def follow_up(topic_replica: Optional[int], follow_up_replica: int) -> List[str]:
        sender = f"{conversation_id}-{topic_replica}-{follow_up_replica}"
        if topic_replica is not None:
            asked = _send(cluster, Exchange(sender, "what stretches help night leg cramps",
                                            topic_replica))
            assert asked.status == 200 and asked.replies
        answer = _send(cluster, Exchange(sender, "what about in pregnancy?", follow_up_replica))
        assert answer.status == 200 and answer.replies
        return [reply.get("text") or "" for reply in answer.replies]

    across_replicas = follow_up(0, 1)
    assert across_replicas == follow_up(1, 1)  # as if one replica had done both
    assert across_replicas != follow_up(None, 1)  # the context made the difference
