"""The console in a real browser (Debian's chromium): log in, edit with the live preview,
sign-off, keyboard-only use and an axe-core scan of every page.

The last test runs the whole chain: the real assistant and action server
(tools/running_assistant.py) and the demo page with the widget; a reviewer
approves an editor's draft in the console and the widget shows the new text,
without retraining.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Iterator, List

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.browser.chat import Chat
from tests.console.conftest import SCREENSHOTS, STAFF, Console, running_console
from tests.servers import MODEL, TOKEN, running_assistant
from tools.processes import ROOT, Server, free_port, serving
from tools.serve_web import command as serve_web_command

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
NEW_ANSWER = ("Drink water steadily through the day. **Bananas**, leafy greens and dairy "
              "foods bring potassium, magnesium and calcium.")


def title_of(topic_id: str) -> str:
    """A topic's title, as the topics page links it."""
    from console.topic_form import read_form

    return read_form(topic_id, (ROOT / "content" / "topics" / f"{topic_id}.yml").read_text()).title


def log_in(page: Page, console: Console, email: str) -> None:
    page.goto(f"{console.base}/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(STAFF[email][1])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Topics", level=1)).to_be_visible()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def edit_and_save(page: Page, console: Console, topic_title: str, answer: str) -> int:
    """Edits a topic's answer, waits for the live preview, saves; returns the draft id."""
    page.get_by_role("link", name=topic_title).click()
    field = page.get_by_label("Answer", exact=True)
    field.fill(answer)
    preview = page.locator("#preview .cw-msg").first
    expect(preview.locator(".cw-text")).to_contain_text("Drink water steadily", timeout=15_000)
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Waiting for sign-off")).to_be_visible()
    return int(re.search(r"/drafts/(\d+)$", page.url).group(1))


def axe_serious(page: Page) -> list:
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => await axe.run(document)")
    assert results["passes"], "axe ran no checks"
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


def test_inbox_assignment_lands_in_the_training_data(page: Page, console: Console) -> None:
    from tests.console.test_inbox import fallback, store

    text = "calf knots up whenever the duvet is heavy"
    store(console, {"browser-inbox": fallback(text)})
    log_in(page, console, "editor@example.org")
    page.get_by_role("link", name="Inbox").click()
    group = page.locator("section.inbox-group", has_text=text)
    group.get_by_label("Topic").select_option(label=title_of("quick_relief"))
    group.get_by_role("button", name="Assign to topic").click()
    expect(page.get_by_role("status")).to_contain_text(text)
    nlu = "".join(path.read_text() for path in (console.content.parent / "data" / "nlu").glob("*.yml"))
    assert f"- {text}" in nlu
    expect(page.locator("section.inbox-group", has_text=text)).to_have_count(0)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with running_console(tmp_path_factory.mktemp("console-browser")) as running:
        yield running


def test_log_in_edit_preview_and_own_draft(page: Page, console: Console) -> None:
    page.goto(console.base + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    log_in(page, console, "editor@example.org")
    before = console.topic_file("diet")
    draft = edit_and_save(page, console, title_of("diet"), NEW_ANSWER)
    preview = page.locator(".bubble-preview .cw-msg").first
    expect(preview.locator("strong")).to_have_text("Bananas")
    expect(preview.locator(".cw-small-disclaimer")).to_be_visible()
    assert console.topic_file("diet") == before  # a draft: the live file is untouched
    # The author cannot approve it: no sign-off form, and a reason.
    expect(page.get_by_role("button", name="Approve and publish")).to_have_count(0)
    expect(page.get_by_text("nobody can approve or reject their own draft")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "console_draft.png"), full_page=True)
    assert draft > 0


def test_errors_show_next_to_the_field(page: Page, console: Console) -> None:
    log_in(page, console, "editor@example.org")
    page.get_by_role("link", name=title_of("stretches")).click()
    page.get_by_label("Answer", exact=True).fill("   ")
    page.get_by_label("Last reviewed").fill("2026-12-01")
    page.get_by_role("button", name="Save draft").click()
    answer = page.get_by_label("Answer", exact=True)
    expect(answer).to_have_attribute("aria-invalid", "true")
    error_id = answer.get_attribute("aria-describedby").split()[0]
    expect(page.locator(f"#{error_id}")).to_be_visible()


def tab_to(page: Page, text: str = "", element_id: str = "", limit: int = 120) -> None:
    """Presses Tab until the focused element shows `text` (or has the id); fails if never."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused_text, focused_id, outline = page.evaluate(
            "() => { const e = document.activeElement; return [e.textContent.trim(), e.id,"
            " getComputedStyle(e).outlineStyle]; }")
        if (text and focused_text == text) or (element_id and focused_id == element_id):
            assert outline != "none", f"no visible focus on {text or element_id}"
            return
    pytest.fail(f"{text or element_id} is not reachable with Tab")


def keyboard_log_in(page: Page, console: Console, email: str) -> None:
    page.goto(f"{console.base}/login")
    tab_to(page, element_id="email")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(STAFF[email][1])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Topics", level=1)).to_be_visible()


def test_keyboard_only(page: Page, console: Console) -> None:
    # An editor edits an answer...
    keyboard_log_in(page, console, "editor2@example.org")
    tab_to(page, title_of("exercise"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=title_of("exercise"), level=1)).to_be_visible()
    tab_to(page, element_id="f-answer")
    page.keyboard.press("Control+End")
    page.keyboard.type(" Keyboard edit.")
    tab_to(page, "Save draft")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Waiting for sign-off")).to_be_visible()
    draft = page.url.rsplit("/", 1)[1]
    tab_to(page, "Log out")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    # ...and a reviewer approves it.
    keyboard_log_in(page, console, "reviewer2@example.org")
    tab_to(page, "Drafts")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Drafts", level=1)).to_be_visible()
    tab_to(page, f"Draft {draft}")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Draft {draft}:", level=1)).to_be_visible()
    tab_to(page, element_id="comment")
    page.keyboard.type("Reviewed with the keyboard only.")
    tab_to(page, "Approve and publish")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Approved", exact=True)).to_be_visible()
    assert "Keyboard edit." in console.topic_file("exercise")


def test_axe_on_every_page(browser: Browser, console: Console) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE.relative_to(ROOT)} is missing: run `npm ci` in the repository root")
    # axe is injected as an inline script, which the console's Content-Security-Policy forbids.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    try:
        scan_every_page(context.new_page(), console)
    finally:
        context.close()


def scan_every_page(page: Page, console: Console) -> None:
    found = {}
    page.goto(f"{console.base}/login")
    found["/login"] = axe_serious(page)
    page.screenshot(path=str(SCREENSHOTS / "console_login.png"))
    log_in(page, console, "editor@example.org")
    page.get_by_role("link", name=title_of("quick_relief")).click()
    page.get_by_label("Answer", exact=True).fill("Stand on the leg and stretch the calf.")
    page.get_by_role("button", name="Save draft").click()
    draft_path = page.url.replace(console.base, "")
    log_out(page)
    log_in(page, console, "admin@example.org")
    paths = ["/", "/topics/diet", "/drafts", draft_path, "/inbox", "/model", "/reviews", "/audit",
             "/users", "/analytics"]
    for path in paths:
        page.goto(console.base + path)
        found[path] = axe_serious(page)
        name = path.strip("/").replace("/", "_") or "topics"
        page.screenshot(path=str(SCREENSHOTS / f"console_{name}.png"), full_page=True)
    page.goto(console.base + "/analytics")
    charts = page.locator("svg[role='img']")  # the six charts, drawn in the browser
    assert charts.count() == 6
    for index in range(charts.count()):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50
    page.goto(console.base + "/topics/diet")
    page.screenshot(path=str(SCREENSHOTS / "console_topic.png"))
    serious = {path: problems for path, problems in found.items() if problems}
    assert not serious, f"axe found serious or critical violations: {serious}"


def served_model(base: str) -> dict:
    """Which model Rasa serves (its HTTP API's /status)."""
    response = requests.get(f"{base}/status", params={"token": TOKEN}, timeout=30)
    response.raise_for_status()
    return {key: response.json().get(key) for key in ("model_file", "model_id", "fingerprint")}


@pytest.mark.model
def test_approval_reaches_the_widget_without_retraining(page: Page, tmp_path: Path) -> None:
    model = Path(os.environ.get("NIGHT_CRAMPS_MODEL", str(MODEL)))
    web_port = free_port()
    origin = f"http://127.0.0.1:{web_port}"
    with running_assistant(tmp_path / "assistant", rasa_args=("--cors", origin),
                           model=model) as assistant:
        env = {**os.environ, "CONTENT_DIR": str(assistant.content)}
        web = Server("web", serve_web_command(web_port, assistant.base), f"{origin}/", env,
                     tmp_path / "assistant")
        endpoints = tmp_path / "assistant" / "endpoints.yml"  # the assistant's own database
        with serving(web, timeout=60), running_console(
                tmp_path / "console", endpoints=endpoints, content=assistant.content) as console:
            before = served_model(assistant.base)
            log_in(page, console, "editor@example.org")
            draft = edit_and_save(page, console, title_of("diet"), NEW_ANSWER)
            log_out(page)
            log_in(page, console, "reviewer@example.org")
            page.goto(f"{console.base}/drafts/{draft}")
            page.get_by_label("Comment for the author (required)").fill(
                "Checked against the sources.")
            page.get_by_role("button", name="Approve and publish").click()
            expect(page.get_by_text("Approved", exact=True)).to_be_visible()
            approved_at = time.monotonic()

            widget = page.context.new_page()
            chat = Chat(widget)
            chat.open(origin + "/")
            replies: List[str] = []
            for _ in range(10):  # the action server reloads changed files within a second
                replies = chat.ask("what foods help with leg cramps")
                if any("Drink water steadily" in text for text in replies):
                    break
                time.sleep(0.5)
            live_after = time.monotonic() - approved_at
            widget.screenshot(path=str(SCREENSHOTS / "console_approved_in_widget.png"))
            assert any("Drink water steadily" in text for text in replies), replies
            expect(chat.bot_bubbles.last.locator("strong")).to_have_text("Bananas")
            assert live_after < 30, live_after
            assert served_model(assistant.base) == before  # no new model: no retraining
