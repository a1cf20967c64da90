"""A page object for the chat widget: how the tests find and drive its parts."""

from __future__ import annotations

from typing import List

from playwright.sync_api import Locator, Page, expect

TITLE = "Leg cramp questions"  # data-title of the demo page's embed snippet
INPUT_LABEL = "Your question"
TYPING = "The assistant is typing…"
# Visually hidden prefixes that tell screen-reader users who said what.
USER_PREFIX = "You said: "
BOT_PREFIX = "Assistant said: "
REPLY_TIMEOUT_MS = 60_000


class Chat:
    """The widget on the demo page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.launcher = page.get_by_role("button", name=TITLE, exact=True)
        self.panel = page.get_by_role("dialog", name=TITLE)
        self.log = page.get_by_role("log")
        self.input = page.get_by_role("textbox", name=INPUT_LABEL)
        self.disclaimer = page.locator(".cw-disclaimer")
        self.user_bubbles = page.locator(".cw-msg--user")
        self.bot_bubbles = page.locator(".cw-msg--bot")
        self.choices = page.locator("button.cw-choice")
        self.typing = page.locator(".cw-typing")
        self.status = page.get_by_role("status")
        self.alert = page.get_by_role("alert")

    def open(self, url: str) -> None:
        """Loads the page and opens the panel with the launcher."""
        self.page.goto(url)
        self.launcher.click()
        expect(self.panel).to_be_visible()

    def send(self, text: str) -> None:
        """Types `text` and presses Enter, without waiting for the answer."""
        self.input.fill(text)
        self.input.press("Enter")

    def ask(self, text: str) -> List[str]:
        """Sends `text` and returns the texts of the bot bubbles it brought."""
        before = self.bot_bubbles.count()
        self.send(text)
        return self.wait_for_reply(before)

    def wait_for_reply(self, bubbles_before: int) -> List[str]:
        """Waits until the request is done and new bot bubbles are shown; returns them."""
        self.page.wait_for_function(
            "n => document.querySelectorAll('.cw-msg--bot').length > n"
            " && document.querySelector('.cw-panel').dataset.pending === 'false'",
            arg=bubbles_before, timeout=REPLY_TIMEOUT_MS)
        return self.bot_texts()[bubbles_before:]

    def bot_texts(self) -> List[str]:
        """The text of every bot bubble (without the screen-reader prefix)."""
        return [strip_prefix(t, BOT_PREFIX)
                for t in self.bot_bubbles.locator(".cw-text").all_text_contents()]

    def user_texts(self) -> List[str]:
        """The text of every user bubble (without the screen-reader prefix)."""
        return [strip_prefix(t, USER_PREFIX)
                for t in self.user_bubbles.locator(".cw-text").all_text_contents()]

    def small_print(self, bubble: Locator) -> List[str]:
        """The lines of a bubble's small print: the disclaimer, then the sources line."""
        return bubble.locator(".cw-small p").all_text_contents()

    def choice_titles(self, bubble: Locator) -> List[str]:
        return bubble.locator("button.cw-choice").all_inner_texts()

    def stored(self) -> dict:
        """The conversation the widget keeps in sessionStorage."""
        return self.page.evaluate(
            "() => JSON.parse(sessionStorage.getItem(Object.keys(sessionStorage)"
            ".find(k => k.startsWith('leg-cramp-chat:'))))")

    def focused_class(self) -> str:
        """The class attribute of the focused element ('' if none)."""
        return self.page.evaluate("() => document.activeElement?.className || ''")


def strip_prefix(text: str, prefix: str) -> str:
    assert text.startswith(prefix), f"{text[:60]!r} lacks the prefix {prefix!r}"
    return text[len(prefix):]
