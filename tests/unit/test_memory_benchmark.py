"""tools/memory_benchmark.py's parts: /proc readings, process roles, peaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.memory_benchmark import Memory, Peaks, endpoints_in, read_memory, role


def test_reads_this_process_memory() -> None:
    memory = read_memory(os.getpid())
    assert memory is not None and memory.rss > 10 * 1024 * 1024
    assert 0 < memory.uss <= memory.pss <= memory.rss or memory.pss == 0  # PSS needs smaps
    assert read_memory(2**22 + 1) is None  # no such process


def test_roles_come_from_the_command_line() -> None:
    assert role(os.getpid(), {}, os.getppid()) == "other"


def test_peaks_per_process_and_of_the_sum() -> None:
    peaks = Peaks()
    peaks.add({1: Memory(100, 50, 40), 2: Memory(10, 5, 4)})
    peaks.add({1: Memory(80, 60, 30), 2: Memory(40, 20, 10)})
    assert peaks.peaks == {1: Memory(100, 60, 40), 2: Memory(40, 20, 10)}
    assert peaks.total == Memory(120, 80, 44) and peaks.samples == 2


def test_endpoints_keep_the_stores_in_the_run_folder(tmp_path: Path) -> None:
    text = endpoints_in(tmp_path, 5999).read_text()
    assert "http://127.0.0.1:5999/webhook" in text
    assert str(tmp_path / "tracker.db") in text and str(tmp_path / "locks.db") in text


def test_the_console_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.memory_benchmark as benchmark

    monkeypatch.setattr(benchmark, "command_line",
                        lambda pid: ["/x/.venv/bin/python", "-m", "console", "--port", "8081"])
    assert role(123, {}, 1) == "content console"
