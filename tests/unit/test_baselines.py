"""The record of the baselines' last figures, which `make evaluate`'s report shows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tools import baselines


def test_the_committed_record_holds_the_last_measured_figures() -> None:
    record = baselines.load_record()
    assert record is not None
    assert record.measured_on == dt.date(2026, 12, 1) and record.command == "make benchmark"
    assert set(record.systems) == {"ours", *baselines.BASELINES}
    assert record.systems["stock_rasa_init"].overall_accuracy == 0.964


def test_a_record_round_trips(tmp_path: Path) -> None:
    scores = {"topic_accuracy": 0.9, "overall_accuracy": 0.8, "oos_rejection": 1.0,
              "red_flag_recall": 1.0, "red_flag_phrasings_recall": 0.5, "per_topic_f1": {}}
    record = baselines.make_record({"ours": scores}, 3, 10, measured_on=dt.date(2027, 1, 2))
    path = baselines.save_record(record, tmp_path / "baseline.json")
    assert baselines.load_record(path) == record
    assert baselines.load_record(tmp_path / "missing.json") is None


def test_ours_must_beat_both_baselines_on_overall_accuracy() -> None:
    ours = {"overall_accuracy": 0.9}
    assert baselines.not_beaten(ours, {"stock_rasa_init": {"overall_accuracy": 0.8},
                                       "tfidf_nearest_neighbour": {"overall_accuracy": 0.7}}) == []
    assert baselines.not_beaten(ours, {"stock_rasa_init": {"overall_accuracy": 0.9}}) == [
        "overall_accuracy does not beat stock_rasa_init"]


def test_a_record_keeps_the_headline_figures() -> None:
    from tools.content.scoring import HEADLINE_KEYS

    assert tuple(baselines.Figures.__fields__) == HEADLINE_KEYS
