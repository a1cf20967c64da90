"""The turn-budget benchmark's timers and its plain-socket action call."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Dict

import pytest

from tools.turn_budget import Timers, main, raw_post


class Clock:
    """A stand-in for `time.perf_counter` that only moves when a step says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms / 1000


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(time, "perf_counter", fake)
    return fake


def test_only_the_outermost_step_counts(clock: Clock) -> None:
    timers = Timers()
    timed_inner = timers.wrap("inner", lambda: clock.advance(20))

    def outer() -> None:
        timed_inner()
        clock.advance(10)

    timed_outer = timers.wrap("outer", outer)
    timers.turn = {}
    timed_outer()
    timed_inner()
    assert timers.turn == pytest.approx({"outer": 30, "inner": 20})  # nested: counted once


async def test_async_steps_add_up_and_nothing_counts_outside_a_turn(clock: Clock) -> None:
    timers = Timers()

    async def step(ms: float) -> str:
        await asyncio.sleep(0)
        clock.advance(ms)
        return "done"

    timed = timers.wrap("step", step)
    assert await timed(10) == "done"  # no turn in progress
    assert timers.turn is None and timers.depth == 0
    timers.turn = {}
    await timed(10)
    await timed(15)
    assert timers.turn == pytest.approx({"step": 25})


async def test_a_failing_step_still_counts_and_unwinds(clock: Clock) -> None:
    timers = Timers()

    async def broken() -> None:
        clock.advance(5)
        raise RuntimeError("action server down")

    timed = timers.wrap("broken", broken)
    timers.turn = {}
    with pytest.raises(RuntimeError):
        await timed()
    assert timers.turn == pytest.approx({"broken": 5}) and timers.depth == 0


async def test_raw_post_reads_each_answer_on_one_kept_alive_socket() -> None:
    received = []
    finished = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not reader.at_eof():
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            body: Dict[str, Any] = json.loads(await reader.readexactly(length))
            received.append(body)
            answer = json.dumps({"events": [], "echo": body["n"]}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(answer) + answer)
        writer.close()
        finished.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        answers = [json.loads(await raw_post(reader, writer, json.dumps({"n": n}).encode()))
                   for n in range(3)]
    finally:
        writer.close()
        await asyncio.wait_for(finished.wait(), 5)
        server.close()
        await server.wait_closed()
    assert [answer["echo"] for answer in answers] == [0, 1, 2]
    assert [body["n"] for body in received] == [0, 1, 2]


async def test_raw_post_refuses_an_error_answer() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with pytest.raises(RuntimeError, match="500"):
            await raw_post(reader, writer, b"{}")
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("argv", [["--calls", "0"], ["--conversations", "-1"],
                                  ["--gap-ms", "5000"]])
def test_out_of_range_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2


def test_the_long_conversation_report_shows_which_step_grows(
        capsys: pytest.CaptureFixture[str]) -> None:
    from tools.turn_budget import NLU, report_long

    read = "read the conversation (and start a session)"
    steps = [{"turn": 10.0 + number / 10, NLU: 5.0, read: 1.0 + number / 10}
             for number in range(150)]
    report_long(steps)
    lines = {line.split("  ")[2].strip(): line for line in capsys.readouterr().out.splitlines()
             if line.startswith("    ")}
    assert lines[read].split()[-3:] == ["3.45", "13.45", "(+10.00)"]  # medians of turns 0-49, 100-149
    assert lines[NLU].split()[-1] == "(+0.00)"
    assert lines["everything else (lock, bookkeeping)"].split()[-1] == "(+0.00)"
