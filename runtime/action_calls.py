"""How Rasa calls the action server: never silence, less work per call.

These are the pieces `runtime.rasa_patches` puts in Rasa's place (it alone makes
the assignments); each was written against Rasa 3.6.21's `RemoteAction` and
`EndpointConfig`:

- **Action server unreachable.** Rasa 3.6 (`RemoteAction.run`) raises when the
  action server cannot be reached, times out or fails; the processor logs it,
  drops the action's events and carries on, so the user gets no answer at all.
  `run_with_fallback` answers instead with `TROUBLE_TEXT` followed by the
  medical disclaimer, read from the content store by the Rasa process itself, so
  it needs no action server. The answer is an ordinary bot message: stored in
  the tracker in order and sent on whatever channel the message came from.
- **Response validation.** `RemoteAction._validate_action_result` calls
  `jsonschema.validate`, which first checks Rasa's large event schema against
  the JSON Schema meta-schema on every call, then tries each event against all
  23 event shapes. `ResponseValidator` checks the schema once and validates each
  event against the one shape its `event` field names (same verdict); a
  response that fails goes through Rasa's own validation, for the same errors.
- **Pooled connections.** `EndpointConfig.session` opens a new HTTP session, and
  so a new TCP connection, per call; `pooled_session` shares one connection pool
  per event loop (`keepalive_timeout` below the 5 s after which Sanic servers
  close idle connections). A call that fails on a pooled connection the server
  had just closed is retried once on a new connection. Request bodies are
  encoded with ujson (`request_json`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import weakref
from typing import Any, Awaitable, Callable, Dict, List, Optional

import aiohttp
import jsonschema
import ujson
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.shared.core.events import BotUttered, Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils import endpoints as rasa_endpoints

from nightcramps.content_store import default_store

logger = logging.getLogger(__name__)

#: The first paragraph of the answer when the assistant cannot answer; the
#: content store's disclaimer follows it.
TROUBLE_TEXT = ("Sorry, I'm having trouble answering right now. "
                "Please try again in a moment.")
#: `BotUttered.metadata["fallback"]` of that answer when the action server failed.
ACTION_SERVER_FALLBACK = "action_server_unavailable"
#: Idle pooled connections to the action server are dropped after this many seconds.
KEEPALIVE_SECONDS = 2.0


def trouble_text() -> str:
    """The "having trouble" answer: `TROUBLE_TEXT`, a blank line, the disclaimer."""
    return f"{TROUBLE_TEXT}\n\n{default_store().disclaimer}"


def trouble_messages(recipient_id: str) -> List[Dict[str, Any]]:
    """The trouble answer as the REST channel sends it (one message per paragraph)."""
    return [CollectingOutputChannel._message(recipient_id, text=part)
            for part in trouble_text().split("\n\n")]


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


def validate_action_result(validator: ResponseValidator,
                           original: Callable[[RemoteAction, Dict[str, Any]], bool]
                           ) -> Callable[[RemoteAction, Dict[str, Any]], bool]:
    """`RemoteAction._validate_action_result`, checking each event against its own type.

    Args:
        validator: The per-type validator.
        original: Rasa's own method, for the message and exception of a failure.
    """

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


def run_with_fallback(original: Callable[..., Awaitable[List[Event]]]
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


def pooled_session(self: rasa_endpoints.EndpointConfig) -> aiohttp.ClientSession:
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
