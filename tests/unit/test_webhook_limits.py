"""The messaging channels hand Rasa capped text, sender ids and metadata."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, List

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from connectors.webhooks import deliver
from nightcramps.text_limits import MAX_MESSAGE_LENGTH, MAX_METADATA_BYTES, MAX_SENDER_LENGTH


async def delivered(text: str, sender_id: str, metadata: Any) -> List[UserMessage]:
    received: List[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        received.append(message)

    request = SimpleNamespace(app=SimpleNamespace(ctx=SimpleNamespace(agent=None)))
    await deliver(request, on_new_message, text=text, sender_id=sender_id,  # type: ignore[arg-type]
                  output=CollectingOutputChannel(), input_channel="telegram",
                  metadata=metadata)
    return received


async def test_a_huge_platform_message_reaches_rasa_capped() -> None:
    metadata = {f"k{i}": "x" * 1000 for i in range(100)}
    [message] = await delivered("cramp \x00 " * 50_000, "9" * 1000, metadata)
    assert len(message.text) == MAX_MESSAGE_LENGTH and "\x00" not in message.text
    assert message.text.startswith("cramp cramp")
    assert len(message.sender_id) <= MAX_SENDER_LENGTH
    assert 0 < len(message.metadata) < 100
    assert len(str(message.metadata)) <= MAX_METADATA_BYTES + 100


async def test_an_ordinary_message_is_unchanged() -> None:
    [message] = await delivered("why do I get leg cramps at night?", "12345",
                                {"chat": {"id": 12345}})
    assert message.text == "why do I get leg cramps at night?"
    assert message.sender_id == "12345"
    assert message.metadata == {"chat": {"id": 12345}}
