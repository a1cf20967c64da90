"""Slack: Events API and interactivity, signed with the signing secret; Block Kit replies.

Every request must carry a valid `X-Slack-Signature` made with the app's
signing secret, less than five minutes old (Rasa's own check). Slack retries an
event it thinks failed; a retry must not answer twice, so:

* each delivery's `event_id` is remembered (a bounded in-memory cache, 4096
  ids for an hour), and an event seen before is acknowledged and dropped;
* as in Rasa, a retry whose reason is `http_timeout` is acknowledged with
  `X-Slack-No-Retry: 1` without processing: the first attempt did arrive.

A retry for another reason of an event this process never saw (the first
attempt got lost on the way, or the process restarted) is answered, so no
question goes unanswered.
Events are processed in the background, so Slack gets its 200 within its
3-second limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Coroutine, Dict, List, Optional, Sequence, Tuple

from rasa.core.channels.slack import SlackInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.choices import Choice, choice_value
from connectors.outbound import PlatformError, post
from connectors.output import NativeOutput
from connectors.recent import recent_ids
from connectors.rendering import SLACK_LIMIT, SLACK_MRKDWN, shorten
from connectors.webhooks import (
    OnNewMessage,
    add_health_route,
    deliver,
    json_object,
    refuse,
    required,
)

logger = logging.getLogger(__name__)

SLACK_API = "https://slack.com/api"
#: Block Kit limits: elements per actions block, button text, button value.
BUTTONS_PER_BLOCK = 25
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000


class SlackOutput(NativeOutput):
    """Posts messages with chat.postMessage: an mrkdwn section, then button blocks."""

    markup = SLACK_MRKDWN
    limit = SLACK_LIMIT

    @classmethod
    def name(cls) -> str:
        """The channel's name."""
        return "slack"

    def __init__(
        self,
        token: str,
        channel: Optional[str] = None,
        thread_ts: Optional[str] = None,
        api_base: str = SLACK_API,
    ) -> None:
        """Keeps where to post; connects to nothing yet.

        Args:
            token: The bot token (xoxb-...).
            channel: The Slack channel to post to (else the recipient id).
            thread_ts: The thread to answer in, if any.
            api_base: The Web API's base URL.
        """
        super().__init__()
        self.token = token
        self.channel = channel
        self.thread_ts = thread_ts
        self.api_base = api_base.rstrip("/")

    def lay_out_choices(
        self, text: str, choices: Sequence[Choice]
    ) -> Tuple[str, Sequence[Choice]]:
        """Choices become Block Kit buttons under the text."""
        return text, choices

    async def send_part(self, recipient_id: str, text: str, choices: Sequence[Choice]) -> None:
        """Posts one message; `text` is also the notification fallback."""
        blocks: List[Dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        for start in range(0, len(choices), BUTTONS_PER_BLOCK):
            blocks.append({"type": "actions", "elements": [
                {"type": "button", "action_id": f"choice_{number}",
                 "text": {"type": "plain_text", "text": shorten(choice.title, BUTTON_TEXT_LIMIT),
                          "emoji": True},
                 "value": choice_value(choice, number, BUTTON_VALUE_LIMIT)}
                for number, choice in enumerate(
                    choices[start:start + BUTTONS_PER_BLOCK], start + 1)]})
        payload: Dict[str, Any] = {"channel": self.channel or recipient_id, "text": text,
                                   "blocks": blocks}
        if self.thread_ts:
            payload["thread_ts"] = self.thread_ts
        reply = await post(f"{self.api_base}/chat.postMessage", what="Slack chat.postMessage",
                           json_body=payload, headers={"Authorization": f"Bearer {self.token}"})
        if reply.field("ok") is not True:
            raise PlatformError(f"Slack chat.postMessage: {reply.field('error')}")


def event_metadata(body: Dict[str, Any]) -> Dict[str, Any]:
    """Where to answer an Events API event: channel, thread and the bot's user ids."""
    event = body.get("event") or {}
    users: List[str] = list(body.get("authed_users") or [])
    if not users:
        users = [a["user_id"] for a in body.get("authorizations") or [] if a.get("user_id")][:1]
    return {"out_channel": event.get("channel"),
            "thread_id": event.get("thread_ts", event.get("ts")), "users": users}


def action_metadata(payload: Dict[str, Any]) -> Dict[str, Any]:
    """Where to answer a button click: channel, thread and the clicking user."""
    message = payload.get("message") or {}
    user = (payload.get("user") or {}).get("id")
    return {"out_channel": (payload.get("channel") or {}).get("id"),
            "thread_id": message.get("thread_ts", message.get("ts")),
            "users": [user] if user else []}


def _content_type(request: Request) -> str:
    """The request's media type, without parameters, lower case."""
    return str(request.headers.get("content-type", "")).split(";")[0].strip().lower()


class SlackChannel(SlackInput):
    """Slack's Events API and interactivity webhook.

    Credentials: `slack_token`, `slack_signing_secret`, optionally `api_base`
    and Rasa's Slack options (`slack_channel`, `use_threads`,
    `conversation_granularity`, `errors_ignore_retry`...).
    """

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> SlackChannel:
        """Builds the channel (Rasa refuses to start without the signing secret)."""
        credentials = required(cls.name(), credentials)
        return cls(
            credentials.get("slack_token") or "",
            credentials.get("slack_channel"),
            credentials.get("proxy"),
            credentials.get("slack_retry_reason_header", "x-slack-retry-reason"),
            credentials.get("slack_retry_number_header", "x-slack-retry-num"),
            credentials.get("errors_ignore_retry", None),
            credentials.get("use_threads", False),
            credentials.get("slack_signing_secret", ""),
            credentials.get("conversation_granularity", "sender"),
            api_base=str(credentials.get("api_base") or SLACK_API),
        )

    def __init__(self, *args: Any, api_base: str = SLACK_API, **kwargs: Any) -> None:
        """Rasa's Slack settings, plus the Web API's base URL.

        Args:
            *args: `SlackInput`'s arguments.
            api_base: The Web API's base URL.
            **kwargs: `SlackInput`'s keyword arguments.
        """
        super().__init__(*args, **kwargs)
        self.api_base = api_base
        self.recent = recent_ids()

    def get_output_channel(
        self, channel: Optional[str] = None, thread_id: Optional[str] = None
    ) -> SlackOutput:
        """The output channel for a Slack channel (and thread, with `use_threads`)."""
        return SlackOutput(self.slack_token, channel or self.slack_channel,
                           thread_id if self.use_threads else None, self.api_base)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """`GET /` (health) and `POST /webhook` for events and button clicks."""
        blueprint = Blueprint("slack_webhook", __name__)
        add_health_route(blueprint)

        async def webhook(request: Request) -> HTTPResponse:
            if not request.headers.get("X-Slack-Signature"):
                return refuse(self.name(), "no X-Slack-Signature")
            if not self.is_request_from_slack_authentic(request):
                return refuse(self.name(), "bad or expired X-Slack-Signature")
            if _content_type(request) == "application/x-www-form-urlencoded":
                return self._on_action(request, on_new_message)
            body = json_object(request)
            if body is None:
                return response.text("Bad Request", status=400)
            if body.get("type") == "url_verification":
                return response.json({"challenge": body.get("challenge")})
            return self._on_event(request, body, on_new_message)

        blueprint.add_route(webhook, "/webhook", methods=["POST"], name="webhook")
        return blueprint

    def _on_event(
        self, request: Request, body: Dict[str, Any], on_new_message: OnNewMessage
    ) -> HTTPResponse:
        """Answers a user's message event once, however often Slack delivers it."""
        metadata = event_metadata(body)
        if not self._is_user_message(body) or not self._is_supported_channel(body, metadata):
            return response.text("ignored")
        retry_reason = request.headers.get(self.retry_reason_header)
        if request.headers.get(self.retry_num_header) and retry_reason in self.errors_ignore_retry:
            logger.info("Slack retried an event after %s; not processed again.", retry_reason)
            return response.text("", headers={"X-Slack-No-Retry": "1"})
        if self.recent.seen_before(body.get("event_id")):
            logger.info("Slack delivered event %s again; not processed again.",
                        body.get("event_id"))
            return response.text("duplicate")
        event = body.get("event") or {}
        text = self._sanitize_user_message(str(event.get("text") or ""), metadata["users"])
        sender = self._get_conversation_id(event.get("user"), metadata["out_channel"],
                                           metadata["thread_id"])
        self._spawn(deliver(request, on_new_message, text=text, sender_id=str(sender),
                            output=self.get_output_channel(metadata["out_channel"],
                                                           metadata["thread_id"]),
                            input_channel=self.name(), metadata=metadata,
                            message_id=body.get("event_id")))
        return response.text("")

    def _on_action(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        """Answers a button click (its value is the choice's payload)."""
        try:
            payload = json.loads(request.form.get("payload") or "")
        except ValueError:
            return response.text("Bad Request", status=400)
        if not isinstance(payload, dict) or not self._is_interactive_message(payload):
            return response.text("ignored")
        action = payload["actions"][0]
        value = self._get_interactive_response(action)
        user = (payload.get("user") or {}).get("id")
        if value is None or not user:
            return response.text("ignored")
        action_ts = action.get("action_ts")
        if action_ts and self.recent.seen_before(f"action:{user}:{action_ts}"):
            return response.text("duplicate")
        metadata = action_metadata(payload)
        sender = self._get_conversation_id(user, metadata["out_channel"], metadata["thread_id"])
        self._spawn(deliver(request, on_new_message, text=str(value), sender_id=str(sender),
                            output=self.get_output_channel(metadata["out_channel"],
                                                           metadata["thread_id"]),
                            input_channel=self.name(), metadata=metadata))
        return response.text("")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs `work` after the response, keeping a reference until it is done."""
        task = asyncio.create_task(work)
        self._background_tasks.add(task)
        task.add_done_callback(self._background_tasks.discard)
