"""SQLite files that several processes open at once: the first one to write makes the rest wait."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from stores.sql_tracker_store import tuned_engine
from stores.sqlite_file import SQLiteFile, enable_wal

SCHEMA = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT);"
HELD_SECONDS = 0.4


@pytest.fixture
def writer_on_a_new_file(tmp_path: Path) -> Iterator[Path]:
    """A new file (still in rollback mode) whose write lock another connection holds briefly.

    This is where two Rasa workers meet when they open the same new lock or
    tracker file: one is creating it while the other switches it to WAL mode.
    """
    path = tmp_path / "shared.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute(SCHEMA)
    release = threading.Timer(HELD_SECONDS, lambda: other.execute("COMMIT"))
    release.start()
    yield path
    release.join()
    other.close()


def test_plain_sqlite_refuses_wal_at_once_while_another_connection_writes(
        writer_on_a_new_file: Path) -> None:
    """The SQLite behaviour the waiting works around: no busy handler for this lock."""
    connection = sqlite3.connect(writer_on_a_new_file, isolation_level=None, timeout=5)
    began = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        connection.execute("PRAGMA journal_mode=WAL")
    assert time.monotonic() - began < HELD_SECONDS
    connection.close()


def test_enable_wal_waits_for_the_writer(writer_on_a_new_file: Path) -> None:
    connection = sqlite3.connect(writer_on_a_new_file, isolation_level=None)
    began = time.monotonic()
    enable_wal(connection)
    assert time.monotonic() - began >= HELD_SECONDS * 0.9
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_enable_wal_gives_up_after_its_timeout(writer_on_a_new_file: Path) -> None:
    connection = sqlite3.connect(writer_on_a_new_file, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enable_wal(connection, timeout=0.05)
    connection.close()


def test_a_file_opened_while_another_process_creates_it(writer_on_a_new_file: Path) -> None:
    shared = SQLiteFile(writer_on_a_new_file, SCHEMA)
    with shared.transaction() as connection:
        connection.execute("INSERT INTO notes (text) VALUES ('kept')")
    assert shared.connection().execute("SELECT text FROM notes").fetchall() == [("kept",)]


def test_the_tracker_store_engine_connects_while_another_process_creates_the_file(
        writer_on_a_new_file: Path) -> None:
    engine = tuned_engine(sa.engine.make_url(f"sqlite:///{writer_on_a_new_file}"))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM notes").scalar() == 0
    engine.dispose()


def _open_and_write(path: str) -> None:
    with SQLiteFile(Path(path), SCHEMA).transaction() as connection:
        connection.execute("INSERT INTO notes (text) VALUES ('x')")


ROUNDS = 40
PROCESSES = 3


def test_processes_opening_a_new_file_together_all_write(tmp_path: Path) -> None:
    """As Sanic's forked workers do at start-up, on a new file each round."""
    context = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        path = tmp_path / f"round{round_}.db"
        workers = [context.Process(target=_open_and_write, args=(str(path),))
                   for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [worker.exitcode for worker in workers] == [0] * PROCESSES, round_
        with sqlite3.connect(path) as connection:
            assert connection.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == PROCESSES
