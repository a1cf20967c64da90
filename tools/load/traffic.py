"""The load: realistic conversations sent through the REST channel, timed."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import aiohttp
import yaml

from tools.load.deadline import Deadline
from tools.stats import summary

ROOT = Path(__file__).resolve().parents[2]
STORIES = ROOT / "tests" / "test_conversations.yml"
REQUEST_TIMEOUT = 60.0


def load_stories(path: Path = STORIES) -> List[List[str]]:
    """The user messages of each test story, in order (realistic short conversations).

    Stories that delete the conversation ("delete my data") are left out: the check
    afterwards expects every conversation to be kept.
    """
    from rasa.shared.nlu.training_data.entities_parser import replace_entities

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    stories = []
    for story in data.get("stories") or []:
        steps = [step for step in story.get("steps") or [] if isinstance(step, dict)]
        if any("delete" in str(step.get("action", "")) for step in steps):
            continue
        # Messages as users type them: without the stories' entity annotations.
        texts = [replace_entities(str(step["user"]).strip()) for step in steps if "user" in step]
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
