"""tools/purge_conversations.py on SQLite: conversations whose last event is old go."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Dict

import pytest

from tests.privacy.conftest import DAY, conversation, save, sqlite_section, store_from
from tests.servers import BIN, ROOT
from tools.purge_conversations import main


def counts(db: Path) -> Dict[str, int]:
    with sqlite3.connect(db) as connection:
        return dict(connection.execute(
            "select sender_id, count(*) from events group by sender_id").fetchall())


@pytest.fixture
def endpoints(tmp_path: Path) -> Path:
    """An endpoints file like endpoints.yml, on an SQLite file with three conversations.

    old: last event 40 days ago; recent: 1 day ago; revived: started 40 days ago,
    last event today (it must be kept whole).
    """
    db = tmp_path / "tracker.db"
    store = store_from(sqlite_section(db))
    now = time.time()
    save(store, conversation("old", ["a", "b"], now - 40 * DAY))
    save(store, conversation("recent", ["c"], now - DAY))
    revived = conversation("revived", ["d"], now - 40 * DAY)
    for event in conversation("revived", ["e"], now - 60).events:
        revived.update(event)
    save(store, revived)
    store.engine.dispose()
    path = tmp_path / "endpoints.yml"
    path.write_text((ROOT / "endpoints.yml").read_text().replace("db: tracker.db", f"db: {db}"))
    return path


def test_dry_run_counts_and_deletes_nothing(endpoints: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    before = counts(endpoints.parent / "tracker.db")
    assert main(["--older-than-days", "30", "--endpoints", str(endpoints), "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith(
        f"Would delete 1 conversation(s) ({before['old']} events)")
    assert counts(endpoints.parent / "tracker.db") == before


def test_purge_deletes_only_conversations_whose_last_event_is_old(endpoints: Path) -> None:
    db = endpoints.parent / "tracker.db"
    before = counts(db)
    result = subprocess.run(
        [str(BIN / "python"), "tools/purge_conversations.py", "--older-than-days", "30",
         "--endpoints", str(endpoints)], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False)
    assert result.returncode == 0, result.stderr
    assert f"Deleted 1 conversation(s) ({before['old']} events)" in result.stdout
    assert counts(db) == {"recent": before["recent"], "revived": before["revived"]}
    assert main(["--older-than-days", "0.5", "--endpoints", str(endpoints)]) == 0
    assert counts(db) == {"revived": before["revived"]}


def test_a_non_sql_tracker_store_is_refused(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: redis\n  url: localhost\n")
    assert main(["--older-than-days", "30", "--endpoints", str(endpoints)]) == 2
    assert "only SQL tracker stores" in capsys.readouterr().err


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(f"tracker_store:\n  type: SQL\n  dialect: sqlite\n"
                         f"  db: {tmp_path / 'nothing.db'}\n")
    assert main(["--older-than-days", "30", "--endpoints", str(endpoints)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nothing.db").exists()


def test_negative_days_are_refused() -> None:
    with pytest.raises(SystemExit):
        main(["--older-than-days", "-1"])
