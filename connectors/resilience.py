"""The REST channel that never answers with silence, and refuses what it cannot handle.

`ResilientRestInput` is Rasa's REST channel (same URL, `POST
/webhooks/rest/webhook`, same request and answer format) with these additions:

- **Database unreachable.** When the tracker store could not read or save the
  conversation (`stores.sql_tracker_store`), or processing failed with an
  error, nothing of the message is stored; the channel answers **503** (with
  `Retry-After`) and the "having trouble" message with the disclaimer
  (`runtime.action_calls.trouble_text`), instead of a 200 with an answer that was
  never stored (or with nothing). Retrying is then safe.
- **Never empty.** A 200 answer always holds at least one message.
- **Capped input.** Before any other step (and so in the stored copy), the
  sender id is made printable and at most 128 characters (a longer one keeps a
  hash of the whole), the text is cleaned and cut to 2,000 characters, and
  metadata is cut to 4 KiB of JSON (`nightcramps.text_limits`). With the
  linear-time redaction and safety rules, no request under the body cap keeps a
  worker busy (`python -m tools.request_benchmark`).
- **Malformed requests** (a body that is not a JSON object, `message` that is not
  text, no `sender`) get 400, instead of Rasa's 500, empty 200, or an answer
  in the conversation `default` that every sender-less request would share.
- **Idempotent retries.** A request may carry `"message_id"` (any string of up
  to 100 characters). It is stored with the user's message; if a message with
  that id is already stored for the conversation (the client retries a request
  whose answer it did not receive, e.g. because a replica died), the stored
  answer is returned instead of processing the message a second time. The check
  costs one read of the tracker, so it is only made when an id is sent.
- **One message per store answer.** A store answer and its small print (the
  disclaimer and the sources line) come as one message, the small print in its
  `custom` (`connectors.rest_output`), also when a stored answer is sent again.
- After the model is loaded, its objects are frozen for the garbage collector
  (`runtime.gc_tuning`), so full collections no longer pause the worker.

The answer when the action server fails is not this channel's: it comes from
`runtime.rasa_patches`, installed in every process that loads the model,
whatever the channel.

credentials.yml:

    connectors.resilience.ResilientRestInput:
"""

from __future__ import annotations

import inspect
import logging
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, List, Optional

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils import endpoints as rasa_endpoints
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.rest_output import RestOutput
from nightcramps.content_store import default_store
from nightcramps.text_limits import cap_metadata, cap_sender, clean_text
from runtime import gc_tuning
from runtime.action_calls import TROUBLE_TEXT, trouble_messages, trouble_text
from stores.sql_tracker_store import begin_request, storage_failed

__all__ = ["TROUBLE_TEXT", "ResilientRestInput", "malformed", "stored_answer",
           "trouble_messages", "trouble_text"]

logger = logging.getLogger(__name__)

#: Seconds a client should wait before retrying a 503.
RETRY_AFTER_SECONDS = 2
#: Longest `message_id` accepted from a client.
MAX_MESSAGE_ID_LENGTH = 100

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

def malformed(request: Request) -> Optional[str]:
    """What is wrong with a request's body (None if it is a message Rasa can handle).

    Rasa's REST channel accepts any JSON and fails later: 500 on a body that is not
    an object, or a 200 with no answer when `message` is not text. Both are refused
    here with 400, before anything is processed or stored.
    """
    try:
        body = request.json
    except Exception:
        body = None
    if not isinstance(body, dict):
        return "expected a JSON object with 'sender' and 'message'"
    if not isinstance(body.get("message"), str):
        return "'message' must be text"
    sender = body.get("sender")
    if sender is None:
        # Rasa would answer it as conversation "default", shared by everyone who
        # leaves the sender out (and deleted by any of them).
        return "'sender' is required: the conversation id"
    try:
        cap_sender(sender)
    except ValueError as error:
        return str(error)
    return None


def _message_id(request: Request) -> Optional[str]:
    body = request.json if isinstance(request.json, dict) else {}
    value = body.get("message_id")
    if isinstance(value, str | int) and 0 < len(str(value)) <= MAX_MESSAGE_ID_LENGTH:
        return str(value)
    return None


async def stored_answer(tracker: Optional[DialogueStateTracker], message_id: str,
                        recipient_id: str) -> Optional[List[Dict[str, Any]]]:
    """The answer already stored for the user message `message_id`, as REST messages.

    Args:
        tracker: The conversation's stored tracker (None: no conversation yet).
        message_id: The client's id of the message.
        recipient_id: The conversation id (the messages' `recipient_id`).

    Returns:
        The bot messages that followed that user message, or None if no user
        message with that id is stored.
    """
    if tracker is None:
        return None
    events = list(tracker.events)
    for index, event in enumerate(events):
        if isinstance(event, UserUttered) and event.message_id == message_id:
            collector = RestOutput()
            for later in events[index + 1:]:
                if isinstance(later, UserUttered):
                    break
                if isinstance(later, BotUttered):
                    await collector.send_response(recipient_id, later.message())
            return list(collector.messages)
    return None


class ResilientRestInput(RestInput):
    """Rasa's REST channel that never answers with silence (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        """The channel's name: `rest`, so the URL stays `/webhooks/rest/webhook`."""
        return "rest"

    def __init__(self) -> None:
        """Loads the content store (for the disclaimer of the trouble answer).

        Raises:
            nightcramps.content_store.ContentError: If the content store cannot be read:
                the fallback answer needs its disclaimer.
        """
        super().__init__()
        default_store()
        self._freezer = gc_tuning.ModelFreezer()

    async def _process(self, request: Request, message: UserMessage, client_id: Optional[str],
                       on_new_message: OnNewMessage) -> Optional[List[Dict[str, Any]]]:
        """Handles the message; returns a stored answer instead if it is a repeat."""
        agent = getattr(request.app.ctx, "agent", None)
        if client_id is None or agent is None or not agent.is_ready():
            await on_new_message(message)
            return None
        # As Agent.handle_message, with the repeat check inside the conversation's lock.
        async with agent.lock_store.lock(message.sender_id):
            tracker = await agent.tracker_store.retrieve(message.sender_id)
            if not storage_failed(message.sender_id):
                answer = await stored_answer(tracker, client_id, message.sender_id)
                if answer is not None:
                    logger.info("Message %r was already answered; sending the stored answer.",
                                client_id)
                    return answer
            await agent.processor.handle_message(message)
        return None

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The REST routes: `GET /` (health) and `POST /webhook`."""
        module = inspect.getmodule(self)
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}",
                            module.__name__ if module else None)

        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def model_loaded(app: Any, _loop: Any) -> None:
            self._freezer.freeze_loaded(getattr(app.ctx, "agent", None))

        webhook.listener("after_server_start")(model_loaded)

        async def receive(request: Request) -> Any:
            problem = malformed(request)
            if problem:
                return response.json({"error": problem}, status=400)
            # Capped and cleaned before any regex, spaCy or storage step sees them
            # (nightcramps/text_limits.py), so no request under the body cap can
            # keep a worker busy; the stored copy is the capped one.
            body = request.json
            sender_id = cap_sender(body["sender"])
            text = clean_text(body["message"])
            input_channel = self._extract_input_channel(request)
            metadata = cap_metadata(self.get_metadata(request)) or None
            if rasa_endpoints.bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(on_new_message, text, sender_id, input_channel,
                                         metadata),
                    content_type="text/event-stream")
            begin_request()
            collector = RestOutput()
            client_id = _message_id(request)
            message = UserMessage(text, collector, sender_id, input_channel=input_channel,
                                  metadata=metadata, message_id=client_id)
            failed = False
            try:
                stored = await self._process(request, message, client_id, on_new_message)
                self._freezer.freeze_loaded(getattr(request.app.ctx, "agent", None))
            except CancelledError:
                raise
            except Exception:
                logger.exception("Could not handle a message of conversation %r.", sender_id)
                failed, stored = True, None
            if failed or storage_failed(sender_id):
                return response.json(trouble_messages(sender_id), status=503,
                                     headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
            answer = stored if stored is not None else collector.messages
            if not answer:
                logger.error("Conversation %r: the message got no answer; sending the "
                             "trouble message.", sender_id)
                answer = trouble_messages(sender_id)
            return response.json(answer)

        webhook.add_route(health, "/", methods=["GET"], name="health")
        webhook.add_route(receive, "/webhook", methods=["POST"], name="receive")
        return webhook
