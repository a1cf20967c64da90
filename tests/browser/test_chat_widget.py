"""The chat widget on the demo page, in headless chromium, against the real assistant."""

from __future__ import annotations

import json
import time
from typing import List

import pytest
from playwright.sync_api import Page, Route, expect

from actions.answering import OFFER_TEXT
from nightcramps.content_store import Entry, YamlContentStore
from nightcramps.small_print import sources_line
from runtime.action_calls import TROUBLE_TEXT
from tests.browser.chat import BOT_PREFIX, TYPING, Chat
from tests.browser.conftest import Site
from tests.servers import ROOT

STORE = YamlContentStore(ROOT / "content")
DISCLAIMER = STORE.disclaimer
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: The screenshot of an answer with its small print (README, docs/widget.md).
ANSWER_SCREENSHOT = ROOT / "build" / "screenshots" / "answer_with_sources.png"
# Vague messages that the classifier is unsure about, so the assistant offers
# topics as buttons ("did you mean ..."). Checked by hand against the REST API;
# the `vague` fixture picks the first that still does with the current model.
VAGUE_CANDIDATES = ("cramps?", "is it bad", "what should I know")


@pytest.fixture(scope="module")
def vague(site: Site) -> str:
    for text in VAGUE_CANDIDATES:
        replies = site.assistant.say(text)
        if replies and replies[0].get("text") == OFFER_TEXT and replies[0].get("buttons"):
            return text
    pytest.fail(f"none of {VAGUE_CANDIDATES} gets topic buttons any more: add a vaguer one")


def entry(topic_id: str) -> Entry:
    found = STORE.get(topic_id)
    assert found is not None, topic_id
    return found


def entry_titled(title: str) -> Entry:
    matches = [e for e in STORE.entries() if e.title == title]
    assert len(matches) == 1, f"no single topic titled {title!r}"
    return matches[0]


def small_print_of(topic: Entry) -> List[str]:
    """What the widget shows under a topic's answer: the disclaimer, the sources line."""
    return [DISCLAIMER, sources_line(topic, STORE.sources)]


def assert_one_bubble_with_small_print(chat: Chat, replies: List[str], topic: Entry) -> None:
    """The answer is one bubble, its small print inside it, after the answer."""
    assert replies == [topic.answer]
    bubble = chat.bot_bubbles.last
    assert chat.small_print(bubble) == small_print_of(topic)
    assert DISCLAIMER not in chat.bot_texts()  # no disclaimer bubble of its own
    # Screen readers read the bubble in DOM order: who spoke, the answer, the small print.
    assert bubble.evaluate("b => b.querySelector('.cw-text').compareDocumentPosition("
                           "b.querySelector('.cw-small')) & Node.DOCUMENT_POSITION_FOLLOWING")
    assert bubble.text_content() == BOT_PREFIX + topic.answer + "".join(small_print_of(topic))


def test_disclaimer_first_then_answer_with_its_small_print(page: Page, site: Site) -> None:
    chat = Chat(page)
    page.goto(site.url)
    expect(chat.panel).to_be_hidden()
    chat.launcher.click()
    # Before any question: the content store's disclaimer, in the panel.
    expect(chat.disclaimer).to_be_visible()
    expect(chat.disclaimer).to_have_text(DISCLAIMER)
    expect(chat.user_bubbles).to_have_count(0)

    replies = chat.ask("why do I get cramps in my legs at night")

    assert chat.user_texts() == ["why do I get cramps in my legs at night"]
    assert_one_bubble_with_small_print(chat, replies, entry("causes"))
    bubble = chat.bot_bubbles.last
    expect(bubble).to_be_visible()
    # The small print is smaller than the answer, and inside the bubble's box.
    sizes = bubble.evaluate("b => [b.querySelector('.cw-text'), b.querySelector('.cw-small')]"
                            ".map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert sizes[1] < sizes[0], sizes
    outer, inner = bubble.bounding_box(), bubble.locator(".cw-small").bounding_box()
    assert outer and inner and inner["y"] + inner["height"] <= outer["y"] + outer["height"]
    # The end of the answer and its small print, as a reader scrolling down sees them.
    bubble.locator(".cw-small").evaluate("e => e.scrollIntoView({block: 'end'})")
    ANSWER_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    chat.panel.screenshot(path=str(ANSWER_SCREENSHOT))


def test_vague_question_offers_topics_and_a_click_answers(page: Page, site: Site,
                                                           vague: str) -> None:
    chat = Chat(page)
    chat.open(site.url)

    replies = chat.ask(vague)

    assert replies == [OFFER_TEXT]
    offer = chat.bot_bubbles.last
    titles = chat.choice_titles(offer)
    assert len(titles) >= 2, titles
    chosen = entry_titled(titles[0])
    # Real <button> elements inside a labelled group.
    expect(offer.get_by_role("group", name="Suggested topics").get_by_role(
        "button", name=titles[0])).to_be_visible()

    before = chat.bot_bubbles.count()
    offer.get_by_role("button", name=titles[0]).click()
    replies = chat.wait_for_reply(before)

    # The title is shown as the user's words; the payload went to Rasa.
    assert chat.user_texts() == [vague, titles[0]]
    assert_one_bubble_with_small_print(chat, replies, chosen)
    sender = chat.stored()["sender"]
    assert site.assistant.topic(sender) == chosen.id


def test_keyboard_only(page: Page, site: Site, vague: str) -> None:
    chat = Chat(page)
    page.goto(site.url)
    keyboard = page.keyboard

    for _ in range(10):  # Tab through the page to the launcher
        keyboard.press("Tab")
        if "cw-launcher" in chat.focused_class():
            break
    expect(chat.launcher).to_be_focused()
    keyboard.press("Enter")
    expect(chat.panel).to_be_visible()
    expect(chat.launcher).to_have_attribute("aria-expanded", "true")
    expect(chat.input).to_be_focused()

    keyboard.type(vague)
    keyboard.press("Enter")
    expect(chat.choices.first).to_be_visible(timeout=60_000)
    expect(chat.panel).to_have_attribute("data-pending", "false")

    # The choices sit above the text box in the conversation: Shift+Tab reaches them.
    for _ in range(6):
        keyboard.press("Shift+Tab")
        if "cw-choice" in chat.focused_class():
            break
    focused = page.locator("button.cw-choice:focus")
    expect(focused).to_have_count(1)
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "the focused choice shows no focus ring"
    title = focused.inner_text()
    before = chat.bot_bubbles.count()
    keyboard.press("Enter")
    replies = chat.wait_for_reply(before)
    assert chat.user_texts()[-1] == title
    assert_one_bubble_with_small_print(chat, replies, entry_titled(title))

    keyboard.press("Escape")
    expect(chat.panel).to_be_hidden()
    expect(chat.launcher).to_be_focused()
    expect(chat.launcher).to_have_attribute("aria-expanded", "false")


def test_axe_finds_no_serious_violations(page: Page, site: Site, vague: str) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE.relative_to(ROOT)} is missing: run `npm ci` in the repository root")
    chat = Chat(page)
    chat.open(site.url)
    chat.ask("what stretches help before bed")
    expect(chat.bot_bubbles.last.locator(".cw-small-sources")).to_be_visible()
    chat.ask(vague)  # leaves choice buttons in the conversation
    expect(chat.choices.first).to_be_visible()

    page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => await axe.run(document)")

    serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    details = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in serious]
    assert not serious, f"axe found serious or critical violations: {details}"
    assert results["passes"], "axe ran no checks"


def test_conversation_survives_a_reload(page: Page, site: Site) -> None:
    chat = Chat(page)
    chat.open(site.url)
    chat.ask("what foods help with leg cramps")
    stored = chat.stored()
    sender = stored["sender"]
    before = (chat.user_texts(), chat.bot_texts())
    assert before[1] == [entry("diet").answer]
    assert chat.small_print(chat.bot_bubbles.last) == small_print_of(entry("diet"))

    page.reload()

    expect(chat.panel).to_be_visible()  # it was open: it stays open
    expect(chat.bot_bubbles).to_have_count(len(before[1]))
    assert (chat.user_texts(), chat.bot_texts()) == before
    assert chat.small_print(chat.bot_bubbles.last) == small_print_of(entry("diet"))
    assert chat.stored()["sender"] == sender

    # "tell me more" needs the topic of the conversation: it continues the same one.
    replies = chat.ask("tell me more")
    diet = entry("diet")
    assert chat.choice_titles(chat.bot_bubbles.last) == [entry(t).title for t in diet.related]
    assert replies[0] != OFFER_TEXT
    user_texts = [e.get("text") for e in site.assistant.tracker(sender)["events"]
                  if e.get("event") == "user"]
    assert user_texts == ["what foods help with leg cramps", "tell me more"]


def test_typing_indicator_while_waiting(page: Page, site: Site) -> None:
    chat = Chat(page)
    held: List[Route] = []

    def hold_posts(route: Route) -> None:
        if route.request.method == "POST":
            held.append(route)  # released by the test below
        else:
            route.continue_()

    page.route("**/webhooks/rest/webhook", hold_posts)
    chat.open(site.url)
    expect(chat.typing).to_have_count(0)
    chat.send("how can I stop a cramp quickly")

    expect(chat.typing).to_be_visible()
    expect(chat.status).to_contain_text(TYPING)
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert held, "the widget sent no request"
    page.wait_for_timeout(1500)  # a slow server: the indicator stays
    expect(chat.typing).to_be_visible()
    animated = page.evaluate("() => getComputedStyle(document.querySelector("
                             "'.cw-dots span')).animationName")
    page.emulate_media(reduced_motion="reduce")
    still = page.evaluate("() => getComputedStyle(document.querySelector("
                          "'.cw-dots span')).animationName")
    assert (animated, still) == ("cw-blink", "none")

    held[0].continue_()
    expect(chat.typing).to_have_count(0, timeout=60_000)
    expect(chat.bot_bubbles.last.locator(".cw-small-disclaimer")).to_have_text(DISCLAIMER)
    expect(page.locator(".cw-status")).to_be_empty()


def test_text_is_never_rendered_as_html(page: Page, site: Site) -> None:
    chat = Chat(page)
    dialogs: List[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    chat.open(site.url)
    hostile = "<img src=x onerror=alert(1)> <b>hi</b>"

    chat.ask(hostile)

    assert chat.user_texts() == [hostile]
    expect(chat.user_bubbles.first).to_contain_text(hostile)
    expect(page.locator(".cw-root img, .cw-root b, img")).to_have_count(0)

    # A bot message with a link, bold text, markup and a javascript: URL.
    bot_text = ("Read more at https://example.org/cramps?a=1&b=2. **Important:** "
                "<img src=x onerror=alert(2)> javascript:alert(3)")
    buttons = [{"title": "<b>Causes</b>", "payload": "/ask_causes"}]

    def fake_reply(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        route.fulfill(status=200, content_type="application/json",
                      headers={"Access-Control-Allow-Origin": site.origin},
                      body=json.dumps([{"recipient_id": "x", "text": bot_text,
                                        "buttons": buttons}]))

    page.route("**/webhooks/rest/webhook", fake_reply)
    chat.ask("links please")

    bubble = chat.bot_bubbles.last
    links = bubble.locator("a")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://example.org/cramps?a=1&b=2")
    expect(links).to_have_attribute("rel", "noopener noreferrer")
    expect(links).to_have_attribute("target", "_blank")
    expect(bubble.locator("strong")).to_have_text("Important:")
    expect(bubble.get_by_role("button", name="<b>Causes</b>")).to_be_visible()
    expect(page.locator("img, .cw-root b")).to_have_count(0)
    assert "javascript:alert(3)" in chat.bot_texts()[-1]

    # Small print is text too, whatever it holds (no links, no markup).
    small = {"disclaimer": "<img src=x onerror=alert(4)> https://example.org",
             "sources": "Sources: <b>NHS</b> · Reviewed Nov 2026"}

    def fake_answer(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json",
                      headers={"Access-Control-Allow-Origin": site.origin},
                      body=json.dumps([{"recipient_id": "x", "text": "An answer.",
                                        "custom": {"small_print": small}}]))

    page.unroute("**/webhooks/rest/webhook")
    page.route("**/webhooks/rest/webhook", fake_answer)
    chat.ask("small print please")
    assert chat.small_print(chat.bot_bubbles.last) == [small["disclaimer"], small["sources"]]
    expect(page.locator("img, .cw-root b, .cw-small a")).to_have_count(0)
    assert dialogs == []


def test_a_disclaimer_sent_on_its_own_joins_the_bubble_before_it(page: Page,
                                                                 site: Site) -> None:
    # With the action server down, the "having trouble" answer comes as two REST
    # messages, the second the disclaimer (runtime/action_calls.py).
    chat = Chat(page)
    page.route("**/webhooks/rest/webhook", lambda route: route.fulfill(
        status=200, content_type="application/json",
        headers={"Access-Control-Allow-Origin": site.origin},
        body=json.dumps([{"recipient_id": "x", "text": TROUBLE_TEXT},
                         {"recipient_id": "x", "text": DISCLAIMER}])))
    chat.open(site.url)
    expect(chat.disclaimer).to_have_text(DISCLAIMER)  # disclaimer.json has loaded
    replies = chat.ask("hello?")
    assert replies == [TROUBLE_TEXT]
    assert chat.small_print(chat.bot_bubbles.last) == [DISCLAIMER]


@pytest.mark.parametrize("viewport", [{"width": 375, "height": 667}], ids=["375px"])
def test_small_screen(page: Page, site: Site) -> None:
    chat = Chat(page)
    chat.open(site.url)
    chat.ask("what causes night leg cramps")

    box = chat.panel.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    assert box["y"] >= 0 and box["y"] + box["height"] <= 667
    expect(chat.input).to_be_in_viewport()
    expect(page.get_by_role("button", name="Send")).to_be_in_viewport()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
