"""Load benchmark: many conversations at once over the REST channel, with a lost-message check.

Usage:
    python -m tools.load_benchmark                              # default profile vs stock
    python -m tools.load_benchmark --profile prod               # PostgreSQL + Redis, 1 vs 2
    python -m tools.load_benchmark --profile both --output results/load.json

**Default profile** (endpoints.yml: SQLite tracker store and SQLite lock store,
Rasa with the workers `make run` gives it, `SANIC_WORKERS` (2), one action server).
Our assistant and Rasa's stock `rasa init` assistant (its own
data, domain, config and action server; its stock SQL tracker store on SQLite)
run side by side and are measured in the same run, interleaved so both see the
same background load:

1. one user at a time: `--users` short conversations (the stories of
   tests/test_conversations.yml, one per user, a new conversation each), every
   turn timed, and `/model/parse` of the same text timed after it;
2. one long conversation of `--long-turns` turns (one conversation, every turn
   loads a growing tracker);
3. `--conversations` conversations at once, each sending `--messages` messages
   one after the other (a conversation waits for each answer, as a user does),
   `--rounds` times per system: messages per second and p50/p95/p99 latency.

With `--before`, the same model also runs as configured before the latency
work (Rasa's stock SQL tracker store and REST channel), for a before/after
comparison in one run.

**Production profile** (endpoints.prod.yml: PostgreSQL, the atomic Redis lock
store): PostgreSQL and Redis from scripts/services.sh (instances of the
benchmark's own in build/services-loadbench on free ports, so other test sessions
cannot stop them mid-run; `--shared-services` uses the project's), a fresh
database, one action server and two `rasa run` replicas. Phase 3 runs against
one replica, then against both (conversations spread round-robin), alternately
for `--rounds` rounds.

Afterwards every conversation is read back from the tracker store (SQLite or
PostgreSQL): each must hold every user message sent, in order, each followed
by exactly the bot messages its HTTP answer held. The result is printed, and
the script exits 1 if anything was lost or a request failed.

Everything is bounded: request timeouts, `--time-limit` for the whole run
(phases stop early and say so), and fixed numbers of users, turns and rounds.
Servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import aiohttp
import yaml
from rasa.shared.core.constants import DEFAULT_ACTION_NAMES

from connectors.credentials import write_active_credentials
from tools.run import free_port, stop, wait_until_up, workers

ROOT = Path(__file__).resolve().parent.parent


BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "night-cramps.tar.gz"
STOCK_CACHE = ROOT / "models" / "stock-init"
STORIES = ROOT / "tests" / "test_conversations.yml"
SERVICES_SH = ROOT / "scripts" / "services.sh"
ACTION_SERVER = ROOT / "tools" / "action_server.py"
STARTUP_TIMEOUT = 300.0  # seconds for a server to answer (model loading on busy cores)
REQUEST_TIMEOUT = 60.0
TRAIN_TIMEOUT = 1800.0
BASE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "RASA_TELEMETRY_ENABLED": "false", "PYTHONHASHSEED": "0"}


class OutOfTime(Exception):
    """The run's wall-clock limit was reached."""


@dataclass
class Deadline:
    """The run's wall-clock limit."""

    at: float

    def left(self) -> float:
        """Seconds left."""
        return self.at - time.monotonic()

    def check(self) -> None:
        """Raises `OutOfTime` once the limit is reached."""
        if self.left() <= 0:
            raise OutOfTime()


# --- messages ----------------------------------------------------------------------------

def load_stories(path: Path = STORIES) -> List[List[str]]:
    """The user messages of each test story, in order (realistic short conversations).

    Stories that delete the conversation ("delete my data") are left out: the check
    afterwards expects every conversation to be kept.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    stories = []
    for story in data.get("stories") or []:
        steps = [step for step in story.get("steps") or [] if isinstance(step, dict)]
        if any("delete" in str(step.get("action", "")) for step in steps):
            continue
        texts = [str(step["user"]).strip() for step in steps if "user" in step]
        if texts:
            stories.append(texts)
    if not stories:
        raise SystemExit(f"{path} holds no stories with user messages")
    return stories


def conversation_script(stories: Sequence[Sequence[str]], index: int, length: int) -> List[str]:
    """`length` messages for conversation `index`: the stories in order, from story `index`."""
    flat: List[str] = []
    story = index
    while len(flat) < length:
        flat.extend(stories[story % len(stories)])
        story += 1
    return flat[:length]


# --- statistics --------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank (as tools/benchmark.py)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(latencies_ms: Sequence[float]) -> Dict[str, float]:
    """Count, p50, p95, p99 and mean of latencies in milliseconds."""
    return {"count": len(latencies_ms),
            "p50_ms": statistics.median(latencies_ms) if latencies_ms else float("nan"),
            "p95_ms": percentile(latencies_ms, 95), "p99_ms": percentile(latencies_ms, 99),
            "mean_ms": statistics.fmean(latencies_ms) if latencies_ms else float("nan")}


# --- servers -----------------------------------------------------------------------------

@dataclass
class Exchange:
    """One user message: what was sent where, how long it took, what came back."""

    sender: str
    text: str
    base: str = ""
    status: int = 0
    latency_ms: float = 0.0
    replies: List[Dict[str, Any]] = field(default_factory=list)
    error: str = ""
    phase: str = ""
    kind: str = ""  # filled in by the check: "custom action" or "responses only"


@dataclass
class System:
    """An assistant under test: its Rasa base URLs and how to read its conversations."""

    name: str
    bases: List[str]
    token: str
    sqlite: Optional[Path] = None
    postgres: Optional[Dict[str, str]] = None
    exchanges: List[Exchange] = field(default_factory=list)


@dataclass
class Group:
    """Processes started together, with their logs, stopped together."""

    logs: Path
    processes: List[subprocess.Popen[bytes]] = field(default_factory=list)
    waits: List[Tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, command: List[str], cwd: Path, env: Dict[str, str],
              health: str) -> subprocess.Popen[bytes]:
        """Starts a server; `wait` later waits for `health` to answer."""
        with open(self.logs / f"{name}.log", "wb") as log:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.waits.append((health, process))
        return process

    def wait(self) -> None:
        """Waits until every server answers; raises with the log tails if one does not."""
        for url, process in self.waits:
            if not wait_until_up(url, process, STARTUP_TIMEOUT):
                raise RuntimeError(f"{url} did not come up:\n{self.tails()}")
        self.waits.clear()

    def tails(self, lines: int = 15) -> str:
        """The end of every log."""
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self) -> None:
        """Stops every process (SIGTERM, then SIGKILL after 15 s)."""
        stop(self.processes)


def server_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The servers' environment, as tools/run.py sets it where it can."""
    env = {**os.environ, **BASE_ENV, **(extra or {})}
    try:
        from tools.run import server_env as project_env  # request size limit
    except ImportError:
        return env
    return dict(project_env(env))


def action_server_command(port: int, actions: str = "actions") -> List[str]:
    """The project's action server (bound to 127.0.0.1) serving the `actions` package."""
    if ACTION_SERVER.exists():
        return [str(BIN / "python"), "-m", "tools.action_server", "--host", "127.0.0.1",
                "--port", str(port), "--actions", actions]
    return [str(BIN / "rasa"), "run", "actions", "--port", str(port), "--actions", actions]


def rasa_command(model: Path, port: int, endpoints: Path, credentials: Path,
                 token: str) -> List[str]:
    """`rasa run` on loopback with the HTTP API (for /model/parse) behind a token."""
    return [str(BIN / "rasa"), "run", "--model", str(model), "--port", str(port),
            "--interface", "127.0.0.1", "--endpoints", str(endpoints),
            "--credentials", str(credentials), "--enable-api", "--auth-token", token]


def project_endpoints(source: Path, action_url: str, db: Path,
                      tracker_store_type: Optional[str]) -> str:
    """The default profile's endpoints file, with this run's action port and SQLite file.

    Keeps every other setting of `source` (the tracker store's type and options, the
    action endpoint's options such as `enable_selective_domain`).
    """
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    action = dict(data.get("action_endpoint") or {})
    action["url"] = action_url
    store = dict(data.get("tracker_store") or {"type": "SQL", "dialect": "sqlite"})
    if str(store.get("dialect", "sqlite")) != "sqlite":
        raise SystemExit(f"{source}: the default profile's tracker store must be SQLite")
    store["db"] = str(db)
    if tracker_store_type:
        store["type"] = tracker_store_type
    data["action_endpoint"], data["tracker_store"] = action, store
    lock_store = data.get("lock_store")
    if isinstance(lock_store, dict) and "db" in lock_store:  # an SQLite lock file
        data["lock_store"] = {**lock_store, "db": str(db.with_name(f"{db.stem}-locks.db"))}
    return str(yaml.safe_dump(data, sort_keys=False))


# --- the stock assistant -----------------------------------------------------------------

def stock_key() -> str:
    """A hash of Rasa's version and its `rasa init` template: the cached model's key."""
    import rasa

    template = Path(rasa.__file__).parent / "cli" / "initial_project"
    digest = hashlib.sha256(rasa.__version__.encode())
    for path in sorted(template.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(template)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def prepare_stock(deadline: Deadline) -> Tuple[Path, Path]:
    """The stock `rasa init` project and its trained model, made once and cached.

    Returns:
        The project folder and the model file (under models/stock-init/<key>/).
    """
    project = STOCK_CACHE / stock_key()
    models = sorted((project / "models").glob("*.tar.gz")) if project.exists() else []
    if models:
        return project, models[-1]
    partial = project.with_name(project.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    print(f"Creating and training the stock `rasa init` assistant in {partial} "
          f"(once; cached)...", flush=True)
    started = time.monotonic()
    with open(partial.parent / f"{project.name}.train.log", "wb") as log:
        subprocess.run([str(BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(partial)],
                       cwd=ROOT, env=server_env(), stdout=log, stderr=subprocess.STDOUT,
                       check=True, timeout=max(60.0, min(TRAIN_TIMEOUT, deadline.left())))
    if not sorted((partial / "models").glob("*.tar.gz")):
        raise RuntimeError(f"`rasa init` trained no model (log: {log.name})")
    partial.rename(project)
    print(f"  trained in {time.monotonic() - started:.0f} s", flush=True)
    return project, sorted((project / "models").glob("*.tar.gz"))[-1]


def stock_actions_package(project: Path) -> Path:
    """The stock project's `actions` package under a name of its own, for its action server.

    Returns:
        The folder to put on PYTHONPATH (the package is `stock_init_actions`).
    """
    folder = project / "pythonpath"
    package = folder / "stock_init_actions"
    if not package.exists():
        shutil.copytree(project / "actions", package,
                        ignore=shutil.ignore_patterns("__pycache__"))
        (package / "__init__.py").touch()
    return folder


# --- the load generator ------------------------------------------------------------------

async def send(session: aiohttp.ClientSession, base: str, sender: str, text: str,
               deadline: Deadline, message_id: Optional[str] = None) -> Exchange:
    """Sends one message through the REST channel and records the answer."""
    exchange = Exchange(sender, text, base)
    body: Dict[str, Any] = {"sender": sender, "message": text}
    if message_id:
        body["message_id"] = message_id
    started = time.perf_counter()
    try:
        timeout = aiohttp.ClientTimeout(total=max(1.0, min(REQUEST_TIMEOUT, deadline.left())))
        async with session.post(f"{base}/webhooks/rest/webhook", json=body,
                                timeout=timeout) as response:
            exchange.status = response.status
            payload = await response.json(content_type=None)
            if response.status == 200 and isinstance(payload, list):
                exchange.replies = payload
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        exchange.error = f"{type(error).__name__}: {error}"
    exchange.latency_ms = (time.perf_counter() - started) * 1000
    return exchange


async def parse_ms(session: aiohttp.ClientSession, system: System, text: str) -> float:
    """Milliseconds of one `POST /model/parse` (NLU only) on the system's first replica."""
    started = time.perf_counter()
    async with session.post(f"{system.bases[0]}/model/parse", params={"token": system.token},
                            json={"text": text},
                            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as response:
        await response.read()
        response.raise_for_status()
    return (time.perf_counter() - started) * 1000


def new_session() -> aiohttp.ClientSession:
    """A client session with keep-alive and no connection limit."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def warm_up(systems: Sequence[System], stories: Sequence[Sequence[str]],
                  deadline: Deadline) -> None:
    """A few turns and parses per replica, so first-call costs are not measured."""
    async with new_session() as session:
        for system in systems:
            for base in system.bases:
                sender = f"warm-up-{uuid.uuid4().hex[:8]}"
                for text in conversation_script(stories, 0, 6):
                    system.exchanges.append(await send(session, base, sender, text, deadline))
                    await parse_ms(session, system, text)


async def single_users(systems: Sequence[System], stories: Sequence[Sequence[str]],
                       users: int, deadline: Deadline) -> Dict[str, Any]:
    """Short conversations one at a time, alternating systems; each turn then its parse."""
    turns: Dict[str, List[float]] = {s.name: [] for s in systems}
    firsts: Dict[str, List[float]] = {s.name: [] for s in systems}
    parses: Dict[str, List[float]] = {s.name: [] for s in systems}
    done = 0
    async with new_session() as session:
        for user in range(users):
            if deadline.left() <= 0:
                break
            for system in systems:
                sender = f"user-{system.name}-{user}-{uuid.uuid4().hex[:8]}"
                for turn, text in enumerate(stories[user % len(stories)]):
                    exchange = await send(session, system.bases[0], sender, text, deadline)
                    exchange.phase = "single_user"
                    system.exchanges.append(exchange)
                    (firsts if turn == 0 else turns)[system.name].append(exchange.latency_ms)
                    parses[system.name].append(await parse_ms(session, system, text))
            done += 1
    results: Dict[str, Any] = {"users": done, "complete": done == users}
    for system in systems:
        every = firsts[system.name] + turns[system.name]
        parse = summary(parses[system.name])
        results[system.name] = {
            "turn": summary(every), "first_turn": summary(firsts[system.name]),
            "later_turns": summary(turns[system.name]), "parse": parse,
            "turn_to_parse_p50": statistics.median(every) / parse["p50_ms"] if every else None}
    return results


async def long_conversation(systems: Sequence[System], stories: Sequence[Sequence[str]],
                            turns: int, deadline: Deadline) -> Dict[str, Any]:
    """One conversation per system growing to `turns` turns, systems alternating per turn."""
    script = conversation_script(stories, 0, turns)
    latencies: Dict[str, List[float]] = {s.name: [] for s in systems}
    parses: Dict[str, List[float]] = {s.name: [] for s in systems}
    senders = {s.name: f"long-{s.name}-{uuid.uuid4().hex[:8]}" for s in systems}
    async with new_session() as session:
        for text in script:
            if deadline.left() <= 0:
                break
            for system in systems:
                exchange = await send(session, system.bases[0], senders[system.name], text,
                                      deadline)
                system.exchanges.append(exchange)
                latencies[system.name].append(exchange.latency_ms)
                parses[system.name].append(await parse_ms(session, system, text))
    results: Dict[str, Any] = {"turns": min(len(v) for v in latencies.values()),
                               "complete": all(len(v) == turns for v in latencies.values())}
    for system in systems:
        values = latencies[system.name]
        parse = summary(parses[system.name])
        results[system.name] = {
            "turn": summary(values), "last_50_turns": summary(values[-50:]),
            "first_50_turns": summary(values[:50]), "parse": parse,
            "turn_to_parse_p50": statistics.median(values) / parse["p50_ms"] if values else None}
    return results


async def concurrent_load(system: System, bases: Sequence[str], conversations: int,
                          messages: int, stories: Sequence[Sequence[str]], label: str,
                          deadline: Deadline) -> Dict[str, Any]:
    """`conversations` at once, each sending `messages` one after the other.

    Conversation i goes to `bases[i % len(bases)]` (round-robin over replicas).
    """
    exchanges: List[Exchange] = []

    async def converse(index: int, session: aiohttp.ClientSession) -> None:
        sender = f"{label}-{index}-{uuid.uuid4().hex[:8]}"
        base = bases[index % len(bases)]
        for text in conversation_script(stories, index, messages):
            if deadline.left() <= 0:
                return
            exchanges.append(await send(session, base, sender, text, deadline))

    async with new_session() as session:
        started = time.perf_counter()
        await asyncio.gather(*(converse(index, session) for index in range(conversations)))
        wall = time.perf_counter() - started
    system.exchanges.extend(exchanges)
    ok = [e for e in exchanges if e.status == 200 and not e.error]
    return {"label": label, "replicas": len(bases), "messages": len(exchanges),
            "failed": len(exchanges) - len(ok), "seconds": wall,
            "messages_per_second": len(ok) / wall if wall > 0 else 0.0,
            **summary([e.latency_ms for e in exchanges]),
            "complete": len(exchanges) == conversations * messages}


def pooled(rounds: Sequence[Dict[str, Any]], exchanges_ms: Sequence[float]) -> Dict[str, Any]:
    """Median messages/s over rounds, latency percentiles over all their messages."""
    return {"rounds": len(rounds),
            "messages_per_second": statistics.median(r["messages_per_second"] for r in rounds)
            if rounds else float("nan"),
            "failed": sum(r["failed"] for r in rounds), **summary(exchanges_ms),
            "per_round": list(rounds)}


# --- reading the conversations back -------------------------------------------------------

def as_sent(bot_event: Dict[str, Any]) -> List[Optional[str]]:
    """The messages the REST channel sends for a stored bot event.

    One per paragraph of its text, then one (without text) each for a custom payload,
    an image and an attachment (as `OutputChannel.send_response` sends them).
    """
    texts: List[Optional[str]] = []
    text = bot_event.get("text")
    if text:
        texts.extend(text.strip().split("\n\n"))
    data = bot_event.get("data") or {}
    if data.get("custom"):
        texts.append(None)
    if data.get("image"):
        texts.append(None)
    if data.get("attachment") and data.get("attachment") != data.get("image"):
        texts.append(None)  # Rasa stores an image as the attachment too, sent once
    return texts


def stored_events(system: System, sender: str) -> List[Dict[str, Any]]:
    """The conversation's events, all sessions, in id order, from the system's database."""
    query = "SELECT data FROM events WHERE sender_id = {} ORDER BY id"
    if system.sqlite is not None:
        connection = sqlite3.connect(f"file:{system.sqlite}?mode=ro", uri=True, timeout=30)
        try:
            rows = connection.execute(query.format("?"), (sender,)).fetchall()
        finally:
            connection.close()
    else:
        import psycopg2

        settings = system.postgres or {}
        pg = psycopg2.connect(host=settings["host"], port=int(settings["port"]),
                              dbname=settings["db"], user=settings["user"],
                              password=settings["password"], connect_timeout=10)
        try:
            with pg.cursor() as cursor:
                cursor.execute(query.format("%s"), (sender,))
                rows = cursor.fetchall()
        finally:
            pg.close()
    return [json.loads(row[0]) for row in rows]


def check_conversation(exchanges: Sequence[Exchange], events: Sequence[Dict[str, Any]]
                       ) -> List[str]:
    """Everything wrong with one conversation as stored (empty list: nothing lost).

    The conversation's messages were sent one after the other, so the stored user
    messages must be exactly the answered ones, in order, and after each exactly
    the bot messages its HTTP answer held.
    """
    problems: List[str] = []
    answered = [e for e in exchanges if e.status == 200 and not e.error]
    for exchange in exchanges:
        if exchange not in answered:
            problems.append(f"{exchange.text!r}: request failed "
                            f"({exchange.error or f'HTTP {exchange.status}'})")
        elif not exchange.replies:
            problems.append(f"{exchange.text!r}: empty answer")
    users = [index for index, event in enumerate(events) if event.get("event") == "user"]
    stored = [events[index].get("text") for index in users]
    sent = [exchange.text for exchange in answered]
    if stored != sent:
        missing = [text for text in sent if text not in stored]
        problems.append(f"user messages stored {len(stored)}, answered {len(sent)}; "
                        f"missing {missing[:3]}, order {'differs' if not missing else 'ok'}")
        return problems
    bounds = [*users, len(events)]
    for number, exchange in enumerate(answered):
        segment = events[bounds[number] + 1:bounds[number + 1]]
        ran_custom_action = any(
            event.get("event") == "action" and not str(event.get("name")).startswith("utter_")
            and event.get("name") not in DEFAULT_ACTION_NAMES for event in segment)
        exchange.kind = "custom action" if ran_custom_action else "responses only"
        stored_replies = [text for event in segment if event.get("event") == "bot"
                          for text in as_sent(event)]
        replies = [reply.get("text") for reply in exchange.replies]
        if stored_replies != replies:
            problems.append(f"{exchange.text!r}: stored bot messages {stored_replies} "
                            f"!= answered {replies}")
    return problems


def verify(system: System) -> Dict[str, Any]:
    """Reads every conversation the run sent back from the tracker store and checks it."""
    by_sender: Dict[str, List[Exchange]] = {}
    for exchange in system.exchanges:
        by_sender.setdefault(exchange.sender, []).append(exchange)
    problems: Dict[str, List[str]] = {}
    for sender, exchanges in by_sender.items():
        found = check_conversation(exchanges, stored_events(system, sender))
        if found:
            problems[sender] = found
    sent = len(system.exchanges)
    return {"store": "sqlite" if system.sqlite is not None else "postgresql",
            "conversations": len(by_sender), "messages": sent,
            "bot_messages": sum(len(e.replies) for e in system.exchanges),
            "conversations_with_problems": len(problems), "zero_lost": not problems,
            "problems": dict(list(problems.items())[:10])}


# --- the default profile -------------------------------------------------------------------

@contextlib.contextmanager
def default_profile_systems(tmp: Path, args: argparse.Namespace, deadline: Deadline
                            ) -> Iterator[List[System]]:
    """Starts ours (and stock, and ours-before) with their action servers."""
    group = Group(tmp)
    systems: List[System] = []

    def launch(name: str, model: Path, cwd: Path, endpoints_text: str, credentials: Path,
               actions: str, extra_env: Dict[str, str], db: Path) -> None:
        action_port, rasa_port = free_port(), free_port()
        endpoints = tmp / f"{name}-endpoints.yml"
        endpoints.write_text(endpoints_text.replace("@ACTION_URL@",
                                                    f"http://127.0.0.1:{action_port}/webhook"))
        env = server_env(extra_env)
        token = secrets.token_hex(16)
        group.start(f"{name}-actions", action_server_command(action_port, actions), cwd, env,
                    f"http://127.0.0.1:{action_port}/health")
        group.start(f"{name}-rasa", rasa_command(model, rasa_port, endpoints, credentials,
                                                 token), cwd, env,
                    f"http://127.0.0.1:{rasa_port}/")
        systems.append(System(name, [f"http://127.0.0.1:{rasa_port}"], token, sqlite=db))

    try:
        ours_credentials = tmp / "ours-credentials.yml"
        write_active_credentials(Path(args.credentials), ours_credentials, {})  # REST only
        db = tmp / "ours.db"
        launch("ours", MODEL, ROOT, project_endpoints(Path(args.endpoints), "@ACTION_URL@", db,
                                                      args.tracker_store),
               ours_credentials, "actions", {"SANIC_WORKERS": workers(os.environ, 1)}, db)
        if args.before:
            before_credentials = tmp / "before-credentials.yml"
            before_credentials.write_text("rest:\n")
            db = tmp / "before.db"
            launch("ours-before", MODEL, ROOT,
                   "action_endpoint:\n  url: @ACTION_URL@\n"
                   f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {db}\n",
                   before_credentials, "actions", {}, db)
        if not args.no_stock:
            project, model = prepare_stock(deadline)
            stock_credentials = tmp / "stock-credentials.yml"
            stock_credentials.write_text("rest:\n")
            db = tmp / "stock.db"
            launch("stock", model, project,
                   "action_endpoint:\n  url: @ACTION_URL@\n"
                   f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {db}\n",
                   stock_credentials, "stock_init_actions",
                   {"PYTHONPATH": str(stock_actions_package(project))}, db)
        print(f"Starting {', '.join(s.name for s in systems)} (logs in {tmp})...", flush=True)
        group.wait()
        yield systems
    finally:
        group.stop()


def run_default(args: argparse.Namespace, deadline: Deadline, tmp: Path) -> Dict[str, Any]:
    """The default profile: phases 1-3 on every system, then the check."""
    stories = load_stories()
    report: Dict[str, Any] = {}
    with default_profile_systems(tmp, args, deadline) as systems:
        asyncio.run(warm_up(systems, stories, deadline))
        print(f"Phase 1: {args.users} users, one at a time...", flush=True)
        report["single_user"] = asyncio.run(single_users(systems, stories, args.users, deadline))
        if args.long_turns:
            print(f"Phase 2: one conversation of {args.long_turns} turns per system...",
                  flush=True)
            report["long_conversation"] = asyncio.run(
                long_conversation(systems, stories, args.long_turns, deadline))
        print(f"Phase 3: {args.conversations} conversations x {args.messages} messages at "
              f"once, {args.rounds} rounds per system...", flush=True)
        rounds: Dict[str, List[Dict[str, Any]]] = {s.name: [] for s in systems}
        latencies: Dict[str, List[float]] = {s.name: [] for s in systems}
        for number in range(args.rounds):
            for system in systems:
                if deadline.left() <= 0:
                    break
                before = len(system.exchanges)
                result = asyncio.run(concurrent_load(
                    system, system.bases, args.conversations, args.messages, stories,
                    f"load-{system.name}-{number}", deadline))
                rounds[system.name].append(result)
                latencies[system.name].extend(e.latency_ms
                                              for e in system.exchanges[before:])
        report["concurrent"] = {name: pooled(rounds[name], latencies[name])
                                for name in rounds}
        report["concurrent"]["conversations"] = args.conversations
        report["concurrent"]["messages"] = args.messages
        report["check"] = {system.name: verify(system) for system in systems}
        for system in systems:  # phase 1 by kind of turn, now that the check knows them
            kinds: Dict[str, List[float]] = {}
            for exchange in system.exchanges:
                if exchange.phase == "single_user" and exchange.kind:
                    kinds.setdefault(exchange.kind, []).append(exchange.latency_ms)
            row = report["single_user"][system.name]
            row["by_kind"] = {kind: {**summary(values), "turn_to_parse_p50":
                                     statistics.median(values) / row["parse"]["p50_ms"]}
                              for kind, values in sorted(kinds.items())}
    return report


# --- the production profile ----------------------------------------------------------------

PRIVATE_SERVICES = ROOT / "build" / "services-loadbench"


def services_sh(*args: str, env: Optional[Dict[str, str]] = None, timeout: float = 120
                ) -> subprocess.CompletedProcess[str]:
    """Runs `bash scripts/services.sh ARGS` (with `env` added to the environment)."""
    return subprocess.run(["bash", str(SERVICES_SH), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def services_env(env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The variables `services.sh env` prints."""
    result = services_sh("env", env=env)
    if result.returncode != 0:
        raise RuntimeError(f"services.sh env failed: {result.stderr}")
    variables = {}
    for line in result.stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export "):].partition("=")
            variables[name] = value
    return variables


@contextlib.contextmanager
def local_services(shared: bool) -> Iterator[Dict[str, str]]:
    """PostgreSQL and Redis from scripts/services.sh, and a fresh database, dropped after.

    Args:
        shared: Use the project's instances (build/services; started if needed and
            then stopped again). Otherwise (the default) instances of this benchmark's
            own (build/services-loadbench, free ports), so that another test session
            stopping the shared ones cannot break the run; always stopped afterwards.
    """
    import psycopg2

    if shared:
        sh_env: Dict[str, str] = {}
        started_here = services_sh("status").returncode != 0
    else:
        sh_env = {"SERVICES_DIR": str(PRIVATE_SERVICES), "DB_PORT": str(free_port()),
                  "REDIS_PORT": str(free_port())}
        services_sh("stop", env=sh_env, timeout=120)  # leftovers of an interrupted run
        started_here = True
    if started_here:
        result = services_sh("start", env=sh_env, timeout=300)
        if result.returncode != 0:
            raise RuntimeError("`bash scripts/services.sh start` failed (install first: "
                               f"`bash scripts/services.sh install`):\n{result.stdout}"
                               f"{result.stderr}")
    try:
        env = services_env(sh_env)
        database = f"loadbench_{uuid.uuid4().hex[:12]}"

        def admin(sql: str) -> None:
            connection = psycopg2.connect(host=env["DB_HOST"], port=int(env["DB_PORT"]),
                                          dbname=env["DB_NAME"], user=env["DB_USER"],
                                          password=env["DB_PASSWORD"], connect_timeout=10)
            connection.autocommit = True
            try:
                with connection.cursor() as cursor:
                    cursor.execute(sql)
            finally:
                connection.close()

        admin(f'CREATE DATABASE "{database}"')
        try:
            yield {**env, "DB_NAME": database}
        finally:
            with contextlib.suppress(Exception):
                admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        if started_here:
            services_sh("stop", env=sh_env, timeout=120)


def run_prod(args: argparse.Namespace, deadline: Deadline, tmp: Path) -> Dict[str, Any]:
    """The production profile: 1 vs 2 replicas on PostgreSQL + Redis, then the check."""
    stories = load_stories()
    report: Dict[str, Any] = {}
    with local_services(args.shared_services) as env:
        group = Group(tmp)
        try:
            action_port = free_port()
            ports: List[int] = []
            while len(ports) < 2:
                port = free_port()
                if port != action_port and port not in ports:
                    ports.append(port)
            server_vars = {**env, "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
                           "SQL_POOL_SIZE": "10", "SQL_MAX_OVERFLOW": "10"}
            credentials = tmp / "prod-credentials.yml"
            write_active_credentials(Path(args.credentials), credentials, {})  # REST only
            token = secrets.token_hex(16)
            senv = server_env(server_vars)
            group.start("prod-actions", action_server_command(action_port), ROOT, senv,
                        f"http://127.0.0.1:{action_port}/health")
            for number, port in enumerate(ports, start=1):
                group.start(f"prod-replica{number}",
                            rasa_command(MODEL, port, Path(args.prod_endpoints), credentials,
                                         token), ROOT, senv, f"http://127.0.0.1:{port}/")
            print(f"Starting the action server and 2 replicas on PostgreSQL database "
                  f"{env['DB_NAME']} (logs in {tmp})...", flush=True)
            group.wait()
            system = System("prod", [f"http://127.0.0.1:{port}" for port in ports], token,
                            postgres={"host": env["DB_HOST"], "port": env["DB_PORT"],
                                      "db": env["DB_NAME"], "user": env["DB_USER"],
                                      "password": env["DB_PASSWORD"]})
            asyncio.run(warm_up([system], stories, deadline))
            print(f"Phase 3 (production): {args.conversations} conversations x "
                  f"{args.messages} messages, 1 replica then 2, {args.rounds} rounds...",
                  flush=True)
            rounds: Dict[str, List[Dict[str, Any]]] = {"1": [], "2": []}
            latencies: Dict[str, List[float]] = {"1": [], "2": []}
            for number in range(args.rounds):
                for replicas in ("1", "2"):
                    if deadline.left() <= 0:
                        break
                    before = len(system.exchanges)
                    rounds[replicas].append(asyncio.run(concurrent_load(
                        system, system.bases[:int(replicas)], args.conversations,
                        args.messages, stories, f"prod{replicas}-{number}", deadline)))
                    latencies[replicas].extend(e.latency_ms for e in system.exchanges[before:])
            report["replicas_1"] = pooled(rounds["1"], latencies["1"])
            report["replicas_2"] = pooled(rounds["2"], latencies["2"])
            one, two = (report["replicas_1"]["messages_per_second"],
                        report["replicas_2"]["messages_per_second"])
            report["scaling_2_over_1"] = two / one if one else None
            report["conversations"], report["messages"] = args.conversations, args.messages
            report["check"] = {"prod": verify(system)}
        finally:
            group.stop()
    return report


# --- output ------------------------------------------------------------------------------

def machine() -> Dict[str, Any]:
    """Where the figures were measured."""
    import rasa

    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "rasa": rasa.__version__,
            "load_average_at_start": list(os.getloadavg())}


def _fmt(value: Any, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float | int) else str(value)


def print_default(report: Dict[str, Any]) -> None:
    """The default profile's figures, as tables."""
    single = report.get("single_user", {})
    names = [name for name in single if isinstance(single[name], dict)]
    print(f"\nOne user at a time ({single.get('users')} short conversations, "
          f"stories of tests/test_conversations.yml):")
    print(f"  {'system':<12} {'turn p50':>9} {'p95':>8} {'p99':>8} {'parse p50':>10} "
          f"{'turn/parse':>10}   first turn p50, later turns p50")
    for name in names:
        row = single[name]
        print(f"  {name:<12} {_fmt(row['turn']['p50_ms']):>9} {_fmt(row['turn']['p95_ms']):>8} "
              f"{_fmt(row['turn']['p99_ms']):>8} {_fmt(row['parse']['p50_ms']):>10} "
              f"{_fmt(row['turn_to_parse_p50'], 2):>10}   "
              f"{_fmt(row['first_turn']['p50_ms'])}, {_fmt(row['later_turns']['p50_ms'])} ms")
        for kind, values in (row.get("by_kind") or {}).items():
            print(f"    {kind + ':':<16} {values['count']:>4} turns, p50 "
                  f"{_fmt(values['p50_ms'])} ms, ratio to parse p50 "
                  f"{_fmt(values['turn_to_parse_p50'], 2)}")
    long = report.get("long_conversation")
    if long:
        print(f"\nOne long conversation ({long['turns']} turns):")
        for name in names:
            row = long[name]
            print(f"  {name:<12} turn p50 {_fmt(row['turn']['p50_ms'])} ms (first 50: "
                  f"{_fmt(row['first_50_turns']['p50_ms'])}, last 50: "
                  f"{_fmt(row['last_50_turns']['p50_ms'])}), parse p50 "
                  f"{_fmt(row['parse']['p50_ms'])} ms, ratio {_fmt(row['turn_to_parse_p50'], 2)}")
    load = report.get("concurrent", {})
    print(f"\n{load.get('conversations')} conversations x {load.get('messages')} messages at "
          f"once (median of rounds; latency over all rounds):")
    for name in names:
        row = load[name]
        print(f"  {name:<12} {_fmt(row['messages_per_second'])} messages/s, p50 "
              f"{_fmt(row['p50_ms'], 0)} ms, p95 {_fmt(row['p95_ms'], 0)} ms, p99 "
              f"{_fmt(row['p99_ms'], 0)} ms, failed {row['failed']} "
              f"(rounds: {', '.join(_fmt(r['messages_per_second']) for r in row['per_round'])})")
    if "stock" in load and "ours" in load and load["stock"]["messages_per_second"]:
        print(f"  ours / stock messages per second: "
              f"{load['ours']['messages_per_second'] / load['stock']['messages_per_second']:.2f}")


def print_prod(report: Dict[str, Any]) -> None:
    """The production profile's figures."""
    print(f"\nProduction profile, {report.get('conversations')} conversations x "
          f"{report.get('messages')} messages at once:")
    for key in ("replicas_1", "replicas_2"):
        row = report[key]
        print(f"  {key.replace('_', ' '):<11} {_fmt(row['messages_per_second'])} messages/s, "
              f"p50 {_fmt(row['p50_ms'], 0)} ms, p95 {_fmt(row['p95_ms'], 0)} ms, p99 "
              f"{_fmt(row['p99_ms'], 0)} ms, failed {row['failed']} (rounds: "
              f"{', '.join(_fmt(r['messages_per_second']) for r in row['per_round'])})")
    print(f"  2 replicas / 1 replica: {_fmt(report.get('scaling_2_over_1'), 2)}")


def print_check(checks: Dict[str, Any]) -> bool:
    """The lost-message check's result; True if nothing was lost anywhere."""
    ok = True
    for name, check in checks.items():
        verdict = "zero lost" if check["zero_lost"] else "PROBLEMS"
        print(f"  check {name:<12} ({check['store']}): {check['conversations']} conversations, "
              f"{check['messages']} user messages, {check['bot_messages']} bot messages: "
              f"{verdict}")
        for sender, problems in check["problems"].items():
            print(f"    {sender}: {'; '.join(problems[:3])}")
        ok = ok and check["zero_lost"]
    return ok


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the chosen profiles, prints the figures, writes the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=["default", "prod", "both"], default="default")
    parser.add_argument("--conversations", type=int, default=20,
                        help="conversations at once in phase 3 (default 20)")
    parser.add_argument("--messages", type=int, default=10,
                        help="messages per conversation in phase 3 (default 10)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="phase 3 rounds per system, interleaved (default 3)")
    parser.add_argument("--users", type=int, default=40,
                        help="phase 1: short conversations, one at a time (default 40)")
    parser.add_argument("--long-turns", type=int, default=300,
                        help="phase 2: turns of the long conversation (0 skips; default 300)")
    parser.add_argument("--time-limit", type=float, default=1800,
                        help="wall-clock limit of the whole run, seconds (default 1800)")
    parser.add_argument("--before", action="store_true",
                        help="also run our model as configured before the latency work "
                             "(stock SQL tracker store and REST channel)")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock assistant")
    parser.add_argument("--endpoints", default=str(ROOT / "endpoints.yml"),
                        help="our default-profile endpoints file (default endpoints.yml)")
    parser.add_argument("--prod-endpoints", default=str(ROOT / "endpoints.prod.yml"))
    parser.add_argument("--shared-services", action="store_true",
                        help="production profile: use the project's PostgreSQL and Redis "
                             "(build/services) instead of instances of its own")
    parser.add_argument("--credentials", default=str(ROOT / "credentials.yml"),
                        help="our credentials file; only its REST channel is used")
    parser.add_argument("--tracker-store", default=None,
                        help="override our tracker store's `type` (default: the endpoints "
                             "file's)")
    parser.add_argument("--output", default=str(ROOT / "results" / "load.json"))
    args = parser.parse_args(argv)
    for name in ("conversations", "messages", "rounds", "users", "long_turns"):
        if getattr(args, name) < 0 or getattr(args, name) > 10_000:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 10000")
    if not MODEL.exists():
        print(f"{MODEL} is missing: run `make train` first", file=sys.stderr)
        return 2

    deadline = Deadline(time.monotonic() + args.time_limit)
    report: Dict[str, Any] = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                              "machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    ok = True
    with tempfile.TemporaryDirectory(prefix="load-benchmark-") as tmp_name:
        tmp = Path(tmp_name)
        for profile, run in (("default", run_default), ("prod", run_prod)):
            if args.profile not in (profile, "both"):
                continue
            (tmp / profile).mkdir()
            try:
                report[profile] = run(args, deadline, tmp / profile)
            except Exception as error:  # keep the other profile's figures
                print(f"The {profile} profile failed: {type(error).__name__}: {error}",
                      file=sys.stderr)
                report[f"{profile}_error"] = f"{type(error).__name__}: {error}"
                ok = False
    report["machine"]["load_average_at_end"] = list(os.getloadavg())
    report["out_of_time"] = deadline.left() <= 0
    print(f"\nMachine: {report['machine']['cpus']} cores, {report['machine']['platform']}, "
          f"Rasa {report['machine']['rasa']}; load average at start "
          f"{report['machine']['load_average_at_start'][0]:.1f}, at end "
          f"{report['machine']['load_average_at_end'][0]:.1f}")
    if "default" in report:
        print_default(report["default"])
        ok = print_check(report["default"]["check"]) and ok
    if "prod" in report:
        print_prod(report["prod"])
        ok = print_check(report["prod"]["check"]) and ok
    if report["out_of_time"]:
        print(f"\nThe time limit ({args.time_limit:.0f} s) was reached: some phases stopped "
              f"early (see `complete` in the results).")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    print(f"\nResults written to {output}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
