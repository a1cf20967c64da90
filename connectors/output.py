"""The output channel shared by all platforms: render, split, lay out choices, send.

A platform subclass sets its markup and length limit, says how choices are
laid out (native buttons, or a numbered list in the text) and how one part is
sent. Buttons go with the last part of a message, so they sit under the text
they belong to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Sequence, Tuple

from rasa.core.channels.channel import OutputChannel

from connectors.choices import Choice, choices_from_buttons
from connectors.rendering import PLAIN, Markup, numbered_list, render_parts

#: Closes a numbered list where the platform has no buttons.
NUMBER_PROMPT = "Reply with a number."
#: Sent when a message has choices but no text (platforms refuse empty text).
CHOOSE_TEXT = "Please choose:"


def with_numbered_choices(text: str, choices: Sequence[Choice], prompt: str) -> str:
    """`text`, then the choices' full titles numbered from 1, then `prompt`.

    Args:
        text: The message text.
        choices: The choices.
        prompt: What to tell the user to do, e.g. "Reply with a number.".

    Returns:
        The text with the numbered list (just `text` if there are no choices).
    """
    if not choices:
        return text
    listed = numbered_list([choice.title for choice in choices])
    return "\n\n".join(part for part in (text.strip(), listed, prompt) if part)


class NativeOutput(OutputChannel, ABC):
    """Sends text and choices in a platform's own format.

    Attributes:
        markup: The platform's text markup.
        limit: The most characters one message may hold once rendered.
    """

    markup: Markup = PLAIN
    limit: int = 1600

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Sends `text`, split into as many messages as the platform's limit needs."""
        await self.send_parts(recipient_id, text, [])

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: List[Dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        """Sends `text` with Rasa's buttons laid out for the platform."""
        text, native = self.lay_out_choices(text, choices_from_buttons(buttons))
        await self.send_parts(recipient_id, text, native)

    def lay_out_choices(
        self, text: str, choices: Sequence[Choice]
    ) -> Tuple[str, Sequence[Choice]]:
        """Where the choices go: this default numbers them in the text, with no buttons.

        Args:
            text: The message text.
            choices: The message's choices.

        Returns:
            The text to send and the choices to send as native buttons.
        """
        return with_numbered_choices(text, choices, NUMBER_PROMPT), []

    async def send_parts(self, recipient_id: str, text: str, choices: Sequence[Choice]) -> None:
        """Renders and splits `text`, sends each part, the choices with the last one.

        Args:
            recipient_id: The platform's id of the conversation.
            text: The assistant's text.
            choices: Native buttons to attach.
        """
        parts = render_parts(text, self.markup, self.limit)
        if not parts and choices:
            parts = render_parts(CHOOSE_TEXT, self.markup, self.limit)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            await self.send_part(recipient_id, part, choices if last else [])

    @abstractmethod
    async def send_part(self, recipient_id: str, text: str, choices: Sequence[Choice]) -> None:
        """Sends one rendered message that fits the limit, with native buttons if any.

        Args:
            recipient_id: The platform's id of the conversation.
            text: The rendered text.
            choices: The buttons to attach (empty for none).

        Raises:
            connectors.outbound.PlatformError: If the platform refused the message.
        """
