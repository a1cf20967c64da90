"""tools/event_cache_benchmark.py: it reads the same conversation both ways and prints figures."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tools import event_cache_benchmark


def test_a_turn_stores_what_the_assistant_stores() -> None:
    events = event_cache_benchmark.conversation(2)
    assert len(events) == 3 + 2 * 6
    assert [e.type_name for e in events[3:9]] == [
        "user", "user_featurization", "action", "bot", "slot", "action"]


def test_it_prints_both_reads_and_the_memory(capsys: pytest.CaptureFixture[str]) -> None:
    assert event_cache_benchmark.main(["--turns", "3", "--reads", "2"]) == 0
    out = capsys.readouterr().out
    assert "(21 events)" in out and "read p50 with the cache" in out and "without / with" in out
    assert "bytes per event" in out


def test_bounds_are_checked() -> None:
    with pytest.raises(SystemExit):
        event_cache_benchmark.main(["--turns", "0"])


def test_the_no_cache_endpoints_file_differs_from_endpoints_yml_only_there() -> None:
    root = Path(__file__).resolve().parents[2]
    ours = yaml.safe_load((root / "endpoints.yml").read_text())
    without = yaml.safe_load((root / "benchmarks" / "endpoints.no-event-cache.yml").read_text())
    assert without["tracker_store"].pop("cached_events") == 0
    assert without == ours
