"""Typing a number picks the matching button of the last bot message."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, List, Optional

import pytest
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Restarted,
    SessionStarted,
    UserUttered,
)

from connectors.choices import (
    Choice,
    choice_value,
    choices_from_buttons,
    choose,
    parse_number,
    pending_choices,
    resolve_choice,
)

BUTTONS = [{"title": "Causes", "payload": "/ask_causes"},
           {"title": "Quick relief", "payload": "/ask_quick_relief"},
           {"title": "Stretches", "payload": "/ask_stretches"}]
CHOICES = choices_from_buttons(BUTTONS)


def offer() -> BotUttered:
    return BotUttered("Did you mean one of these?", {"buttons": BUTTONS})


@pytest.mark.parametrize(("text", "number"), [
    ("2", 2), (" 2.", 2), ("2)", 2), ("#2", 2), ("02", 2), ("2 ", 2), ("\t3\n", 3), ("13", 13),
])
def test_numbers_are_recognised(text: str, number: int) -> None:
    assert parse_number(text) == number


@pytest.mark.parametrize("text", [
    "", "two", "2 please", "1.5", "-1", "1234", "2..", "(2)", "/ask_causes", None,
])
def test_other_texts_are_not_numbers(text: Optional[str]) -> None:
    assert parse_number(text) is None


def test_buttons_without_payload_are_not_choices() -> None:
    buttons = [{"title": "Site", "url": "https://example.org"}, {"title": "X", "payload": " "},
               *BUTTONS]
    assert choices_from_buttons(buttons) == [
        Choice("Causes", "/ask_causes"), Choice("Quick relief", "/ask_quick_relief"),
        Choice("Stretches", "/ask_stretches")]


def test_choose_maps_numbers_in_range_only() -> None:
    assert choose("1", CHOICES) == "/ask_causes"
    assert choose("3)", CHOICES) == "/ask_stretches"
    for text in ("0", "4", "99", "hello"):
        assert choose(text, CHOICES) == text
    assert choose("1", []) == "1"


def test_pending_choices_come_from_the_last_bot_message_with_buttons() -> None:
    events: List[Any] = [UserUttered("cramps"), ActionExecuted("action_offer_topics"), offer()]
    assert pending_choices(events) == CHOICES
    later_text = BotUttered("You can also rephrase your question.")
    assert pending_choices([*events, later_text]) == CHOICES


@pytest.mark.parametrize("after", [UserUttered("hello"), SessionStarted(), Restarted()])
def test_no_choices_once_the_user_moved_on(after: Any) -> None:
    assert pending_choices([UserUttered("cramps"), offer(), after]) == []


def test_no_choices_without_buttons() -> None:
    assert pending_choices([UserUttered("hi"), BotUttered("Hello!")]) == []
    assert pending_choices([]) == []


def test_long_payloads_are_sent_as_their_number() -> None:
    assert choice_value(Choice("A", "/ask_causes"), 1, 64) == "/ask_causes"
    assert choice_value(Choice("A", "/" + "x" * 64), 2, 64) == "2"
    assert choice_value(Choice("A", "/é" * 32), 3, 64) == "3"  # bytes, not characters


class FakeStore:
    def __init__(self, events: Optional[List[Any]], error: bool = False) -> None:
        self.events, self.error = events, error
        self.asked: List[str] = []

    async def retrieve(self, sender_id: str) -> Any:
        self.asked.append(sender_id)
        if self.error:
            raise RuntimeError("database is down")
        return None if self.events is None else SimpleNamespace(events=self.events)


def request_with(store: Optional[FakeStore]) -> Any:
    agent = SimpleNamespace(tracker_store=store) if store is not None else None
    return SimpleNamespace(app=SimpleNamespace(ctx=SimpleNamespace(agent=agent)))


async def test_resolve_choice_reads_the_tracker_store() -> None:
    store = FakeStore([UserUttered("cramps"), offer()])
    assert await resolve_choice(request_with(store), "u1", " 2.") == "/ask_quick_relief"
    assert store.asked == ["u1"]


async def test_resolve_choice_reads_nothing_for_other_texts() -> None:
    store = FakeStore([UserUttered("cramps"), offer()])
    assert await resolve_choice(request_with(store), "u1", "why cramps") == "why cramps"
    assert store.asked == []


@pytest.mark.parametrize("store", [FakeStore(None), FakeStore([], error=True), None])
async def test_resolve_choice_falls_back_to_the_text(store: Optional[FakeStore]) -> None:
    assert await resolve_choice(request_with(store), "u1", "2") == "2"
