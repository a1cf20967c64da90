"""The user is never left in silence, and Rasa's calls to the action server made cheap.

`ResilientRestInput` is Rasa's REST channel (same URL, `POST
/webhooks/rest/webhook`, same request and answer format) with these additions:

- **Action server unreachable.** Rasa 3.6 (`RemoteAction.run` in
  `rasa/core/actions/action.py`) raises when the action server cannot be reached,
  times out or fails; `MessageProcessor._run_action` logs it, drops the action's
  events and carries on, so the user gets no answer at all. The channel installs
  a wrapper around `RemoteAction.run` that answers instead with
  `TROUBLE_TEXT` followed by the medical disclaimer, read from the content store
  (`content/store.yml`, `$CONTENT_DIR`) by the Rasa process itself, so it needs
  no action server. The answer is an ordinary bot message: stored in the
  tracker in order and sent on whatever channel the message came from.
- **Database unreachable.** When the tracker store could not read or save the
  conversation (`stores.sql_tracker_store`), or processing failed with an
  error, nothing of the message is stored; the channel answers **503** (with
  `Retry-After`) and the same trouble message, instead of a 200 with an answer
  that was never stored (or with nothing). Retrying is then safe.
- **Never empty.** A 200 answer always holds at least one message.
- **Malformed requests** (a body that is not a JSON object, `message` that is not
  text) get 400, instead of Rasa's 500 or empty 200.
- **Idempotent retries.** A request may carry `"message_id"` (any string of up
  to 100 characters). It is stored with the user's message; if a message with
  that id is already stored for the conversation (the client retries a request
  whose answer it did not receive, e.g. because a replica died), the stored
  answer is returned instead of processing the message a second time. The check
  costs one read of the tracker, so it is only made when an id is sent.

Installing the channel also changes how Rasa runs a turn, where profiling with
py-spy found most of its time going (see docs/performance.md):

- `RemoteAction._validate_action_result` calls `jsonschema.validate`, which
  first checks Rasa's large event schema against the JSON Schema meta-schema on
  every call (about 15 ms per action call here, more than NLU), then tries each
  event against all 23 event shapes. The wrapper checks the schema once and
  validates each event against the one shape its `event` field names
  (`ResponseValidator`, same verdict); a response that fails goes through Rasa's
  own validation, for the same errors.
- Models are loaded with `connectors.graph_runner.SequentialGraphRunner`, which
  runs the graph's nodes in a cached order instead of scheduling them with dask
  on every prediction.
- `RulePolicy` finds its rule with `connectors.rule_matching`: the same rule,
  without parsing every rule again for every state of the conversation.
- `Event.resolve_by_type`, which walks every `Event` subclass to find an event's
  class (for each event an action returns, and for each user message redacted
  before storage), answers from a cache (`stores.sql_tracker_store`).
- After the model is loaded, its objects are frozen for the garbage collector
  (`connectors.gc_tuning`), so full collections no longer pause the worker.
- `EndpointConfig.request` opens a new HTTP session, and so a new TCP
  connection, per call; sessions now share one connection pool per event loop
  (`keepalive_timeout` below the 5 s after which Sanic servers close idle
  connections). A call that fails on a pooled connection the server had just
  closed is retried once on a new connection. Request bodies are encoded with
  ujson (`request_json`).

The changes are made once per process, only on Rasa 3.6 (the versions whose code
they were written against); on other versions they are skipped with a warning,
and the 503 and never-empty guarantees of the channel still hold.

credentials.yml:

    connectors.resilience.ResilientRestInput:
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import threading
import weakref
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, List, Optional

import aiohttp
import jsonschema
import rasa
import ujson
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.core.events import BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils import endpoints as rasa_endpoints
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors import gc_tuning, graph_runner, rule_matching
from nightcramps.content_store import default_store
from stores.sql_tracker_store import begin_request, resolve_by_type, storage_failed

logger = logging.getLogger(__name__)

#: The first paragraph of the answer when the assistant cannot answer; the
#: content store's disclaimer follows it.
TROUBLE_TEXT = ("Sorry, I'm having trouble answering right now. "
                "Please try again in a moment.")
#: `BotUttered.metadata["fallback"]` of that answer when the action server failed.
ACTION_SERVER_FALLBACK = "action_server_unavailable"
#: Seconds a client should wait before retrying a 503.
RETRY_AFTER_SECONDS = 2
#: Longest `message_id` accepted from a client.
MAX_MESSAGE_ID_LENGTH = 100
#: Idle pooled connections to the action server are dropped after this many seconds.
KEEPALIVE_SECONDS = 2.0

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

_install_lock = threading.Lock()
_installed = False


def trouble_text() -> str:
    """The "having trouble" answer: `TROUBLE_TEXT`, a blank line, the disclaimer."""
    return f"{TROUBLE_TEXT}\n\n{default_store().disclaimer}"


def trouble_messages(recipient_id: str) -> List[Dict[str, Any]]:
    """The trouble answer as the REST channel sends it (one message per paragraph)."""
    return [CollectingOutputChannel._message(recipient_id, text=part)
            for part in trouble_text().split("\n\n")]


# --- the changes to Rasa's action calls --------------------------------------------------

class ResponseValidator:
    """Checks action-server responses against Rasa's schema, one event type at a time.

    Rasa's schema (`RemoteAction.action_response_format_spec`) lists the 23 event
    types under `oneOf`, so a full validation tries every event against all 23
    shapes. Each shape requires its own constant `event` name, so an event can
    only ever match the shape named by its `event` field: validating it against
    that shape alone gives the same verdict. Anything that fails this check, or
    names an unknown event type, is validated again in full, for Rasa's own error.
    """

    def __init__(self) -> None:
        """Checks Rasa's schema once and builds one validator per event type."""
        schema = RemoteAction.action_response_format_spec()
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        self.full = validator_class(schema)
        events = schema["properties"]["events"]
        items = events["items"]
        outer = {key: value for key, value in schema.items() if key != "properties"}
        self.envelope = validator_class({
            **outer, "properties": {**schema["properties"],
                                    "events": {**events, "items": {"type": "object"}}}})
        single = {key: value for key, value in items.items() if key != "oneOf"}
        self.by_type: Dict[str, Any] = {
            shape["properties"]["event"]["const"]: validator_class({**single, "allOf": [shape]})
            for shape in items["oneOf"]}

    def is_valid(self, result: Any) -> bool:
        """Whether `result` satisfies Rasa's response schema."""
        if not self.envelope.is_valid(result):
            return False
        for event in result.get("events") or ():
            validator = self.by_type.get(event.get("event"))
            if validator is None or not validator.is_valid(event):
                return bool(self.full.is_valid(result))
        return True


def _validate_action_result(validator: ResponseValidator
                            ) -> Callable[[RemoteAction, Dict[str, Any]], bool]:
    """`RemoteAction._validate_action_result`, checking each event against its own type."""
    original = RemoteAction._validate_action_result

    def validate(self: RemoteAction, result: Dict[str, Any]) -> bool:
        if validator.is_valid(result):
            return True
        # Rasa's own validation, for its message and exception.
        return bool(original(self, result))

    return validate


def _cause_chain(error: BaseException) -> List[BaseException]:
    chain: List[BaseException] = []
    current: Optional[BaseException] = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _stale_connection(error: BaseException) -> bool:
    """Whether a call failed because a pooled connection had been closed by the server."""
    return any(isinstance(e, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)
               and not isinstance(e, aiohttp.ClientConnectorError)
               for e in _cause_chain(error))


def _run_with_fallback(original: Callable[..., Awaitable[List[Event]]]
                       ) -> Callable[..., Awaitable[List[Event]]]:
    """Wraps `RemoteAction.run`: the trouble answer instead of silence on failure."""

    @functools.wraps(original)
    async def run(self: RemoteAction, output_channel: Any, nlg: Any,
                  tracker: DialogueStateTracker, domain: Any) -> List[Event]:
        try:
            try:
                return await original(self, output_channel, nlg, tracker, domain)
            except (RasaException, aiohttp.ClientError) as error:
                if isinstance(error, ActionExecutionRejection) or not _stale_connection(error):
                    raise
                logger.debug("Action server closed a pooled connection; retrying once.")
                return await original(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise  # the action declined to run: Rasa predicts another one
        except (RasaException, aiohttp.ClientError, asyncio.TimeoutError,
                jsonschema.ValidationError) as error:
            logger.error("Custom action '%s' failed (%s); answering that the assistant is "
                         "having trouble.", self.name(), error)
            return [BotUttered(text=trouble_text(),
                               metadata={"fallback": ACTION_SERVER_FALLBACK})]

    return run


_connectors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.TCPConnector] = (
    weakref.WeakKeyDictionary())


def request_json(value: Any) -> str:
    """JSON for a request body: ujson's, or the standard library's if ujson fails.

    Rasa sends the whole tracker with every action call, and encoding it was over a
    quarter of the call's own time with `json.dumps`; ujson takes about a third of
    that and writes the same JSON values (NaN and Infinity included). Should it
    refuse a value, `json.dumps` encodes it, or raises as it did before.
    """
    try:
        encoded: str = ujson.dumps(value)
    except (OverflowError, TypeError, ValueError, RecursionError):
        return json.dumps(value)
    return encoded


def _pooled_session(self: rasa_endpoints.EndpointConfig) -> aiohttp.ClientSession:
    """`EndpointConfig.session`, on a connection pool shared per event loop."""
    if self.basic_auth:
        auth: Optional[aiohttp.BasicAuth] = aiohttp.BasicAuth(
            self.basic_auth["username"], self.basic_auth["password"])
    else:
        auth = None
    loop = asyncio.get_running_loop()
    connector = _connectors.get(loop)
    if connector is None or connector.closed:
        connector = aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS)
        _connectors[loop] = connector
    return aiohttp.ClientSession(
        headers=self.headers, auth=auth, connector=connector, connector_owner=False,
        json_serialize=request_json,
        timeout=aiohttp.ClientTimeout(total=rasa_endpoints.DEFAULT_REQUEST_TIMEOUT))


def install() -> bool:
    """Makes the changes to Rasa's action calls, once per process.

    Returns:
        Whether they are in place (False on a Rasa version they were not written for).
    """
    global _installed
    with _install_lock:
        if _installed:
            return True
        if not rasa.__version__.startswith("3.6."):
            logger.warning("connectors.resilience: Rasa %s is not 3.6; the action server "
                           "fallback and call optimisations are off.", rasa.__version__)
            return False
        RemoteAction._validate_action_result = _validate_action_result(  # type: ignore
            ResponseValidator())
        graph_runner.install()
        rule_matching.install()
        Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]
        RemoteAction.run = _run_with_fallback(RemoteAction.run)  # type: ignore[method-assign]
        rasa_endpoints.EndpointConfig.session = _pooled_session  # type: ignore[method-assign]
        _installed = True
        return True


# --- the channel -------------------------------------------------------------------------

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
    if sender is not None and (isinstance(sender, bool) or not isinstance(sender, str | int)):
        return "'sender' must be text"
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
            collector = CollectingOutputChannel()
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
        """Installs the action-call changes and loads the content store (for the disclaimer).

        Raises:
            nightcramps.content_store.ContentError: If the content store cannot be read:
                the fallback answer needs its disclaimer.
        """
        super().__init__()
        install()
        default_store()

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
            gc_tuning.freeze_loaded(getattr(app.ctx, "agent", None))

        webhook.listener("after_server_start")(model_loaded)

        async def receive(request: Request) -> Any:
            problem = malformed(request)
            if problem:
                return response.json({"error": problem}, status=400)
            sender_id = await self._extract_sender(request)
            text = self._extract_message(request)
            input_channel = self._extract_input_channel(request)
            metadata = self.get_metadata(request)
            if rasa_endpoints.bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(on_new_message, text, sender_id, input_channel,
                                         metadata),
                    content_type="text/event-stream")
            begin_request()
            collector = CollectingOutputChannel()
            client_id = _message_id(request)
            message = UserMessage(text, collector, sender_id, input_channel=input_channel,
                                  metadata=metadata, message_id=client_id)
            failed = False
            try:
                stored = await self._process(request, message, client_id, on_new_message)
                gc_tuning.freeze_loaded(getattr(request.app.ctx, "agent", None))
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
