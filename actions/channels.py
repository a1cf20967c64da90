"""Rendering that depends on the output channel.

Most channels show buttons. Channels that cannot (SMS and WhatsApp through
Twilio, for example) get the same choices as a numbered list instead.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

#: Input channels whose users cannot click buttons.
TEXT_ONLY_CHANNELS = frozenset({"twilio", "whatsapp", "sms"})

Choice = Tuple[str, str]
"""A button: (title shown to the user, payload sent back when clicked)."""


def supports_buttons(channel: Optional[str]) -> bool:
    """Whether the channel can show clickable buttons."""
    return (channel or "").lower() not in TEXT_ONLY_CHANNELS


def numbered(text: str, choices: Sequence[Choice]) -> str:
    """The choices as a numbered list under `text`, for text-only channels."""
    lines = [f"{number}. {title}" for number, (title, _) in enumerate(choices, start=1)]
    return "\n".join([text, *lines, "Reply with a number, or type your question."])


def send_choices(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    text: str,
    choices: Sequence[Choice],
) -> None:
    """Sends `text` with the choices as buttons, or numbered where buttons can't show."""
    if not choices:
        dispatcher.utter_message(text=text)
    elif supports_buttons(tracker.get_latest_input_channel()):
        buttons = [{"title": title, "payload": payload} for title, payload in choices]
        dispatcher.utter_message(text=text, buttons=buttons)
    else:
        dispatcher.utter_message(text=numbered(text, choices))
