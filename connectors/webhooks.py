"""What every platform's webhook does the same way: refuse, acknowledge, deliver."""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.shared.exceptions import InvalidConfigException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.choices import resolve_choice
from nightcramps.text_limits import cap_metadata, cap_sender, clean_text

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
"""Rasa's handler of a user message (given to `InputChannel.blueprint`)."""


def required(channel: str, credentials: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A channel's settings from credentials.yml; raises if there are none.

    Raises:
        InvalidConfigException: If the channel has no settings.
    """
    if not credentials:
        raise InvalidConfigException(
            f"The {channel} channel needs its settings in the credentials file "
            f"(see credentials.yml and docs/channels.md).")
    return credentials


def refuse(channel: str, reason: str, status: int = 401) -> HTTPResponse:
    """Logs and answers a request that failed authentication.

    Args:
        channel: The channel's name, for the log.
        reason: What was wrong (never the secret or the signature itself).
        status: 401 (unauthenticated) or 403 (wrong credentials).

    Returns:
        The refusal, before anything of the request is processed.
    """
    logger.warning("Refused a %s webhook request: %s.", channel, reason)
    return response.text("Unauthorized" if status == 401 else "Forbidden", status=status)


def json_object(request: Request) -> Optional[Dict[str, Any]]:
    """The request's JSON body if it is an object, else None (never raises)."""
    try:
        body = request.json
    except Exception:
        return None
    return body if isinstance(body, dict) else None


def add_health_route(blueprint: Blueprint) -> None:
    """Adds `GET /` answering {"status": "ok"}, as Rasa's channels do."""

    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    blueprint.add_route(health, "/", methods=["GET"], name="health")


async def deliver(
    request: Request,
    on_new_message: OnNewMessage,
    *,
    text: str,
    sender_id: str,
    output: OutputChannel,
    input_channel: str,
    metadata: Optional[Dict[str, Any]] = None,
    message_id: Optional[str] = None,
) -> None:
    """Hands a user message to Rasa, capped; a typed number first becomes its choice's payload.

    Errors are logged, not raised: the platform has delivered the message, and
    an error status would only make it deliver the same message again.

    Args:
        request: The webhook request (gives access to Rasa's tracker store).
        on_new_message: Rasa's handler.
        text: The user's text (or a button's payload).
        sender_id: The conversation id.
        output: Where the replies go.
        input_channel: The channel's name, stored with the message.
        metadata: Extra data stored with the message.
        message_id: The platform's id of the message.
    """
    try:
        # As the REST channel does: capped and cleaned before any regex, spaCy or
        # storage step (nightcramps/text_limits.py), whatever the platform sent.
        text = clean_text(text)
        sender_id = cap_sender(sender_id)
        metadata = cap_metadata(metadata) or None
        text = await resolve_choice(request, sender_id, text)
        await on_new_message(
            UserMessage(text, output, sender_id, input_channel=input_channel,
                        metadata=metadata, message_id=message_id))
    except Exception:
        logger.exception("The %s message could not be handled.", input_channel)
