"""The inbox in the console: what `make inbox` does, behind the login, redacted text only."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, List

import pytest
import yaml
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from tests.console.conftest import Console, running_console

EMAIL_TEXT = "my legs lock up at night, write to me at jane.doe@example.org please"
HTML_TEXT = "<b>legs</b> seize <script>alert(1)</script> when dozing"
UNSURE_TEXT = "charley horse after a long swim in the lake"


def user(text: str, intent: str, confidence: float) -> UserUttered:
    return UserUttered(text, {"name": intent, "confidence": confidence},
                       parse_data={"intent": {"name": intent, "confidence": confidence},
                                   "intent_ranking": [{"name": intent, "confidence": confidence},
                                                      {"name": "ask_causes", "confidence": 0.2}],
                                   "entities": [], "text": text})


def fallback(text: str) -> List[Event]:
    return [user(text, "nlu_fallback", 0.4), ActionExecuted("action_offer_topics"),
            BotUttered("Did you mean..."), ActionExecuted("action_listen")]


def store(console: Console, conversations: dict) -> None:
    """Saves conversations through the project's tracker store (it redacts)."""
    section = yaml.safe_load(console.endpoints.read_text())["tracker_store"]
    tracker_store = TrackerStore.create(EndpointConfig.from_dict(section), domain=Domain.empty())

    async def save_all() -> None:
        for sender, events in conversations.items():
            await tracker_store.save(DialogueStateTracker.from_events(sender, [
                ActionExecuted("action_session_start"), SessionStarted(),
                ActionExecuted("action_listen"), *events]))

    # In a thread of its own: Playwright's event loop may run in this one (test_browser.py).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, save_all()).result()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with running_console(tmp_path_factory.mktemp("console-inbox")) as running:
        store(running, {
            "email": fallback(EMAIL_TEXT),
            "html": fallback(HTML_TEXT),
            "unsure": [user(UNSURE_TEXT, "ask_exercise", 0.35), ActionExecuted("action_listen")],
        })
        yield running


def group_of(page: str, text: str) -> str:
    """The id of the group that lists `text` (as the page shows it)."""
    for section in page.split('<section class="inbox-group"')[1:]:
        if text in section:
            return re.search(r'name="item_id" value="([^"]+)"', section).group(1)
    raise AssertionError(f"{text!r} is not in the inbox")


def test_only_redacted_text_is_shown_never_as_html(console: Console) -> None:
    editor = console.client("editor@example.org")
    page = editor.get("/inbox").text
    assert "jane.doe" not in page and "example.org please" not in page
    assert "write to me at [email] please" in page
    assert "<script>alert(1)</script>" not in page and "<b>legs</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert UNSURE_TEXT in page


def test_assign_out_of_scope_and_ignore(console: Console) -> None:
    editor = console.client("editor@example.org")
    page = editor.get("/inbox").text
    root: Path = console.content.parent
    assigned = editor.post("/inbox/decide", {"item_id": group_of(page, UNSURE_TEXT),
                                             "decision": "assign", "topic": "exercise"})
    assert assigned.status_code == 200 and "added" in assigned.text
    nlu = "".join(path.read_text() for path in (root / "data" / "nlu").glob("*.yml"))
    assert f"- {UNSURE_TEXT}" in nlu
    page = editor.get("/inbox").text
    assert UNSURE_TEXT not in page.split("<h1>Inbox</h1>")[1].split("</ul></div>")[-1]
    out = editor.post("/inbox/decide", {"item_id": group_of(page, "[email]"),
                                        "decision": "out_of_scope"})
    assert out.status_code == 200
    ignored = editor.post("/inbox/decide", {"item_id": group_of(out.text, "seize"),
                                            "decision": "ignore"})
    assert ignored.status_code == 200 and "The inbox is empty." in ignored.text
    triage = yaml.safe_load((root / "content" / "inbox_triage.yml").read_text())
    decisions = sorted(item["decision"] for item in (triage.get("decisions") or triage)
                       if isinstance(item, dict))
    assert decisions == ["assigned", "ignored", "out_of_scope"]
    audit = console.client("reviewer@example.org").get("/audit.csv").text
    assert "inbox assign" in audit and "inbox ignore" in audit
    # A decided group is gone: deciding it again is refused.
    again = editor.post("/inbox/decide", {"item_id": group_of(page, "[email]"),
                                          "decision": "ignore"})
    assert again.status_code == 409
