"""The assistant goes away mid-conversation: the widget says so and keeps the user's text.

This module has its own assistant (it stops it), so it never shares one.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.chat import Chat
from tests.browser.conftest import Site

CONNECTION_LOST = ("Connection lost. The assistant can't be reached right now — "
                   "please try again in a moment.")


def test_server_stopped_mid_conversation(page: Page, own_site: Site) -> None:
    chat = Chat(page)
    chat.open(own_site.url)
    first = chat.ask("what stretches help before bed")
    assert first, "the first exchange got no answer"
    expect(chat.alert).to_have_count(0)

    own_site.assistant.stop()
    typed = "is magnesium worth trying?"
    chat.send(typed)

    expect(chat.alert).to_be_visible(timeout=40_000)
    expect(chat.alert).to_contain_text(CONNECTION_LOST)
    expect(chat.typing).to_have_count(0)
    # Nothing typed is lost: the bubble stays, marked as not sent, with a Retry button.
    failed = page.locator(".cw-msg--failed")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text(typed)
    expect(failed).to_contain_text("Not sent")
    assert chat.user_texts()[-1] == typed
    stored = chat.stored()["messages"][-1]
    assert (stored["text"], stored["failed"]) == (typed, True)

    # Retrying while the server is still down fails the same way, without duplicates.
    failed.get_by_role("button", name="Retry").click()
    expect(chat.alert).to_contain_text(CONNECTION_LOST, timeout=40_000)
    expect(page.locator(".cw-msg--failed")).to_have_count(1)
    assert chat.user_texts().count(typed) == 1
    expect(chat.input).to_be_enabled()
