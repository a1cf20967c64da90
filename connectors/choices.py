"""Choices (the actions' buttons) and typing a number to pick one.

Actions always send choices as buttons, so the tracker keeps each choice's
payload. Where a platform shows a numbered list instead of buttons (WhatsApp),
or shortens the buttons (Messenger), the user may answer "2": the input
channel then swaps the text for the payload of the second button of the
conversation's last bot message with buttons, if no user message came after
it. Any other text, and numbers out of range, pass through unchanged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, Optional, Sequence

from rasa.shared.core.events import BotUttered, Restarted, SessionStarted, UserUttered

logger = logging.getLogger(__name__)

_NUMBER = re.compile(r"^\s*#?(\d{1,3})\s*[.)]?\s*$")


@dataclass(frozen=True)
class Choice:
    """A button: the title shown and the payload sent back when picked."""

    title: str
    payload: str


def choices_from_buttons(buttons: Iterable[Mapping[str, Any]]) -> List[Choice]:
    """The Rasa buttons that send a payload back (URL buttons are left out).

    Args:
        buttons: Rasa button dicts with `title` and `payload`.

    Returns:
        One `Choice` per button with a non-empty payload, in order.
    """
    choices = []
    for button in buttons:
        payload = button.get("payload")
        if isinstance(payload, str) and payload.strip():
            choices.append(Choice(str(button.get("title") or payload), payload))
    return choices


def choice_value(choice: Choice, number: int, max_bytes: int) -> str:
    """What a button sends back: its payload, or its number if the payload is too long.

    A number comes back as if typed, and `resolve_choice` turns it into the payload.

    Args:
        choice: The choice.
        number: Its position, from 1.
        max_bytes: The platform's limit for a button's data, in UTF-8 bytes.

    Returns:
        The payload, or the number as text.
    """
    return choice.payload if len(choice.payload.encode("utf-8")) <= max_bytes else str(number)


def parse_number(text: Optional[str]) -> Optional[int]:
    """The number in a message that is only a number: "2", " 2.", "2)", "#2".

    Args:
        text: The user's message.

    Returns:
        The number, or None if the message is anything else.
    """
    match = _NUMBER.match(text or "")
    return int(match.group(1)) if match else None


def pending_choices(events: Sequence[Any]) -> List[Choice]:
    """The choices of the last bot message with buttons, unless the user spoke since.

    Args:
        events: The conversation's events (Rasa `Event` objects), oldest first.

    Returns:
        The choices still open, or an empty list.
    """
    for event in reversed(events):
        if isinstance(event, UserUttered | SessionStarted | Restarted):
            return []
        if isinstance(event, BotUttered):
            choices = choices_from_buttons(event.data.get("buttons") or [])
            if choices:
                return choices
    return []


def choose(text: str, choices: Sequence[Choice]) -> str:
    """The payload of the choice `text` numbers, else `text` itself.

    Args:
        text: The user's message.
        choices: The choices on offer, numbered from 1.

    Returns:
        The chosen payload, or `text` unchanged.
    """
    number = parse_number(text)
    if number is None or not 1 <= number <= len(choices):
        return text
    return choices[number - 1].payload


async def resolve_choice(request: Any, sender_id: str, text: str) -> str:
    """Replaces a typed number by the payload of that choice, if one is on offer.

    Reads the conversation from Rasa's tracker store (`request.app.ctx.agent`)
    only when the text is a number.

    Args:
        request: The Sanic request of the webhook.
        sender_id: The conversation id.
        text: The user's message.

    Returns:
        The payload of the chosen button, or `text` unchanged.
    """
    if parse_number(text) is None:
        return text
    agent = getattr(request.app.ctx, "agent", None)
    tracker_store = getattr(agent, "tracker_store", None)
    if tracker_store is None:
        return text
    try:
        tracker = await tracker_store.retrieve(sender_id)
    except Exception:  # the message still goes through, as typed
        logger.exception("Could not read the conversation to resolve a numbered choice.")
        return text
    if tracker is None:
        return text
    return choose(text, pending_choices(list(tracker.events)))
