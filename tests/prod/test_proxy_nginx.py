"""nginx in front of two real replicas: a replica killed mid-load costs the users nothing.

The production profile as `make run-prod` runs it, on free ports: the project's
nginx (tools/proxy.py, deploy/nginx.conf.j2) in front of two Rasa replicas sharing
PostgreSQL and the atomic Redis lock store, one action server, the REST channel of
credentials.yml (ResilientRestInput, which answers a repeated message_id with the
stored answer). Conversations talk to nginx only, each message with a message_id as
the chat widget sends it, and never retry themselves. Mid-load, one replica is frozen
(SIGSTOP, so requests pile up on it) and then killed (SIGKILL), as a crash of a
busy replica. Then:

- every message got a 200 with its normal answer: no user saw an error;
- the tracker store holds every message exactly once, each followed by exactly the
  answer its user got: nothing lost, nothing answered twice;
- nginx did send requests again that the dead replica had received (its access log),
  but only those with a message_id: one without gets 502 and is stored nowhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List

import aiohttp
import pytest

from connectors.credentials import write_active_credentials
from connectors.resilience import TROUBLE_TEXT
from nightcramps.content_store import YamlContentStore
from tests.prod.conftest import Services
from tests.servers import BIN, MODEL, ROOT
from tools.load.deadline import Deadline
from tools.load.lost import read_events, verify
from tools.load.traffic import Exchange, System, conversation_script, load_stories, send
from tools.processes import (
    Server,
    ServerGroup,
    action_server_command,
    distinct_ports,
    free_port,
    serving,
)
from tools.proxy import ProxySettings, check_config, prepare, proxy_server, render_config

CONVERSATIONS = 6
MESSAGES = 8  # per conversation, one after the other
FREEZE_AFTER = 2.0  # seconds into the load
FREEZE_SECONDS = 1.5  # frozen before the kill: requests pile up on the replica
PROBES = 3  # of each kind, sent while the replica is frozen
# A killed replica's lock ticket stays in Redis until it expires; a message sent again
# waits for that (as in tests/faults). nginx waits longer than that for an answer.
LOCK_LIFETIME_SECONDS = 15
READ_TIMEOUT_SECONDS = 60
LOAD_TIMEOUT_SECONDS = 240


@dataclass
class ProxiedCluster:
    """Two replicas, the action server and nginx in front of the replicas."""

    url: str
    replicas: List[Server]
    nginx: Server
    postgres: Dict[str, str]
    servers: ServerGroup = field(default_factory=ServerGroup)

    @property
    def access_log(self) -> Path:
        """nginx's access log (one line per request, with the replicas tried)."""
        return self.nginx.logs / "access.log"


@pytest.fixture(scope="module")
def cluster(services: Services, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[ProxiedCluster]:
    """Starts the action server, two replicas and nginx; stops what is left at the end."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first", pytrace=False)
    tmp = tmp_path_factory.mktemp("nginx")
    content = tmp / "content"
    shutil.copytree(ROOT / "content", content)
    action_port, proxy_port, *rasa_ports = distinct_ports(4)
    env = {**os.environ, **services.env, "DB_NAME": services.database,
           "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
           "CONTENT_DIR": str(content), "TF_CPP_MIN_LOG_LEVEL": "3",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "RASA_TELEMETRY_ENABLED": "false",
           "SQL_POOL_SIZE": "5", "SQL_MAX_OVERFLOW": "5", "SANIC_WORKERS": "1",
           "TICKET_LOCK_LIFETIME": str(LOCK_LIFETIME_SECONDS)}
    credentials = tmp / "credentials.yml"
    write_active_credentials(ROOT / "credentials.yml", credentials, {})  # REST only
    replicas = [Server(f"replica{number}",
                       [str(BIN / "rasa"), "run", "--model", str(MODEL), "--port", str(port),
                        "--interface", "127.0.0.1", "--endpoints",
                        str(ROOT / "endpoints.prod.yml"), "--credentials", str(credentials)],
                       f"http://127.0.0.1:{port}/", env, tmp)
                for number, port in enumerate(rasa_ports, start=1)]
    # One nginx worker: its round robin alternates strictly between the replicas.
    settings = ProxySettings([f"127.0.0.1:{port}" for port in rasa_ports], proxy_port,
                             read_timeout=READ_TIMEOUT_SECONDS,
                             run_as_root=os.geteuid() == 0)
    nginx = proxy_server(settings, tmp / "proxy", YamlContentStore(content).disclaimer)
    actions = Server("actions", action_server_command(action_port),
                     f"http://127.0.0.1:{action_port}/health", env, tmp)
    postgres = {"host": env["DB_HOST"], "port": env["DB_PORT"], "db": services.database,
                "user": env["DB_USER"], "password": env["DB_PASSWORD"]}
    with serving(actions, *replicas, nginx) as group:
        yield ProxiedCluster(settings.url, replicas, nginx, postgres, group)


@dataclass
class Probe:
    """A message sent while the replica is frozen; found in the access log by its tag."""

    tag: str
    sender: str
    with_id: bool
    status: int = 0
    replies: List[Dict[str, object]] = field(default_factory=list)


async def send_probe(session: aiohttp.ClientSession, url: str, probe: Probe) -> Probe:
    """Sends "hi" through nginx, tagged in the query string (the REST channel ignores it)."""
    body: Dict[str, str] = {"sender": probe.sender, "message": "hi"}
    if probe.with_id:
        body["message_id"] = uuid.uuid4().hex
    async with session.post(f"{url}/webhooks/rest/webhook", params={"probe": probe.tag},
                            json=body, timeout=aiohttp.ClientTimeout(total=120)) as response:
        probe.status = response.status
        payload = await response.json(content_type=None)
        probe.replies = payload if response.status == 200 and isinstance(payload, list) else []
    return probe


async def conversation(session: aiohttp.ClientSession, url: str, index: int,
                       deadline: Deadline) -> List[Exchange]:
    """One user: the messages one after the other, each with a fresh message_id."""
    sender = f"nginx-{index}-{uuid.uuid4().hex[:8]}"
    exchanges = []
    for text in conversation_script(load_stories(), index, MESSAGES):
        exchanges.append(await send(session, url, sender, text, deadline,
                                    message_id=uuid.uuid4().hex))
    return exchanges


async def freeze_then_kill(session: aiohttp.ClientSession, cluster: ProxiedCluster,
                           victim: Server) -> List[Probe]:
    """Freezes the victim mid-load, sends the probes, then kills it; returns the probes."""
    await asyncio.sleep(FREEZE_AFTER)
    assert victim.process is not None
    os.killpg(victim.process.pid, signal.SIGSTOP)
    probes: List[asyncio.Task[Probe]] = []
    # Each kind in a burst: nginx's round robin alternates between the replicas from one
    # request to the next, so a burst of PROBES reaches both.
    for with_id in (True, False):
        for _ in range(PROBES):
            probe = Probe(f"p{len(probes)}", f"nginx-probe-{uuid.uuid4().hex[:8]}", with_id)
            probes.append(asyncio.create_task(send_probe(session, cluster.url, probe)))
        await asyncio.sleep(0.2)
    await asyncio.sleep(FREEZE_SECONDS)
    await asyncio.to_thread(victim.kill)  # SIGKILL, as a crash; returns once it is gone
    return list(await asyncio.gather(*probes))


async def load_with_kill(cluster: ProxiedCluster, victim: Server
                         ) -> tuple[List[Exchange], List[Probe]]:
    """The conversations through nginx while the victim is frozen and killed."""
    deadline = Deadline(time.monotonic() + LOAD_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        users = [conversation(session, cluster.url, index, deadline)
                 for index in range(CONVERSATIONS)]
        fault = asyncio.ensure_future(freeze_then_kill(session, cluster, victim))
        conversations = await asyncio.wait_for(asyncio.gather(*users), LOAD_TIMEOUT_SECONDS)
        probes = await asyncio.wait_for(fault, LOAD_TIMEOUT_SECONDS)
    return [exchange for exchanges in conversations for exchange in exchanges], probes


def access_lines(cluster: ProxiedCluster) -> List[str]:
    """The REST requests of nginx's access log."""
    return [line for line in cluster.access_log.read_text().splitlines()
            if "/webhooks/rest/webhook" in line]


def upstream(line: str) -> str:
    """The replicas a request was sent to, as logged (`A`, `A, B` or `A : B`)."""
    found = re.search(r'upstream="([^"]*)"', line)
    return found.group(1) if found else ""


def test_page_and_widget_through_nginx(cluster: ProxiedCluster) -> None:
    import requests

    page = requests.get(f"{cluster.url}/", timeout=10)
    assert page.status_code == 200
    assert f'data-server="{cluster.url}"' in page.text  # the widget talks to nginx
    assert f'src="{cluster.url}/widget/chat.js"' in page.text
    script = requests.get(f"{cluster.url}/widget/chat.js", timeout=10)
    assert script.status_code == 200 and "text/javascript" in script.headers["Content-Type"]
    disclaimer = requests.get(f"{cluster.url}/widget/disclaimer.json", timeout=10).json()
    assert disclaimer["disclaimer"] == YamlContentStore(ROOT / "content").disclaimer
    assert requests.get(f"{cluster.url}/widget/../tools/run.py", timeout=10).status_code == 404
    assert requests.get(f"{cluster.url}/model/parse", timeout=10).status_code == 404
    assert requests.get(f"{cluster.url}/console/", timeout=10).status_code == 404  # no console
    sender = f"nginx-page-{uuid.uuid4().hex[:8]}"
    answer = requests.post(f"{cluster.url}/webhooks/rest/webhook", timeout=60,
                           json={"sender": sender, "message": "hi", "message_id": "m1"})
    assert answer.status_code == 200 and answer.json()


def test_a_replica_killed_mid_load_through_nginx(cluster: ProxiedCluster) -> None:
    victim, survivor = cluster.replicas[1], cluster.replicas[0]
    survivor_address = survivor.health.removeprefix("http://").rstrip("/")
    victim_address = victim.health.removeprefix("http://").rstrip("/")
    exchanges, probes = asyncio.run(load_with_kill(cluster, victim))

    # No user saw an error: every message got its answer, at the first request.
    failed = [(e.text, e.status, e.error) for e in exchanges if e.status != 200 or e.error]
    assert not failed, f"{failed}\n{cluster.servers.log_tails()}"
    assert len(exchanges) == CONVERSATIONS * MESSAGES
    assert all(e.replies and e.replies[0].get("text") != TROUBLE_TEXT for e in exchanges)

    # Each message stored exactly once, followed by exactly the answer its user got.
    system = System("nginx", [cluster.url], "", postgres=cluster.postgres, exchanges=exchanges)
    check = verify(system)
    assert check["zero_lost"], json.dumps(check["problems"], indent=1)

    lines = access_lines(cluster)
    # nginx sent again requests the dead replica had received: "victim : survivor".
    resent = [line for line in lines if f"{victim_address} : {survivor_address}" in line]
    assert resent, "no request was in flight on the killed replica"
    assert all('" 200 ' in line for line in resent), resent
    by_tag = {re.search(r"probe=(p\d+)", line).group(1): line  # type: ignore[union-attr]
              for line in lines if "probe=" in line}
    for probe in probes:
        line = by_tag[probe.tag]
        stored = read_events(probe.sender, postgres=cluster.postgres)
        users = [event for event in stored if event.get("event") == "user"]
        if probe.with_id:  # always answered, once, wherever it went
            assert probe.status == 200 and probe.replies, line
            assert len(users) == 1, (line, users)
        elif upstream(line) == victim_address:  # received by the dead replica: not resent
            assert probe.status == 502, line
            assert not users, stored
        else:
            assert probe.status == 200 and upstream(line) == survivor_address, line
            assert len(users) == 1
    without_id = [p for p in probes if not p.with_id]
    refused = [p for p in without_id if p.status == 502]
    assert refused, "no probe without a message_id reached the killed replica"
    print(f"{len(exchanges)} messages in {CONVERSATIONS} conversations, all answered once "
          f"(slowest {max(e.latency_ms for e in exchanges) / 1000:.1f} s); {len(resent)} "
          f"requests resent to the surviving replica; {len(refused)} of {len(without_id)} "
          f"probes without a message_id reached the killed replica and got 502")


def test_console_location_only_when_a_console_is_given(tmp_path: Path) -> None:
    replicas = ["127.0.0.1:5005", "127.0.0.1:5006"]
    with_console = ProxySettings(replicas, free_port(), console="127.0.0.1:8081")
    config = prepare(with_console, tmp_path / "with", "Disclaimer.")
    assert check_config(config) is None  # nginx -t
    text = config.read_text()
    assert "location /console/" in text and "server 127.0.0.1:8081;" in text
    assert "X-Forwarded-Prefix /console" in text
    without = render_config(ProxySettings(replicas, free_port()), tmp_path / "without")
    assert "/console" not in without and "upstream console" not in without
    assert "include" not in without and "listen 127.0.0.1:" in without  # no /etc/nginx
