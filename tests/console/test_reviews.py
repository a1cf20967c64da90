"""The review dates page: topics overdue or due for clinical review within 30 days."""

from __future__ import annotations

import datetime as dt
import re

from console.review_dates import due
from nightcramps.content_store import YamlContentStore
from tests.console.conftest import Console


def set_field(console: Console, topic_id: str, line: str) -> None:
    """Replaces or adds a top-level `key: value` line of a topic file."""
    path = console.content / "topics" / f"{topic_id}.yml"
    key = line.split(":")[0]
    text = path.read_text()
    if re.search(rf"^{key}:", text, flags=re.M):
        text = re.sub(rf"^{key}:.*$", line, text, flags=re.M)
    else:
        text += f"{line}\n"
    path.write_text(text)


def test_overdue_and_due_soon_topics_are_listed(console: Console) -> None:
    today = dt.date.today()
    set_field(console, "sciatica", f"last_reviewed: {(today - dt.timedelta(days=400)).isoformat()}")
    set_field(console, "sciatica", f"next_review: {(today - dt.timedelta(days=35)).isoformat()}")
    set_field(console, "dehydration", f"next_review: {(today + dt.timedelta(days=10)).isoformat()}")
    set_field(console, "circulation", f"next_review: {(today + dt.timedelta(days=90)).isoformat()}")
    ours = ("sciatica", "dehydration", "circulation")
    listed = [item for item in due(YamlContentStore(console.content).entries(), today)
              if item.topic_id in ours]
    assert [(item.topic_id, item.overdue) for item in listed] == [
        ("sciatica", True), ("dehydration", False)]
    assert listed[1].days_left == 10
    page = console.client("editor@example.org").get("/reviews").text
    assert page.index("Sciatica") < page.index("Dehydration and leg cramps")
    assert "Overdue by" in page and "Due in 10 days" in page
    assert "Circulation and leg cramps" not in page
