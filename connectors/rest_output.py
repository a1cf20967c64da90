"""The REST channel's answers: a store answer and its small print in one message.

Rasa's `CollectingOutputChannel` sends each paragraph of a text as a message of
its own, so an answer used to reach the web widget as several bubbles, the last
one the disclaimer. `RestOutput` does the same for every other message, but a
bot message that carries small print (`nightcramps.small_print`: the disclaimer
and the sources line, in its text and in its metadata) becomes one REST message:

    {"recipient_id": "...", "text": "<the answer>",
     "custom": {"small_print": {"disclaimer": "...", "sources": "Sources: ..."}}}

The widget shows the small print under the answer, in the same bubble. A text
that does not end with the small print its metadata names is sent as Rasa sends
it, so the disclaimer is never lost.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from rasa.core.channels.channel import CollectingOutputChannel

from nightcramps.small_print import SmallPrint


class RestOutput(CollectingOutputChannel):
    """Collects the REST channel's answers, keeping a store answer in one message."""

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """An answer with small print as one message; other text one message per paragraph."""
        if not await self._with_small_print(recipient_id, text, None, kwargs):
            await super().send_text_message(recipient_id, text, **kwargs)

    async def send_text_with_buttons(self, recipient_id: str, text: str,
                                     buttons: List[Dict[str, Any]], **kwargs: Any) -> None:
        """Text and buttons as one message, with the small print (if any) beside them."""
        if not await self._with_small_print(recipient_id, text, buttons, kwargs):
            await super().send_text_with_buttons(recipient_id, text, buttons, **kwargs)

    async def _with_small_print(self, recipient_id: str, text: str,
                                buttons: Optional[List[Dict[str, Any]]],
                                metadata: Mapping[str, Any]) -> bool:
        """Collects the answer and its small print as one message, if it has any.

        Returns:
            False when the message carries no small print, or its text does not
            end with it (the caller then collects it as Rasa does).
        """
        small_print = SmallPrint.from_metadata(metadata)
        body = small_print.body_of(text) if small_print is not None else None
        if small_print is None or body is None:
            return False
        await self._persist_message(self._message(
            recipient_id, text=body.strip(), buttons=buttons, custom=small_print.as_metadata()))
        return True
