"""Retrying a message whose answer was lost: Rasa answers it once, from what it stored.

The widget sends a fresh `message_id` with every message and the same one when
Retry sends it again; the REST channel (connectors/resilience.py) then returns
the stored answer instead of processing the message a second time.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.chat import REPLY_TIMEOUT_MS, Chat
from tests.browser.conftest import Site

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def user_events(site: Site, sender: str) -> List[Dict[str, Any]]:
    """The user messages stored in the conversation's tracker (through the HTTP API)."""
    return [e for e in site.assistant.tracker(sender)["events"] if e.get("event") == "user"]


@pytest.mark.parametrize("reload", [False, True], ids=["retry", "reload-then-retry"])
def test_a_retried_message_is_processed_and_shown_once(page: Page, site: Site,
                                                       reload: bool) -> None:
    chat = Chat(page)
    bodies: List[Dict[str, Any]] = []
    lost: List[Dict[str, Any]] = []

    def lose_the_first_answer(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()  # CORS preflight
            return
        bodies.append(route.request.post_data_json)
        if len(bodies) > 1:
            route.continue_()
            return
        # Rasa gets the message and answers, but the answer never reaches the page.
        lost.extend(route.fetch(timeout=REPLY_TIMEOUT_MS).json())
        route.abort("connectionreset")

    page.route("**/webhooks/rest/webhook", lose_the_first_answer)
    chat.open(site.url)
    typed = "what causes night leg cramps"
    chat.send(typed)
    expect(chat.alert).to_contain_text("Connection lost", timeout=REPLY_TIMEOUT_MS)
    sender = chat.stored()["sender"]
    assert lost, "Rasa did not answer the first request"
    assert [e["text"] for e in user_events(site, sender)] == [typed]  # it was processed
    if reload:
        page.reload()
        expect(chat.panel).to_be_visible()

    failed = page.locator(".cw-msg--failed")
    expect(failed).to_have_count(1)
    failed.get_by_role("button", name="Retry").click()
    shown = chat.wait_for_reply(0)

    assert len(bodies) == 2
    first_id, retry_id = (body.get("message_id") for body in bodies)
    assert isinstance(first_id, str) and UUID.match(first_id), bodies[0]
    assert retry_id == first_id
    assert [e["text"] for e in user_events(site, sender)] == [typed]  # not processed again
    assert [e["message_id"] for e in user_events(site, sender)] == [first_id]
    # The widget shows the answer Rasa gave the first time, once.
    assert shown == [m["text"] for m in lost]
    assert chat.bot_texts() == shown and chat.user_texts() == [typed]
    # With its small print: the stored answer is sent as the first one was.
    small_print = lost[0]["custom"]["small_print"]
    assert chat.small_print(chat.bot_bubbles.first) == [small_print["disclaimer"],
                                                        small_print["sources"]]
    expect(failed).to_have_count(0)
    expect(chat.alert).to_have_count(0)  # the "Connection lost" alert is gone

    # The next message is a new one: a new id, processed.
    chat.ask("how can I stop a cramp quickly")
    assert len(bodies) == 3 and UUID.match(bodies[2]["message_id"])
    assert bodies[2]["message_id"] != first_id
    assert len(user_events(site, sender)) == 2


def test_message_ids_without_crypto_random_uuid(page: Page, site: Site) -> None:
    """Pages on plain http (not localhost) have no crypto.randomUUID: ids are made another way."""
    page.add_init_script("delete Crypto.prototype.randomUUID;")
    ids: List[str] = []

    def record(route: Route) -> None:
        if route.request.method == "POST":
            ids.append(route.request.post_data_json.get("message_id"))
        route.continue_()

    page.route("**/webhooks/rest/webhook", record)
    chat = Chat(page)
    chat.open(site.url)
    assert page.evaluate("() => typeof crypto.randomUUID") == "undefined"
    chat.ask("what causes night leg cramps")
    chat.ask("how can I stop a cramp quickly")

    assert len(ids) == 2 and all(isinstance(i, str) and UUID.match(i) for i in ids), ids
    assert ids[0] != ids[1]
    sender = chat.stored()["sender"]
    assert [e["message_id"] for e in user_events(site, sender)] == ids
