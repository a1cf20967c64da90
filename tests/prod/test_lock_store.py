"""The atomic Redis lock store against a real Redis, and the stock store's races.

The stock `RedisLockStore` tests interleave two clients' steps by hand (a hook
that runs the second client's whole operation between the first client's read
and write), so they show the races deterministically rather than by timing luck.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from typing import Any, Callable, Dict, List

import pytest
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError, LockStore, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from stores.redis_lock_store import KEY_GRACE_MS, AtomicRedisLockStore
from tests.prod.conftest import Services, lock_keys

PROCESSES = 4
THREADS_PER_PROCESS = 3
TICKETS_PER_THREAD = 25
CRITICAL_SECTIONS_PER_PROCESS = 10


def _issue_in_threads(settings: Dict[str, Any], conversation: str, start: Any,
                      results: Any) -> None:
    """Child process: several threads, each with its own client, issue tickets."""
    def issue(out: List[int]) -> None:
        store = AtomicRedisLockStore(**settings)
        start.wait(30)
        for _ in range(TICKETS_PER_THREAD):
            out.append(store.issue_ticket(conversation, 60))

    lists: List[List[int]] = [[] for _ in range(THREADS_PER_PROCESS)]
    threads = [threading.Thread(target=issue, args=(out,)) for out in lists]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    results.put(lists)


def _count_under_lock(settings: Dict[str, Any], conversation: str, counter_key: str,
                      start: Any, results: Any) -> None:
    """Child process: read-increment-write a Redis counter while holding the lock."""
    async def run() -> int:
        store = AtomicRedisLockStore(**settings)
        start.wait(30)
        done = 0
        for _ in range(CRITICAL_SECTIONS_PER_PROCESS):
            async with store.lock(conversation, lock_lifetime=30, wait_time_in_seconds=0.005):
                value = int(store.red.get(counter_key) or 0)
                await asyncio.sleep(0.002)  # widen the window a missing lock would expose
                store.red.set(counter_key, value + 1)
                done += 1
        return done

    try:
        results.put(asyncio.run(run()))
    except Exception as error:  # reported to the parent, which fails the test
        results.put(repr(error))


def _in_processes(target: Callable[..., None], *args: Any) -> List[Any]:
    """Runs `target(*args, start, results)` in PROCESSES spawned processes, bounded."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    processes = [context.Process(target=target, args=(*args, start, results))
                 for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    try:
        time.sleep(0.5)  # let them import and connect, then release them together
        start.set()
        collected = [results.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)
    return collected


def test_concurrent_tickets_from_processes_and_threads_are_unique_and_increasing(
        services: Services, conversation_id: str) -> None:
    settings = services.redis_settings()
    per_process = _in_processes(_issue_in_threads, settings, conversation_id)
    per_client = [tickets for lists in per_process for tickets in lists]
    every = sorted(ticket for tickets in per_client for ticket in tickets)
    total = PROCESSES * THREADS_PER_PROCESS * TICKETS_PER_THREAD
    assert len(every) == total
    assert every == list(range(1, total + 1))  # unique, none skipped
    for tickets in per_client:
        assert tickets == sorted(set(tickets))  # strictly increasing per client
    lock = AtomicRedisLockStore(**settings).get_lock(conversation_id)
    assert lock is not None
    assert [ticket.number for ticket in lock.tickets] == every  # no ticket lost


def test_lock_serialises_processes(services: Services, conversation_id: str,
                                   redis_client: Any) -> None:
    settings = services.redis_settings()
    counter_key = f"prodtest-counter:{conversation_id}"
    try:
        done = _in_processes(_count_under_lock, settings, conversation_id, counter_key)
        assert done == [CRITICAL_SECTIONS_PER_PROCESS] * PROCESSES, done
        assert int(redis_client.get(counter_key)) == PROCESSES * CRITICAL_SECTIONS_PER_PROCESS
        assert lock_keys(redis_client, [conversation_id]) == [
            f"lock_counter:{conversation_id}"]  # the lock itself is gone
    finally:
        redis_client.delete(counter_key)


# --- the stock store's races, interleaved deterministically ----------------------------

def test_stock_store_hands_out_a_duplicate_ticket(services: Services,
                                                  conversation_id: str) -> None:
    """`LockStore.issue_ticket`: GET, number = last + 1 in the client, SET the lock."""
    first, second = (RedisLockStore(**services.redis_settings()) for _ in range(2))
    second_ticket: List[int] = []
    read_lock = first.get_lock

    def read_then_let_the_other_replica_issue(conversation: str) -> Any:
        lock = read_lock(conversation)  # the first replica has read the lock ...
        second_ticket.append(second.issue_ticket(conversation))  # ... the second issues
        return lock  # ... and the first goes on with what it read

    first.get_lock = read_then_let_the_other_replica_issue
    first_ticket = first.issue_ticket(conversation_id)
    try:
        assert first_ticket == second_ticket[0] == 0  # the same ticket, twice
        stored = second.get_lock(conversation_id)
        assert [ticket.number for ticket in stored.tickets] == [0]  # one ticket overwritten
        # Both replicas now hold the conversation's lock at the same time.
        assert not stored.is_locked(first_ticket) and not stored.is_locked(second_ticket[0])
    finally:
        second.delete_lock(conversation_id)


def test_stock_cleanup_deletes_a_ticket_issued_meanwhile(services: Services,
                                                         conversation_id: str) -> None:
    """`LockStore.cleanup`: `is_someone_waiting` (GET), then `delete_lock` (DEL)."""
    holder, waiter = (RedisLockStore(**services.redis_settings()) for _ in range(2))
    held = holder.issue_ticket(conversation_id)
    waiting: List[int] = []
    delete = holder.delete_lock

    def let_the_other_replica_queue_then_delete(conversation: str) -> None:
        waiting.append(waiter.issue_ticket(conversation))  # queues after the check
        delete(conversation)

    holder.delete_lock = let_the_other_replica_queue_then_delete
    holder.cleanup(conversation_id, held)
    assert waiter.get_lock(conversation_id) is None  # the waiting ticket is gone
    with pytest.raises(LockError):  # so its message fails instead of being processed
        asyncio.run(waiter._acquire_lock(conversation_id, waiting[0], 0.01))


def test_stock_update_lock_brings_back_a_finished_ticket(services: Services,
                                                         conversation_id: str) -> None:
    """`LockStore.update_lock`: GET, drop expired tickets, SET the lock."""
    holder, waiter = (RedisLockStore(**services.redis_settings()) for _ in range(2))
    held = holder.issue_ticket(conversation_id)
    waiting = waiter.issue_ticket(conversation_id)
    read_lock = waiter.get_lock

    def read_then_let_the_holder_finish(conversation: str) -> Any:
        lock = read_lock(conversation)
        holder.cleanup(conversation, held)  # the holder finishes in between
        return lock

    waiter.get_lock = read_then_let_the_holder_finish
    waiter.update_lock(conversation_id)  # what a waiting replica does every second
    try:
        lock = read_lock(conversation_id)
        # The finished ticket is back: the waiter stays blocked until it expires (60 s).
        assert lock.now_serving == held and lock.is_locked(waiting)
    finally:
        waiter.delete_lock(conversation_id)


@pytest.mark.parametrize("operation", ["issue_ticket", "update_lock", "cleanup"])
def test_atomic_store_leaves_no_gap_to_interleave(services: Services, conversation_id: str,
                                                  operation: str) -> None:
    """The same hooks find no read-then-write to get between: each change is one EVAL."""
    store = AtomicRedisLockStore(**services.redis_settings())
    held = store.issue_ticket(conversation_id)
    calls: List[str] = []
    for name in ("get_lock", "save_lock", "delete_lock", "get_or_create_lock",
                 "is_someone_waiting"):
        original = getattr(store, name)
        setattr(store, name, lambda *args, _name=name, _original=original:
                calls.append(_name) or _original(*args))
    if operation == "issue_ticket":
        store.issue_ticket(conversation_id)
    elif operation == "update_lock":
        store.update_lock(conversation_id)
    else:
        store.cleanup(conversation_id, held)
    assert calls == []


# --- the atomic store's behaviour ------------------------------------------------------

def test_finishing_keeps_a_waiting_ticket(services: Services, conversation_id: str,
                                          redis_client: Any) -> None:
    holder, waiter = (AtomicRedisLockStore(**services.redis_settings()) for _ in range(2))
    held = holder.issue_ticket(conversation_id)
    waiting = waiter.issue_ticket(conversation_id)
    assert waiting == held + 1
    assert waiter.get_lock(conversation_id).is_locked(waiting)
    holder.cleanup(conversation_id, held)
    lock = waiter.get_lock(conversation_id)
    assert lock is not None and not lock.is_locked(waiting)
    waiter.cleanup(conversation_id, waiting)
    assert waiter.get_lock(conversation_id) is None
    assert redis_client.exists(holder.lock_key(conversation_id)) == 0


def test_expired_tickets_are_dropped_and_numbers_keep_increasing(
        services: Services, conversation_id: str, redis_client: Any) -> None:
    store = AtomicRedisLockStore(**services.redis_settings())
    stale = store.issue_ticket(conversation_id, lock_lifetime=0.2)
    time.sleep(0.4)
    fresh = store.issue_ticket(conversation_id, lock_lifetime=60)
    assert fresh > stale  # never reused, even though the lock had emptied
    lock = store.get_lock(conversation_id)
    assert [ticket.number for ticket in lock.tickets] == [fresh]
    assert not lock.is_locked(fresh)
    # The replica whose ticket expired finishing late must not free the new holder's.
    store.cleanup(conversation_id, stale)
    assert not store.get_lock(conversation_id).is_locked(fresh)
    # The key expires on its own a little after its last ticket (crashed replicas).
    ttl = redis_client.pttl(store.lock_key(conversation_id))
    assert 55_000 < ttl <= 60_000 + KEY_GRACE_MS
    store.cleanup(conversation_id, fresh)


def test_update_lock_drops_expired_tickets_and_then_the_lock(
        services: Services, conversation_id: str) -> None:
    store = AtomicRedisLockStore(**services.redis_settings())
    store.issue_ticket(conversation_id, lock_lifetime=0.2)
    waiting = store.issue_ticket(conversation_id, lock_lifetime=60)
    time.sleep(0.4)
    store.update_lock(conversation_id)
    lock = store.get_lock(conversation_id)
    assert [ticket.number for ticket in lock.tickets] == [waiting]
    store.finish_serving(conversation_id, waiting)
    assert store.get_lock(conversation_id) is None


def test_lock_json_stays_readable_by_rasa(services: Services, conversation_id: str) -> None:
    atomic = AtomicRedisLockStore(**services.redis_settings())
    tickets = [atomic.issue_ticket(conversation_id) for _ in range(3)]
    stock_view = RedisLockStore(**services.redis_settings()).get_lock(conversation_id)
    assert isinstance(stock_view, TicketLock)
    assert stock_view.conversation_id == conversation_id
    assert [ticket.number for ticket in stock_view.tickets] == tickets
    assert all(ticket.expires > time.time() + 50 for ticket in stock_view.tickets)
    atomic.delete_lock(conversation_id)


def test_created_from_an_endpoints_section_with_env_var_strings(services: Services,
                                                                 conversation_id: str) -> None:
    env = services.env
    section = {"type": "stores.redis_lock_store.AtomicRedisLockStore",
               "url": env["REDIS_HOST"], "port": env["REDIS_PORT"], "db": env["REDIS_DB"],
               "password": env["REDIS_PASSWORD"], "use_ssl": "false", "key_prefix": "",
               "socket_timeout": "5"}
    store = LockStore.create(EndpointConfig.from_dict(section))
    assert isinstance(store, AtomicRedisLockStore)
    kwargs = store.red.connection_pool.connection_kwargs
    assert (kwargs["port"], kwargs["db"], kwargs["socket_timeout"]) == (
        int(env["REDIS_PORT"]), int(env["REDIS_DB"]), 5.0)
    ticket = store.issue_ticket(conversation_id)
    store.cleanup(conversation_id, ticket)
    assert store.get_lock(conversation_id) is None


def test_unknown_or_malformed_settings_are_refused() -> None:
    base = {"type": "stores.redis_lock_store.AtomicRedisLockStore", "url": "127.0.0.1"}
    with pytest.raises(ValueError, match="unknown lock_store setting"):
        LockStore.create(EndpointConfig.from_dict({**base, "passwd": "x"}))
    with pytest.raises(ValueError, match="use_ssl"):
        LockStore.create(EndpointConfig.from_dict({**base, "use_ssl": "maybe"}))


def test_redis_failure_is_a_lock_error() -> None:
    store = AtomicRedisLockStore(host="127.0.0.1", port=1, socket_timeout=1)
    with pytest.raises(LockError):
        store.issue_ticket("nobody")
