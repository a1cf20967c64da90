"""How actions offer choices, whatever the channel.

Actions always send choices as buttons (title + payload), so the tracker keeps
the payloads. Each Rasa channel connector then renders them for its platform:
real buttons where the platform has them, and a numbered list where it hasn't
(SMS and WhatsApp through Twilio). A user who types a number is mapped back to
the payload by the connector (see `connectors/choices.py`).
"""

from __future__ import annotations

from typing import Sequence, Tuple

from rasa_sdk.executor import CollectingDispatcher

Choice = Tuple[str, str]
"""A button: (title shown to the user, payload sent back when clicked)."""


def send_choices(dispatcher: CollectingDispatcher, text: str, choices: Sequence[Choice]) -> None:
    """Sends `text` with the choices as buttons (or alone when there are none)."""
    if not choices:
        dispatcher.utter_message(text=text)
        return
    buttons = [{"title": title, "payload": payload} for title, payload in choices]
    dispatcher.utter_message(text=text, buttons=buttons)
