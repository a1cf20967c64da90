"""Facebook Messenger: X-Hub-Signature-256 on every webhook; plain text with quick replies.

Meta signs each webhook POST with `X-Hub-Signature-256`, the HMAC-SHA256 of
the raw body keyed with the app secret; anything else is refused before the
body is parsed. The GET verify-token handshake (`hub.mode`, `hub.verify_token`,
`hub.challenge`) registers the callback URL.

Choices become quick replies (at most 13, titles at most 20 characters). When
a title had to be shortened or there are more than 13 choices, the full
titles are also listed, numbered, in the text, and the quick replies carry the
numbers; typing the number works too.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

from rasa.core.channels.facebook import FacebookInput
from rasa.shared.exceptions import InvalidConfigException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.choices import Choice, choice_value
from connectors.outbound import post
from connectors.output import NativeOutput, with_numbered_choices
from connectors.recent import recent_ids
from connectors.rendering import MESSENGER_LIMIT, PLAIN, shorten
from connectors.signatures import facebook_signature_valid, same_secret
from connectors.webhooks import (
    OnNewMessage,
    add_health_route,
    deliver,
    json_object,
    refuse,
    required,
)

logger = logging.getLogger(__name__)

GRAPH_API = "https://graph.facebook.com/v19.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
#: Messenger's quick-reply limits.
QUICK_REPLY_LIMIT = 13
QUICK_REPLY_TITLE_LIMIT = 20
QUICK_REPLY_PAYLOAD_LIMIT = 1000
#: Closes the numbered list shown with shortened quick replies.
TAP_OR_NUMBER_PROMPT = "Tap a choice or reply with its number."


def quick_reply_choices(choices: Sequence[Choice]) -> Tuple[bool, Sequence[Choice]]:
    """Quick replies for `choices`, and whether the text must list them numbered.

    Args:
        choices: All the message's choices.

    Returns:
        (False, the choices) when all fit as they are; else (True, the first 13
        with "1. Title…" titles shortened to 20 characters).
    """
    if len(choices) <= QUICK_REPLY_LIMIT and all(
            len(choice.title) <= QUICK_REPLY_TITLE_LIMIT for choice in choices):
        return False, choices
    numbered = []
    for number, choice in enumerate(choices[:QUICK_REPLY_LIMIT], 1):
        prefix = f"{number}. "
        title = prefix + shorten(choice.title, QUICK_REPLY_TITLE_LIMIT - len(prefix))
        numbered.append(Choice(title, choice.payload))
    return True, numbered


class MessengerOutput(NativeOutput):
    """Sends plain-text messages with the Send API (`POST /me/messages`)."""

    markup = PLAIN
    limit = MESSENGER_LIMIT

    @classmethod
    def name(cls) -> str:
        """The channel's name."""
        return "facebook"

    def __init__(self, page_access_token: str, api_base: str = GRAPH_API) -> None:
        """Keeps the page token and the Graph API base; connects to nothing yet.

        Args:
            page_access_token: The Facebook page's access token.
            api_base: The Graph API's base URL, with its version.
        """
        super().__init__()
        self.page_access_token = page_access_token
        self.api_base = api_base.rstrip("/")

    def lay_out_choices(
        self, text: str, choices: Sequence[Choice]
    ) -> Tuple[str, Sequence[Choice]]:
        """Quick replies, plus a numbered list in the text if titles were shortened."""
        listed, quick_replies = quick_reply_choices(choices)
        if listed:
            text = with_numbered_choices(text, choices, TAP_OR_NUMBER_PROMPT)
        return text, quick_replies

    async def send_part(self, recipient_id: str, text: str, choices: Sequence[Choice]) -> None:
        """Sends one text message, with quick replies if there are choices."""
        message: Dict[str, Any] = {"text": text}
        if choices:
            message["quick_replies"] = [
                {"content_type": "text", "title": shorten(choice.title, QUICK_REPLY_TITLE_LIMIT),
                 "payload": choice_value(choice, number, QUICK_REPLY_PAYLOAD_LIMIT)}
                for number, choice in enumerate(choices[:QUICK_REPLY_LIMIT], 1)]
        await post(f"{self.api_base}/me/messages", what="Messenger Send API",
                   params={"access_token": self.page_access_token},
                   json_body={"recipient": {"id": recipient_id}, "messaging_type": "RESPONSE",
                              "message": message})


def messaging_events(body: Dict[str, Any]) -> Iterator[Tuple[str, str, Optional[str]]]:
    """The users' texts in a page webhook: (sender PSID, text or payload, message id).

    Quick-reply taps give their payload, postbacks theirs; echoes of the page's
    own messages, deliveries, reads and attachments are skipped.

    Args:
        body: The webhook's JSON body.

    Yields:
        One (sender id, text, message id) per user message, in order.
    """
    if body.get("object") != "page":
        return
    for entry in body.get("entry") or []:
        for event in (entry or {}).get("messaging") or []:
            sender = ((event or {}).get("sender") or {}).get("id")
            message, postback = event.get("message"), event.get("postback")
            text: Any = None
            mid: Any = None
            if isinstance(message, dict) and not message.get("is_echo"):
                text = (message.get("quick_reply") or {}).get("payload") or message.get("text")
                mid = message.get("mid")
            elif isinstance(postback, dict):
                text, mid = postback.get("payload"), postback.get("mid")
            if sender and isinstance(text, str) and text.strip():
                yield str(sender), text, str(mid) if mid else None


class FacebookChannel(FacebookInput):
    """Messenger's webhook, authenticated by `X-Hub-Signature-256`.

    Credentials: `verify` (the verify token), `secret` (the app secret),
    `page-access-token` and optionally `api_base`.
    """

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> FacebookChannel:
        """Builds the channel; refuses to start without any of the three secrets."""
        credentials = required(cls.name(), credentials)
        verify, secret = credentials.get("verify"), credentials.get("secret")
        token = credentials.get("page-access-token")
        if not (verify and secret and token):
            raise InvalidConfigException(
                "Facebook needs `verify`, `secret` and `page-access-token` (FACEBOOK_VERIFY_TOKEN, "
                "FACEBOOK_APP_SECRET, FACEBOOK_PAGE_ACCESS_TOKEN).")
        return cls(str(verify), str(secret), str(token),
                   str(credentials.get("api_base") or GRAPH_API))

    def __init__(
        self, fb_verify: str, fb_secret: str, fb_access_token: str, api_base: str = GRAPH_API
    ) -> None:
        """Keeps the credentials.

        Args:
            fb_verify: The verify token chosen when subscribing the webhook.
            fb_secret: The Meta app secret (signs the webhooks).
            fb_access_token: The page access token (sends the replies).
            api_base: The Graph API's base URL, with its version.
        """
        super().__init__(fb_verify, fb_secret, fb_access_token)
        self.api_base = api_base
        self.recent = recent_ids()

    def get_output_channel(self) -> MessengerOutput:
        """The Send API output channel."""
        return MessengerOutput(self.fb_access_token, self.api_base)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """`GET /` (health), `GET /webhook` (verification) and `POST /webhook`."""
        blueprint = Blueprint("fb_webhook", __name__)
        add_health_route(blueprint)

        async def verify(request: Request) -> HTTPResponse:
            if request.args.get("hub.mode") == "subscribe" and same_secret(
                    self.fb_verify, request.args.get("hub.verify_token")):
                return response.text(str(request.args.get("hub.challenge") or ""))
            return refuse(self.name(), "wrong verify token", status=403)

        async def webhook(request: Request) -> HTTPResponse:
            signature = request.headers.get(SIGNATURE_HEADER)
            if not signature:
                return refuse(self.name(), f"no {SIGNATURE_HEADER}")
            if not facebook_signature_valid(self.fb_secret, request.body, signature):
                return refuse(self.name(), f"bad {SIGNATURE_HEADER}")
            body = json_object(request)
            if body is None:
                return response.text("Bad Request", status=400)
            for sender, text, mid in messaging_events(body):
                if self.recent.seen_before(mid):
                    continue
                await deliver(request, on_new_message, text=text, sender_id=sender,
                              output=self.get_output_channel(), input_channel=self.name(),
                              message_id=mid)
            return response.text("EVENT_RECEIVED")

        blueprint.add_route(verify, "/webhook", methods=["GET"], name="verify")
        blueprint.add_route(webhook, "/webhook", methods=["POST"], name="webhook")
        return blueprint
