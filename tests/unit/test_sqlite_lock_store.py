"""The SQLite lock store: Rasa's ticket-lock semantics, atomic across processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from pathlib import Path
from typing import List

from rasa.core.lock_store import LockStore
from rasa.utils.endpoints import EndpointConfig

from stores.sqlite_lock_store import SQLiteLockStore

PROCESSES = 4
INCREMENTS = 15


def test_built_from_the_endpoints_file_section(tmp_path: Path) -> None:
    config = EndpointConfig(type="stores.sqlite_lock_store.SQLiteLockStore",
                            db=str(tmp_path / "locks.db"))
    store = LockStore.create(config)
    assert isinstance(store, SQLiteLockStore) and store.path == tmp_path / "locks.db"


def test_tickets_queue_and_finish_in_order(tmp_path: Path) -> None:
    store = SQLiteLockStore(str(tmp_path / "locks.db"))
    first, second = store.issue_ticket("c1", 60), store.issue_ticket("c1", 60)
    assert second == first + 1
    lock = store.get_lock("c1")
    assert lock is not None and not lock.is_locked(first) and lock.is_locked(second)
    store.cleanup("c1", first)
    lock = store.get_lock("c1")
    assert lock is not None and not lock.is_locked(second)
    store.cleanup("c1", second)
    assert store.get_lock("c1") is None
    assert store.issue_ticket("c1", 60) == second + 1  # numbers are never reused


def test_expired_tickets_are_dropped(tmp_path: Path) -> None:
    store = SQLiteLockStore(str(tmp_path / "locks.db"))
    stale = store.issue_ticket("c1", 0.01)
    time.sleep(0.05)
    fresh = store.issue_ticket("c1", 60)
    lock = store.get_lock("c1")
    assert lock is not None and [t.number for t in lock.tickets] == [fresh] != [stale]


def _increment_under_lock(db: str, counter: str, times: int) -> None:
    """Read-sleep-write on a file, inside the conversation's lock: loses updates without it."""
    store = SQLiteLockStore(db)

    async def run() -> None:
        for _ in range(times):
            async with store.lock("shared", lock_lifetime=30, wait_time_in_seconds=0.001):
                value = int(Path(counter).read_text())
                await asyncio.sleep(0.001)
                Path(counter).write_text(str(value + 1))

    asyncio.run(run())


def test_processes_never_hold_a_conversation_at_once(tmp_path: Path) -> None:
    db, counter = str(tmp_path / "locks.db"), tmp_path / "counter"
    counter.write_text("0")
    SQLiteLockStore(db)
    context = multiprocessing.get_context("spawn")
    workers: List[multiprocessing.process.BaseProcess] = [
        context.Process(target=_increment_under_lock, args=(db, str(counter), INCREMENTS))
        for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert all(worker.exitcode == 0 for worker in workers)
    assert int(counter.read_text()) == PROCESSES * INCREMENTS
    assert SQLiteLockStore(db).get_lock("shared") is None
