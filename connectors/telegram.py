"""Telegram: webhook checked with the secret token; HTML replies with inline keyboards.

Telegram sends `X-Telegram-Bot-Api-Secret-Token` with every update when the
webhook was registered with `setWebhook(secret_token=...)`; a request without
the right token is refused before it is read. Nothing is called at startup or
per update (no getMe, no setWebhook). There is no web route to register the
webhook: run `python -m connectors.telegram set-webhook` once instead.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlparse

from rasa.core.channels.telegram import TelegramInput
from rasa.shared.exceptions import InvalidConfigException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.choices import Choice, choice_value
from connectors.outbound import PlatformError, post
from connectors.output import NativeOutput
from connectors.recent import recent_ids
from connectors.rendering import TELEGRAM_HTML, TELEGRAM_LIMIT
from connectors.signatures import same_secret
from connectors.webhooks import (
    OnNewMessage,
    add_health_route,
    deliver,
    json_object,
    refuse,
    required,
)

logger = logging.getLogger(__name__)

TELEGRAM_API = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Telegram's limit for an inline button's callback data, in bytes.
CALLBACK_DATA_LIMIT = 64
#: The updates the bot asks for when registering its webhook.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
#: Telegram's standard bot commands, as the assistant's intents.
COMMANDS = {"/start": "/greet", "/help": "/ask_what_can_i_ask"}

_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND = re.compile(r"^(/\w+)@\w+")


def valid_secret_token(secret: Optional[str]) -> bool:
    """Whether Telegram accepts `secret` as a secret token (1-256 of A-Z a-z 0-9 _ -)."""
    return bool(secret and _SECRET_TOKEN.match(secret))


class TelegramOutput(NativeOutput):
    """Sends messages with the Bot API's sendMessage, in HTML parse mode."""

    markup = TELEGRAM_HTML
    limit = TELEGRAM_LIMIT

    @classmethod
    def name(cls) -> str:
        """The channel's name."""
        return "telegram"

    def __init__(self, access_token: str, api_base: str = TELEGRAM_API) -> None:
        """Keeps the bot token and the API base; connects to nothing yet.

        Args:
            access_token: The bot token from @BotFather.
            api_base: The Bot API's base URL.
        """
        super().__init__()
        self.access_token = access_token
        self.api_base = api_base.rstrip("/")

    async def call(self, method: str, payload: Dict[str, Any]) -> Any:
        """Calls a Bot API method and returns its `result`.

        Raises:
            PlatformError: If the call fails or Telegram answers `"ok": false`.
        """
        return await call_bot_api(self.api_base, self.access_token, method, payload)

    def lay_out_choices(
        self, text: str, choices: Sequence[Choice]
    ) -> Tuple[str, Sequence[Choice]]:
        """Choices become an inline keyboard under the text."""
        return text, choices

    async def send_part(self, recipient_id: str, text: str, choices: Sequence[Choice]) -> None:
        """Sends one HTML message, with one inline button per row for the choices."""
        payload: Dict[str, Any] = {"chat_id": chat_id(recipient_id), "text": text,
                                   "parse_mode": "HTML"}
        if choices:
            payload["reply_markup"] = {"inline_keyboard": [
                [{"text": choice.title,
                  "callback_data": choice_value(choice, number, CALLBACK_DATA_LIMIT)}]
                for number, choice in enumerate(choices, 1)]}
        await self.call("sendMessage", payload)

    async def answer_callback_query(self, callback_query_id: str) -> None:
        """Tells Telegram a button press was received (stops the button's spinner)."""
        await self.call("answerCallbackQuery", {"callback_query_id": callback_query_id})


async def call_bot_api(api_base: str, token: str, method: str, payload: Dict[str, Any]) -> Any:
    """POSTs to `{api_base}/bot{token}/{method}` and returns the `result`.

    Raises:
        PlatformError: If the call fails or Telegram answers `"ok": false`.
    """
    reply = await post(f"{api_base.rstrip('/')}/bot{token}/{method}",
                       what=f"Telegram {method}", json_body=payload)
    if reply.field("ok") is not True:
        raise PlatformError(f"Telegram {method}: {reply.field('description')}")
    return reply.field("result")


def chat_id(recipient_id: str) -> Any:
    """A chat id as Telegram sends it (an integer), or the text if it is not one."""
    return int(recipient_id) if re.fullmatch(r"-?\d+", recipient_id) else recipient_id


@dataclass(frozen=True)
class Incoming:
    """A user's text or button press, taken from an update."""

    chat_id: str
    text: str
    callback_query_id: Optional[str] = None


def parse_update(update: Dict[str, Any]) -> Optional[Incoming]:
    """The user's text (or pressed button's data) in a Telegram update.

    Args:
        update: The Update object Telegram posted.

    Returns:
        What the user sent, or None for updates without text (stickers, joins...).
    """
    query = update.get("callback_query")
    if isinstance(query, dict):
        data = query.get("data")
        chat = ((query.get("message") or {}).get("chat") or query.get("from") or {}).get("id")
        if isinstance(data, str) and chat is not None:
            return Incoming(str(chat), data, str(query.get("id") or "") or None)
        return None
    message = update.get("message") or update.get("edited_message")
    if not isinstance(message, dict):
        return None
    text, chat = message.get("text"), (message.get("chat") or {}).get("id")
    if not isinstance(text, str) or not text.strip() or chat is None:
        return None
    return Incoming(str(chat), command_to_intent(text.strip()))


def command_to_intent(text: str) -> str:
    """Maps /start and /help (also as /start@MyBot) to the assistant's intents."""
    text = _COMMAND.sub(r"\1", text)
    return COMMANDS.get(text, text)


class TelegramChannel(TelegramInput):
    """Telegram's webhook, authenticated by the secret token.

    Credentials: `access_token` (bot token), `secret_token` (the webhook
    secret) and optionally `api_base`.
    """

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> TelegramChannel:
        """Builds the channel; refuses to start without a token or a valid secret."""
        credentials = required(cls.name(), credentials)
        token, secret = credentials.get("access_token"), credentials.get("secret_token")
        if not token:
            raise InvalidConfigException("Telegram needs `access_token` (TELEGRAM_BOT_TOKEN).")
        if not valid_secret_token(secret):
            raise InvalidConfigException(
                "Telegram needs `secret_token` (TELEGRAM_WEBHOOK_SECRET): 1-256 characters "
                "from A-Z, a-z, 0-9, _ and -.")
        return cls(str(token), str(secret), str(credentials.get("api_base") or TELEGRAM_API))

    def __init__(self, access_token: str, secret_token: str, api_base: str = TELEGRAM_API) -> None:
        """Keeps the credentials; calls nothing.

        Args:
            access_token: The bot token.
            secret_token: The webhook's secret token.
            api_base: The Bot API's base URL.
        """
        super().__init__(access_token, verify=None, webhook_url=None, debug_mode=False)
        self.secret_token = secret_token
        self.api_base = api_base
        self.recent = recent_ids()

    def get_output_channel(self) -> TelegramOutput:
        """The output channel (Rasa's would register the webhook over the network)."""
        return TelegramOutput(str(self.access_token), self.api_base)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """`GET /` (health) and `POST /webhook`; no set_webhook route."""
        blueprint = Blueprint("telegram_webhook", __name__)
        add_health_route(blueprint)

        async def webhook(request: Request) -> HTTPResponse:
            if not same_secret(self.secret_token, request.headers.get(SECRET_HEADER)):
                return refuse(self.name(), "missing or wrong secret token")
            update = json_object(request)
            if update is None:
                return response.text("Bad Request", status=400)
            update_id = update.get("update_id")
            if isinstance(update_id, int) and self.recent.seen_before(str(update_id)):
                return response.text("ok")
            incoming = parse_update(update)
            if incoming is None:
                return response.text("ok")
            output = self.get_output_channel()
            if incoming.callback_query_id:
                try:
                    await output.answer_callback_query(incoming.callback_query_id)
                except PlatformError as error:
                    logger.warning("Could not answer a callback query: %s", error)
            await deliver(request, on_new_message, text=incoming.text,
                          sender_id=incoming.chat_id, output=output, input_channel=self.name(),
                          message_id=str(update_id) if update_id is not None else None)
            return response.text("ok")

        blueprint.add_route(webhook, "/webhook", methods=["POST"], name="webhook")
        return blueprint


async def set_webhook(
    token: str,
    url: str,
    secret_token: str,
    api_base: str = TELEGRAM_API,
    drop_pending_updates: bool = False,
) -> Any:
    """Registers the webhook with Telegram, with the secret token.

    Args:
        token: The bot token.
        url: The public HTTPS URL of `/webhooks/telegram/webhook`.
        secret_token: What Telegram will send in `X-Telegram-Bot-Api-Secret-Token`.
        api_base: The Bot API's base URL.
        drop_pending_updates: Whether to drop updates that waited while no webhook was set.

    Returns:
        Telegram's `result` (true).

    Raises:
        ValueError: If the URL is not HTTPS or the secret is not a valid token.
        PlatformError: If Telegram refuses.
    """
    if urlparse(url).scheme != "https" or not urlparse(url).hostname:
        raise ValueError(f"Telegram only calls HTTPS webhooks; got {url!r}")
    if not valid_secret_token(secret_token):
        raise ValueError("the secret token must be 1-256 characters from A-Z, a-z, 0-9, _ and -")
    return await call_bot_api(api_base, token, "setWebhook", {
        "url": url, "secret_token": secret_token, "allowed_updates": list(ALLOWED_UPDATES),
        "drop_pending_updates": drop_pending_updates})


async def webhook_info(token: str, api_base: str = TELEGRAM_API) -> Any:
    """Telegram's getWebhookInfo `result` (URL, pending updates, last error)."""
    return await call_bot_api(api_base, token, "getWebhookInfo", {})


def main(argv: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None) -> int:
    """`set-webhook` or `webhook-info`; the token and secret come from the environment.

    Args:
        argv: The command-line arguments (default: sys.argv[1:]).
        env: The environment (default: os.environ).

    Returns:
        The exit status.
    """
    env = dict(os.environ if env is None else env)
    parser = argparse.ArgumentParser(
        prog="python -m connectors.telegram",
        description="Registers the Telegram webhook with its secret token. Reads "
                    "TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET from the environment.")
    parser.add_argument("--api-base", default=env.get("TELEGRAM_API_BASE") or TELEGRAM_API,
                        help="the Bot API base URL (default: $TELEGRAM_API_BASE or Telegram's)")
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser("set-webhook", help="register the webhook (setWebhook)")
    register.add_argument("--url", default=env.get("TELEGRAM_WEBHOOK_URL"),
                          help="public HTTPS URL of /webhooks/telegram/webhook "
                               "(default: $TELEGRAM_WEBHOOK_URL)")
    register.add_argument("--drop-pending-updates", action="store_true",
                          help="drop the updates that waited while no webhook was set")
    commands.add_parser("webhook-info", help="show Telegram's view of the webhook")
    args = parser.parse_args(argv)

    token = env.get("TELEGRAM_BOT_TOKEN", "")
    if not token:
        print("TELEGRAM_BOT_TOKEN is not set.", file=sys.stderr)
        return 2
    try:
        if args.command == "webhook-info":
            print(asyncio.run(webhook_info(token, args.api_base)))
            return 0
        if not args.url:
            print("Give --url or set TELEGRAM_WEBHOOK_URL.", file=sys.stderr)
            return 2
        asyncio.run(set_webhook(token, args.url, env.get("TELEGRAM_WEBHOOK_SECRET", ""),
                                args.api_base, args.drop_pending_updates))
    except (ValueError, PlatformError) as error:
        print(f"Failed: {error}", file=sys.stderr)
        return 1
    print(f"Telegram webhook set to {args.url}, with the secret token.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
