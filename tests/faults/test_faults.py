"""Faults in the middle of a load run on the production profile.

Each test runs conversations against two replicas (PostgreSQL + the atomic Redis
lock store, one action server) in three phases: a few messages before the fault
(what they stored is snapshotted), more messages while the fault happens, and
more after it. Whatever the fault:

- the user is never left in silence: every answer holds at least one message, and
  an answer that could not be given (503, or 200 while the action server is down)
  is the "having trouble, please try again" message with the medical disclaimer;
- every message is eventually answered (the client retries, with the same
  message id, on the other replica if one is dead);
- afterwards PostgreSQL holds every message exactly once, in order, each followed
  by exactly the bot messages its final answer held, and every row stored before
  the fault is still there, unchanged;
- conversations resume: messages after the fault get their normal answers.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Sequence, Tuple

import pytest
import yaml
from rasa.shared.utils.common import class_from_module_path

from connectors.resilience import TROUBLE_TEXT, ResilientRestInput
from nightcramps.content_store import YamlContentStore
from stores.sql_tracker_store import ResilientSQLTrackerStore
from tests.faults.conftest import (
    CREDENTIALS,
    PROD_ENDPOINTS,
    CuttableProxy,
    FaultCluster,
    services_sh,
)
from tests.faults.load import RUN_TIMEOUT, FailoverClient, Turn, run_conversations
from tests.servers import ROOT
from tools.load_benchmark import Exchange, check_conversation, conversation_script, load_stories
from tools.processes import Server, free_port

CONVERSATIONS = 6
BEFORE, DURING, AFTER = 3, 6, 2  # messages per conversation in each phase
PAUSE = 0.2  # seconds between a conversation's messages while the fault happens
TOPIC_QUESTION = "what causes night time leg cramps"


def trouble_texts() -> List[str]:
    """What the REST channel sends when the assistant cannot answer."""
    return [TROUBLE_TEXT, YamlContentStore(ROOT / "content").disclaimer]


def scripts(prefix: str) -> Dict[str, List[str]]:
    """Conversation id -> its messages (the test stories, from a different one each)."""
    stories = load_stories()
    return {f"fault-{prefix}-{number}-{uuid.uuid4().hex[:8]}":
            conversation_script(stories, number, BEFORE + DURING + AFTER)
            for number in range(CONVERSATIONS)}


def stored_rows(cluster: FaultCluster, senders: Sequence[str]) -> Dict[int, Tuple[str, str]]:
    """id -> (conversation id, data) of every stored event of these conversations."""
    connection = cluster.services.pg(cluster.database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, sender_id, data FROM events WHERE sender_id = ANY(%s)",
                           (list(senders),))
            return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    finally:
        connection.close()


def stored_events(cluster: FaultCluster, sender: str) -> List[Dict[str, Any]]:
    """The conversation's events in id order."""
    connection = cluster.services.pg(cluster.database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT data FROM events WHERE sender_id = %s ORDER BY id", (sender,))
            return [json.loads(row[0]) for row in cursor.fetchall()]
    finally:
        connection.close()


def run_scenario(cluster: FaultCluster, name: str, fault: Any, fault_after: float = 0.5
                 ) -> Tuple[Dict[str, List[Turn]], Dict[str, List[Turn]], FailoverClient]:
    """Before, during (with `fault`) and after; checks everything the module promises.

    Returns:
        The turns during and after the fault (conversation id -> turns), and the client.
    """
    plan = scripts(name)
    client = FailoverClient(cluster.urls)
    before = run_conversations(client, {s: t[:BEFORE] for s, t in plan.items()})
    snapshot = stored_rows(cluster, list(plan))
    assert snapshot, "nothing was stored before the fault"
    during = run_conversations(client, {s: t[BEFORE:BEFORE + DURING] for s, t in plan.items()},
                               first_index=BEFORE, pause=PAUSE, fault=fault,
                               fault_after=fault_after)
    after = run_conversations(client, {s: t[BEFORE + DURING:] for s, t in plan.items()},
                              first_index=BEFORE + DURING)
    turns = {sender: before[sender] + during[sender] + after[sender] for sender in plan}
    report: List[str] = []
    trouble = trouble_texts()
    for sender, conversation in turns.items():
        for turn in conversation:
            if not turn.answered:
                report.append(f"{sender} {turn.text!r}: never answered: "
                              f"{[(a.status, a.error[:80]) for a in turn.attempts]}")
            for attempt in turn.attempts:
                texts = [reply.get("text") for reply in attempt.replies]
                if attempt.status in (200, 503) and not texts:
                    report.append(f"{sender} {turn.text!r}: silence (HTTP {attempt.status})")
                if attempt.status == 503 and texts != trouble:
                    report.append(f"{sender} {turn.text!r}: 503 without the trouble "
                                  f"message: {texts}")
        for turn in after[sender]:
            if turn.texts() == trouble:
                report.append(f"{sender} {turn.text!r}: still in trouble after the fault")
        exchanges = [Exchange(sender, turn.text, turn.attempts[-1].url,
                              turn.attempts[-1].status, 0.0, turn.replies,
                              turn.attempts[-1].error) for turn in conversation]
        report.extend(f"{sender}: {problem}" for problem in
                      check_conversation(exchanges, stored_events(cluster, sender)))
    now = stored_rows(cluster, list(plan))
    changed = [row for row, value in snapshot.items() if now.get(row) != value]
    if changed:
        report.append(f"{len(changed)} of {len(snapshot)} rows stored before the fault were "
                      f"lost or changed")
    assert not report, "\n".join(report[:30]) + "\n" + cluster.log_tails()
    return during, after, client


def count_attempts(turns: Dict[str, List[Turn]]) -> Dict[str, int]:
    """How the requests went: answered first time, retried, refused connections, 503s."""
    attempts = [attempt for conversation in turns.values() for turn in conversation
                for attempt in turn.attempts]
    return {"requests": len(attempts),
            "retried_turns": sum(1 for c in turns.values() for t in c if len(t.attempts) > 1),
            "connection_errors": sum(1 for a in attempts if a.error.startswith("Connection")),
            "http_503": sum(1 for a in attempts if a.status == 503),
            "slowest_ms": int(max((a.seconds for a in attempts), default=0) * 1000)}


# --- configuration -------------------------------------------------------------------------

def test_the_production_profile_uses_the_resilient_channel_and_store() -> None:
    """The fault handling below comes from these two; the project must configure them."""
    channels = yaml.safe_load(CREDENTIALS.read_text(encoding="utf-8")) or {}
    rest = [name for name in channels
            if name == "rest" or name.endswith(ResilientRestInput.__name__)]
    assert rest == ["connectors.resilience.ResilientRestInput"], (
        f"{CREDENTIALS.name}: the REST channel must be connectors.resilience.ResilientRestInput, "
        f"not {rest}")
    endpoints = yaml.safe_load(PROD_ENDPOINTS.read_text(encoding="utf-8"))
    store_type = endpoints["tracker_store"]["type"]
    assert issubclass(class_from_module_path(store_type), ResilientSQLTrackerStore), (
        f"{PROD_ENDPOINTS.name}: tracker_store type {store_type} must be (a subclass of) "
        f"stores.sql_tracker_store.ResilientSQLTrackerStore")


# --- faults ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restart_mid_load(cluster: FaultCluster, mode: str) -> None:
    """PostgreSQL restarts (`immediate`: as after a crash); the replicas ride it out."""
    restarts: List[Any] = []

    def restart() -> None:
        restarts.append(services_sh("restart-postgres", mode, timeout=120))

    during, after, _ = run_scenario(cluster, f"pg-{mode}", restart)
    assert restarts and restarts[0].returncode == 0, restarts[0].stderr if restarts else ""
    print(f"PostgreSQL restart ({mode}):", count_attempts(during))


def test_action_server_killed_and_restarted_mid_load(cluster: FaultCluster) -> None:
    """While the action server is down, answers say so, with the disclaimer; then resume."""
    probes: List[Turn] = []

    def kill_and_restart() -> None:
        cluster.action_server.kill()
        for number, url in enumerate(cluster.urls):  # a topic question on each replica
            probes.append(FailoverClient([url]).say(f"probe-{uuid.uuid4().hex[:8]}",
                                                    TOPIC_QUESTION, number))
        cluster.action_server.start()
        cluster.action_server.wait_up()

    during, after, _ = run_scenario(cluster, "actions", kill_and_restart)
    trouble = trouble_texts()
    for probe in probes:
        assert probe.answered and len(probe.attempts) == 1, probe.attempts
        assert probe.texts() == trouble, probe.texts()
    stored = stored_events(cluster, probes[0].sender)
    bot = [event for event in stored if event["event"] == "bot"]
    assert bot and bot[-1]["text"] == "\n\n".join(trouble)  # stored, in order
    in_trouble = sum(1 for c in during.values() for t in c if t.texts() == trouble)
    print(f"Action server down: {in_trouble} answers during the run were the trouble "
          f"message;", count_attempts(during))


def test_database_unreachable_for_longer_than_the_retries(cluster: FaultCluster) -> None:
    """The network to PostgreSQL is cut for longer than the store retries: 503 with the
    trouble message, nothing stored; once it is back, the retried message (same id) is
    answered and stored once, and the conversation kept its context."""
    proxy = CuttableProxy(int(cluster.services.env["DB_PORT"]))
    env = {**cluster.action_server.env, "DB_PORT": str(proxy.port),
           "TRACKER_STORE_RETRY_SECONDS": "1"}
    port = free_port()
    command = list(cluster.replicas[0].command)
    command[command.index("--port") + 1] = str(port)
    replica = Server("replica-behind-proxy", command, f"http://127.0.0.1:{port}/", env,
                     cluster.action_server.logs)
    try:
        replica.start()
        replica.wait_up()
        client = FailoverClient([f"http://127.0.0.1:{port}"])
        sender = f"fault-outage-{uuid.uuid4().hex[:8]}"
        first = client.say(sender, "what stretches help night leg cramps", 0)
        assert first.answered and first.texts()
        stored = stored_rows(cluster, [sender])
        proxy.cut()
        cut_client = FailoverClient(client.urls)
        session = cut_client._http()
        message_id = uuid.uuid4().hex
        body = {"sender": sender, "message": "what about in pregnancy?", "message_id": message_id}
        response = session.post(f"{client.urls[0]}/webhooks/rest/webhook", json=body, timeout=60)
        assert response.status_code == 503, response.text
        assert [m.get("text") for m in response.json()] == trouble_texts()
        assert response.headers.get("Retry-After")
        proxy.restore()
        assert stored_rows(cluster, [sender]) == stored  # nothing of it was stored
        retried = session.post(f"{client.urls[0]}/webhooks/rest/webhook", json=body, timeout=60)
        assert retried.status_code == 200, retried.text
        answer = [m.get("text") for m in retried.json()]
        assert answer != trouble_texts() and "pregnan" in " ".join(answer).lower(), answer
        again = session.post(f"{client.urls[0]}/webhooks/rest/webhook", json=body, timeout=60)
        assert [m.get("text") for m in again.json()] == answer  # a repeat: the stored answer
        exchanges = [Exchange(sender, first.text, "", 200, 0.0, first.replies),
                     Exchange(sender, body["message"], "", 200, 0.0, retried.json())]
        assert not check_conversation(exchanges, stored_events(cluster, sender))
        log = replica.log_text()
        assert "unreachable" in log and "Deleted" not in log
    finally:
        replica.stop()
        proxy.close()


def test_a_replica_killed_mid_load(cluster: FaultCluster) -> None:
    """One replica dies (SIGKILL), some messages in flight on it; clients fail over to the
    other; every message is answered and stored once."""
    probes: List[Turn] = []

    def kill_replica() -> None:
        # Topic questions in flight on the victim when it dies (they reach the action
        # server, so they take a while); their clients retry on the other replica.
        client = FailoverClient([cluster.urls[1], cluster.urls[0]])
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(client.say, f"probe-replica-{number}-{uuid.uuid4().hex[:8]}",
                                   TOPIC_QUESTION, 0) for number in range(3)]
            time.sleep(0.02)
            cluster.replicas[1].kill()
            probes.extend(future.result(timeout=RUN_TIMEOUT) for future in futures)

    during, after, client = run_scenario(cluster, "replica", kill_replica, fault_after=0.8)
    assert cluster.urls[1] in client.refused
    stats = count_attempts(during)
    assert stats["connection_errors"] >= 1, stats  # the failover was exercised
    for probe in probes:
        assert probe.answered and probe.texts(), probe.attempts
        exchange = Exchange(probe.sender, probe.text, probe.attempts[-1].url, 200, 0.0,
                            probe.replies)
        assert not check_conversation([exchange], stored_events(cluster, probe.sender))
    retried = [round(sum(a.seconds for a in p.attempts), 1) for p in probes
               if len(p.attempts) > 1]
    print(f"Replica killed: {stats}; in-flight probes retried on the other replica "
          f"(seconds until answered): {retried}")
