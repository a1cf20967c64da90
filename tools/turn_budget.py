"""Where one turn's time goes, step by step, next to the model's own parse.

Usage:
    .venv/bin/python -m tools.turn_budget [--conversations 80] [--calls 300] [--gap-ms 10]
    .venv/bin/python -m tools.turn_budget --long-turns 150   # and where a long one's time grows

The one-user target of docs/performance.md compares a full turn with `/model/parse`.
This script shows what the difference is made of. It loads the trained model in
this process, with the project's endpoints (SQLite tracker and lock stores in a
temporary folder) and the same changes to Rasa that `rasa run` gets from the REST
channel, and starts the project's action server on a free loopback port. Then:

1. **Turns.** The short conversations of tests/test_conversations.yml, one at a
   time, each in a new conversation. Every turn goes through `Agent.handle_message`
   (what the REST channel calls), with a timer around each step of Rasa's message
   processor; the same text then goes through `Agent.parse_message` (what
   `/model/parse` calls). HTTP in front of Rasa is left out: both requests pay it.
2. **The action-server round trip alone.** The last request a turn sent to the
   action server is sent again, by aiohttp (as Rasa sends it) and by a plain
   keep-alive socket, back to back and after an idle gap like the one between two
   turns of one user.

3. **One long conversation** (with `--long-turns N`): N turns by one user, the
   stories' turns in a row, with the same step timers; the medians of the first
   and the last 50 turns side by side show which steps grow with the stored
   conversation.

Prints medians. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import inspect
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Optional, Tuple
from unittest import mock

from tools.load.servers import MODEL, load_env, project_endpoints
from tools.load.traffic import load_stories
from tools.processes import Server, action_server_command, free_port, serving
from tools.run import action_server_health, action_server_url

ROOT = Path(__file__).resolve().parent.parent


#: Steps timed inside a turn: (label, owner path, method).
STEPS: List[Tuple[str, str, str]] = [
    ("read the conversation (and start a session)", "rasa.core.processor:MessageProcessor",
     "fetch_tracker_and_update_session"),
    ("NLU (the parse)", "rasa.core.processor:MessageProcessor", "parse_message"),
    ("slot extraction", "rasa.core.processor:MessageProcessor", "run_action_extract_slots"),
    ("policy predictions", "rasa.core.processor:MessageProcessor",
     "_predict_next_with_tracker"),
    ("action server call", "rasa.core.actions.action:RemoteAction", "run"),
    ("logging actions on the tracker", "rasa.core.processor:MessageProcessor",
     "_log_action_on_tracker"),
    ("saving the conversation", "rasa.core.processor:MessageProcessor", "save_tracker"),
]
NLU = STEPS[1][0]


class Timers:
    """Per-turn step timers: only the outermost timed step counts, so none is counted twice."""

    def __init__(self) -> None:
        self.turn: Optional[Dict[str, float]] = None
        self.depth = 0
        self.last_action_call: Optional[Dict[str, Any]] = None

    def add(self, label: str, started: float) -> None:
        """Adds the time since `started` to `label` of the turn in progress."""
        if self.turn is not None:
            self.turn[label] = self.turn.get(label, 0.0) + (time.perf_counter() - started) * 1000

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Times the block for `label` when no other step is running."""
        outermost, started = self.depth == 0, time.perf_counter()
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if outermost:
                self.add(label, started)

    def wrap(self, label: str, method: Callable[..., Any]) -> Callable[..., Any]:
        """`method` (a function or a coroutine function) timed as the step `label`."""
        if inspect.iscoroutinefunction(method):
            @functools.wraps(method)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                with self.step(label):
                    return await method(*args, **kwargs)
            return timed_async

        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.step(label):
                return method(*args, **kwargs)
        return timed


def _owner(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(__import__(module, fromlist=[name]), name)


@contextlib.contextmanager
def install_timers(timers: Timers) -> Iterator[None]:
    """Wraps the timed steps (and keeps each action call's body) until closed.

    A measuring instrument, not a change to how Rasa runs: the wrappers are
    `unittest.mock.patch.object` patches, undone when the block ends.
    """
    from rasa.core.actions.action import RemoteAction

    call_format = RemoteAction._action_call_format

    def keep_body(action: Any, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        body: Dict[str, Any] = call_format(action, *args, **kwargs)
        timers.last_action_call = body
        return body

    with contextlib.ExitStack() as stack:
        for label, path, name in STEPS:
            owner = _owner(path)
            stack.enter_context(mock.patch.object(owner, name,
                                                  timers.wrap(label, getattr(owner, name))))
        stack.enter_context(mock.patch.object(RemoteAction, "_action_call_format", keep_body))
        yield


async def timed_turn(agent: Any, timers: Timers, text: str, sender: str) -> Dict[str, float]:
    """One turn through `Agent.handle_message`: its steps' times and the whole, in ms."""
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    timers.turn = {}
    started = time.perf_counter()
    await agent.handle_message(UserMessage(text, CollectingOutputChannel(), sender))
    elapsed = (time.perf_counter() - started) * 1000
    turn, timers.turn = timers.turn, None
    return {**turn, "turn": elapsed}


async def run_turns(agent: Any, timers: Timers, conversations: int
                    ) -> Tuple[List[float], List[float], List[Dict[str, float]]]:
    """Times each turn (with its steps) and each parse of the same text."""
    stories = load_stories()
    turns: List[float] = []
    parses: List[float] = []
    steps: List[Dict[str, float]] = []
    for number in range(conversations + 3):  # the first 3 warm up
        sender = f"budget-{uuid.uuid4().hex[:10]}"
        for text in stories[number % len(stories)]:
            turn = await timed_turn(agent, timers, text, sender)
            started = time.perf_counter()
            await agent.parse_message(text)
            parsed = (time.perf_counter() - started) * 1000
            if number >= 3:
                turns.append(turn["turn"])
                parses.append(parsed)
                steps.append(turn)
    return turns, parses, steps


async def run_long_conversation(agent: Any, timers: Timers, turns: int
                                ) -> List[Dict[str, float]]:
    """Times each turn of one conversation of `turns` turns, with its steps."""
    texts = [text for story in load_stories() for text in story]
    sender = f"budget-long-{uuid.uuid4().hex[:10]}"
    return [await timed_turn(agent, timers, texts[number % len(texts)], sender)
            for number in range(turns)]


def report_long(steps: List[Dict[str, float]], window: int = 50) -> None:
    """Prints the step medians of the first and the last `window` turns side by side."""
    first, last = steps[:window], steps[-window:]
    print(f"\nOne conversation of {len(steps)} turns: medians of its first and last "
          f"{len(first)} turns (ms)")
    labels = ["turn"] + [label for label, *_ in STEPS]
    for label in labels:
        early = statistics.median(row.get(label, 0.0) for row in first)
        late = statistics.median(row.get(label, 0.0) for row in last)
        print(f"    {label:<46} {early:7.2f} {late:7.2f}  (+{late - early:.2f})")
    other = [[row["turn"] - sum(row.get(label, 0.0) for label in labels[1:]) for row in part]
             for part in (first, last)]
    early, late = statistics.median(other[0]), statistics.median(other[1])
    print(f"    {'everything else (lock, bookkeeping)':<46} {early:7.2f} {late:7.2f}  "
          f"(+{late - early:.2f})")


async def raw_post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes
                   ) -> bytes:
    """One POST /webhook on a kept-alive socket: the request in one write, the answer read."""
    writer.write(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                 b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"action server answered {head[:40]!r}")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return await reader.readexactly(length)


async def action_round_trips(url: str, port: int, payload: Dict[str, Any], calls: int,
                             gap_ms: float) -> Dict[str, List[float]]:
    """The same action call by aiohttp and by a raw socket, back to back and after a gap."""
    import aiohttp

    times: Dict[str, List[float]] = {}
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(calls):
                for gap in (0.0, gap_ms):
                    for client in ("aiohttp", "socket"):
                        if gap:
                            await asyncio.sleep(gap / 1000)
                        started = time.perf_counter()
                        body = json.dumps(payload).encode()
                        if client == "aiohttp":
                            async with session.post(url, data=body, headers={
                                    "Content-Type": "application/json"}) as response:
                                response.raise_for_status()
                                json.loads(await response.read())
                        else:
                            json.loads(await raw_post(reader, writer, body))
                        key = f"{client}, {'back to back' if not gap else f'after {gap:g} ms idle'}"
                        times.setdefault(key, []).append((time.perf_counter() - started) * 1000)
    finally:
        writer.close()
    return times


def report(turns: List[float], parses: List[float], steps: List[Dict[str, float]],
           trips: Dict[str, List[float]]) -> None:
    """Prints the medians and the budget the one-user target leaves."""
    turn_p50, parse_p50 = statistics.median(turns), statistics.median(parses)
    print(f"\n{len(turns)} turns, one user at a time, in process (no HTTP in front of Rasa)")
    print(f"  turn p50 {turn_p50:.2f} ms, parse p50 {parse_p50:.2f} ms, "
          f"ratio {turn_p50 / parse_p50:.2f}")
    rest = [row["turn"] - row.get(NLU, 0.0) for row in steps]
    print(f"  turn without its NLU: p50 {statistics.median(rest):.2f} ms; a ratio of 1.5 "
          f"leaves {0.5 * parse_p50:.2f} ms for it")
    print("\n  step (median per turn; turns without the step count as 0)")
    labels = [label for label, *_ in STEPS]
    for label in labels:
        values = [row.get(label, 0.0) for row in steps]
        print(f"    {label:<46} {statistics.median(values):6.2f} ms  "
              f"(in {sum(1 for row in steps if label in row)} of {len(steps)} turns)")
    other = [row["turn"] - sum(row.get(label, 0.0) for label in labels) for row in steps]
    print(f"    {'everything else (lock, bookkeeping)':<46} {statistics.median(other):6.2f} ms")
    print("\n  the last action call again, alone (median)")
    for key, values in trips.items():
        print(f"    {key:<34} {statistics.median(values):6.2f} ms  ({len(values)} calls)")


@contextlib.asynccontextmanager
async def agent_in_process(tmp: Path) -> AsyncIterator[Tuple[Any, str, int]]:
    """The trained model loaded here with the project's endpoints (SQLite files in `tmp`).

    Yields:
        The agent, the URL of the project's action server it calls (started on a
        free loopback port, stopped on exit), and that server's port.
    """
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints

    port = free_port()
    url = action_server_url({}, port)
    actions = Server("actions", action_server_command(port), action_server_health({}, port),
                     load_env(), tmp)
    with serving(actions):
        endpoints_file = tmp / "endpoints.yml"
        endpoints_file.write_text(project_endpoints(ROOT / "endpoints.yml", url,
                                                    tmp / "tracker.db", None))
        yield (await load_agent(model_path=str(MODEL),
                                endpoints=AvailableEndpoints.read_endpoints(
                                    str(endpoints_file))), url, port)


async def measure(args: argparse.Namespace, tmp: Path) -> None:
    """Starts the action server, loads the agent, runs both parts and prints them."""
    from runtime import gc_tuning

    async with agent_in_process(tmp) as (agent, url, port):
        gc_tuning.ModelFreezer().freeze_loaded(agent)
        timers = Timers()
        with install_timers(timers):
            turns, parses, steps = await run_turns(agent, timers, args.conversations)
        if timers.last_action_call is None:
            raise SystemExit("no turn called the action server")
        trips = await action_round_trips(url, port, timers.last_action_call, args.calls,
                                         args.gap_ms)
        report(turns, parses, steps, trips)
        if args.long_turns:
            with install_timers(timers):
                long_steps = await run_long_conversation(agent, timers, args.long_turns)
            report_long(long_steps)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=80,
                        help="short conversations, one at a time (default 80)")
    parser.add_argument("--calls", type=int, default=300,
                        help="action calls per client and gap (default 300)")
    parser.add_argument("--gap-ms", type=float, default=10.0,
                        help="idle time before each call of the second set (default 10)")
    parser.add_argument("--long-turns", type=int, default=0,
                        help="also one conversation of this many turns (default: none)")
    args = parser.parse_args(argv)
    for name, low, high in (("conversations", 1, 10_000), ("calls", 1, 10_000),
                            ("gap_ms", 0, 1_000), ("long_turns", 0, 10_000)):
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name.replace('_', '-')} must be between {low} and {high}")
    if not MODEL.exists():
        print(f"{MODEL} is missing: run `make train` first", file=sys.stderr)
        return 1
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    # As `rasa run` at its default level: Rasa logs (and does) more at debug level.
    configure_logging_and_warnings(logging.INFO, warn_only_once=True,
                                   filter_repeated_logs=True)
    configure_structlog(logging.INFO)
    gc.collect()
    with tempfile.TemporaryDirectory(prefix="turn-budget-") as tmp:
        asyncio.run(measure(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
