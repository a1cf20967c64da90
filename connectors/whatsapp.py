"""WhatsApp through Twilio: X-Twilio-Signature on every webhook; numbered choices.

Twilio signs each webhook with `X-Twilio-Signature`, computed from the URL it
called and the form parameters. Behind a proxy or tunnel the URL this server
sees differs from the public one, so the public URL is configured
(`webhook_url`, TWILIO_WEBHOOK_URL) and the signature is checked against it
with Twilio's own `RequestValidator`. The form is read from the raw body with
blank values kept, as Twilio signs them too.

WhatsApp messages sent through Twilio have no buttons here, so choices are a
numbered list ("1. ...") closed by "Reply with a number."; the reply "2" is
mapped back to the second choice's payload.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Sequence
from urllib.parse import parse_qsl

from multidict import MultiDict
from rasa.core.channels.twilio import TwilioInput
from rasa.shared.exceptions import InvalidConfigException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.choices import Choice
from connectors.outbound import post
from connectors.output import NativeOutput
from connectors.recent import recent_ids
from connectors.rendering import WHATSAPP, WHATSAPP_LIMIT
from connectors.signatures import twilio_signature_valid
from connectors.webhooks import (
    OnNewMessage,
    add_health_route,
    deliver,
    refuse,
    required,
)

logger = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
SIGNATURE_HEADER = "X-Twilio-Signature"
#: The reply to Twilio's webhook: no message from TwiML (answers go through the API).
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def whatsapp_address(number: str) -> str:
    """A number as Twilio's WhatsApp address: "+14155238886" -> "whatsapp:+14155238886"."""
    number = "".join(number.split())
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


def form_params(body: bytes) -> MultiDict[str]:
    """The form parameters of a raw urlencoded body, blank values kept."""
    return MultiDict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


class WhatsAppOutput(NativeOutput):
    """Sends WhatsApp messages with Twilio's Messages API, in WhatsApp's markup."""

    markup = WHATSAPP
    limit = WHATSAPP_LIMIT

    @classmethod
    def name(cls) -> str:
        """The channel's name."""
        return "whatsapp"

    def __init__(
        self, account_sid: str, auth_token: str, sender: str, api_base: str = TWILIO_API
    ) -> None:
        """Keeps the account and the sending number; connects to nothing yet.

        Args:
            account_sid: The Twilio account SID (AC...).
            auth_token: The account's auth token.
            sender: The WhatsApp sender, "whatsapp:+14155238886".
            api_base: The Twilio REST API's base URL.
        """
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.api_base = api_base.rstrip("/")

    async def send_part(self, recipient_id: str, text: str, choices: Sequence[Choice]) -> None:
        """Creates one message (choices are already numbered in the text)."""
        await post(f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Messages.json",
                   what="Twilio Messages API", basic_auth=(self.account_sid, self.auth_token),
                   form={"To": recipient_id, "From": self.sender, "Body": text})


class WhatsAppChannel(TwilioInput):
    """Twilio's WhatsApp webhook, authenticated by `X-Twilio-Signature`.

    Credentials: `account_sid`, `auth_token`, `twilio_number` (the WhatsApp
    sender), `webhook_url` (the public URL registered in Twilio) and
    optionally `api_base`.
    """

    @classmethod
    def name(cls) -> str:
        """The channel's name: its webhook is /webhooks/whatsapp/webhook."""
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> WhatsAppChannel:
        """Builds the channel; refuses to start without any of its settings."""
        credentials = required(cls.name(), credentials)
        keys = ("account_sid", "auth_token", "twilio_number", "webhook_url")
        missing = [key for key in keys if not credentials.get(key)]
        if missing:
            raise InvalidConfigException(f"WhatsApp through Twilio needs {', '.join(missing)}.")
        return cls(str(credentials["account_sid"]), str(credentials["auth_token"]),
                   str(credentials["twilio_number"]), str(credentials["webhook_url"]),
                   str(credentials.get("api_base") or TWILIO_API))

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        twilio_number: str,
        webhook_url: str,
        api_base: str = TWILIO_API,
    ) -> None:
        """Keeps the credentials.

        Args:
            account_sid: The Twilio account SID.
            auth_token: The account's auth token (also checks the signatures).
            twilio_number: The WhatsApp sender number, with or without "whatsapp:".
            webhook_url: The public URL Twilio calls, exactly as configured there.
            api_base: The Twilio REST API's base URL.
        """
        super().__init__(account_sid, auth_token, whatsapp_address(twilio_number),
                         debug_mode=False)
        self.webhook_url = webhook_url
        self.api_base = api_base
        self.recent = recent_ids()

    def get_output_channel(self) -> WhatsAppOutput:
        """The Messages API output channel."""
        return WhatsAppOutput(str(self.account_sid), str(self.auth_token),
                              str(self.twilio_number), self.api_base)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """`GET /` (health) and `POST /webhook` ("a message comes in")."""
        blueprint = Blueprint("whatsapp_webhook", __name__)
        add_health_route(blueprint)

        async def webhook(request: Request) -> HTTPResponse:
            signature = request.headers.get(SIGNATURE_HEADER)
            if not signature:
                return refuse(self.name(), f"no {SIGNATURE_HEADER}")
            params = form_params(request.body)
            if not twilio_signature_valid(str(self.auth_token), self.webhook_url, params,
                                          signature):
                return refuse(self.name(), f"bad {SIGNATURE_HEADER}")
            sender, text = params.get("From"), params.get("Body", "")
            if sender and text.strip() and not self.recent.seen_before(params.get("MessageSid")):
                await deliver(request, on_new_message, text=text, sender_id=sender,
                              output=self.get_output_channel(), input_channel=self.name(),
                              message_id=params.get("MessageSid"))
            return response.text(EMPTY_TWIML, content_type="text/xml")

        blueprint.add_route(webhook, "/webhook", methods=["POST"], name="webhook")
        return blueprint
