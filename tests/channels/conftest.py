"""One real assistant with all four messaging channels on, and a fake platform API.

The assistant runs with credentials written by `connectors.credentials` from the
project's credentials.yml, test secrets in the environment and every API base
pointed at the loopback recorder, so outbound calls are captured, not sent.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from connectors.credentials import write_active_credentials
from nightcramps.content_store import YamlContentStore
from nightcramps.small_print import SmallPrint
from tests.channels.recorder import Recorder
from tests.servers import ROOT, Assistant, running_assistant

STORE = YamlContentStore(ROOT / "content")
DISCLAIMER = STORE.disclaimer
#: A question the model is unsure about: the assistant offers 2-3 topics as choices.
VAGUE = "cramps"
#: A question the model answers with the `causes` topic.
CAUSES_QUESTION = "why do I get leg cramps at night"

SECRETS: Dict[str, str] = {
    "TELEGRAM_BOT_TOKEN": "123456789:TEST-telegram-bot-token",
    "TELEGRAM_WEBHOOK_SECRET": "test-telegram-webhook-secret_42",
    "SLACK_BOT_TOKEN": "xoxb-test-slack-bot-token",
    "SLACK_SIGNING_SECRET": "test-slack-signing-secret",
    "FACEBOOK_VERIFY_TOKEN": "test-facebook-verify-token",
    "FACEBOOK_APP_SECRET": "test-facebook-app-secret",
    "FACEBOOK_PAGE_ACCESS_TOKEN": "test-facebook-page-token",
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": "test-twilio-auth-token",
    "TWILIO_WHATSAPP_NUMBER": "+14155238886",
    # The public URL registered in Twilio; the tests post to loopback instead,
    # as a proxy would.
    "TWILIO_WEBHOOK_URL": "https://bot.example.org/webhooks/whatsapp/webhook",
}
CHANNEL_KEYS = [
    "connectors.resilience.ResilientRestInput",
    "connectors.telegram.TelegramChannel",
    "connectors.slack.SlackChannel",
    "connectors.facebook.FacebookChannel",
    "connectors.whatsapp.WhatsAppChannel",
]


@dataclass
class Channels:
    """The running assistant, the fake platform API and the environment used."""

    assistant: Assistant
    recorder: Recorder
    env: Dict[str, str]

    def url(self, channel: str) -> str:
        return f"{self.assistant.base}/webhooks/{channel}/webhook"

    def stored_events(self, sender: str) -> int:
        """How many events the tracker store holds for `sender`."""
        with sqlite3.connect(self.assistant.db) as db:
            return int(db.execute("select count(*) from events where sender_id = ?",
                                  (sender,)).fetchone()[0])

    def user_texts(self, sender: str) -> List[Any]:
        """The user messages stored for `sender`, oldest first."""
        events = self.assistant.tracker(sender)["events"]
        return [e.get("text") for e in events if e["event"] == "user"]


def answer_of(topic: str) -> str:
    entry = STORE.get(topic)
    assert entry is not None, topic
    return entry.answer


def small_print_of(topic: str) -> str:
    """A topic's small print as text channels show it: the disclaimer, the sources line."""
    entry = STORE.get(topic)
    assert entry is not None, topic
    small_print = SmallPrint.for_entry(entry, DISCLAIMER, STORE.sources)
    assert small_print.sources and small_print.sources.startswith("Source")
    return small_print.text


def answered(topic: str) -> str:
    """A topic's answer as text channels send it: the answer, a blank line, the small print."""
    return f"{answer_of(topic)}\n\n{small_print_of(topic)}"


def title_of(topic: str) -> str:
    entry = STORE.get(topic)
    assert entry is not None, topic
    return entry.title


def topic_of_payload(payload: str) -> str:
    entry = STORE.for_intent(payload.lstrip("/"))
    assert entry is not None, payload
    return entry.id


def all_channels(tmp: Path, recorder: Recorder) -> Tuple[Path, Dict[str, str]]:
    """Credentials with every channel on, and their variables, pointed at `recorder`."""
    env = {**SECRETS,
           "TELEGRAM_API_BASE": f"{recorder.base}/telegram",
           "SLACK_API_BASE": f"{recorder.base}/slack",
           "FACEBOOK_API_BASE": f"{recorder.base}/facebook/v19.0",
           "TWILIO_API_BASE": f"{recorder.base}/twilio"}
    credentials = tmp / "credentials.yml"
    assert write_active_credentials(ROOT / "channels.yml", credentials, env) == CHANNEL_KEYS
    return credentials, env


@pytest.fixture(scope="session")
def channels(tmp_path_factory: pytest.TempPathFactory, recorder: Recorder) -> Iterator[Channels]:
    credentials, env = all_channels(tmp_path_factory.mktemp("channels"), recorder)
    with running_assistant(credentials.parent, credentials=credentials, env=env) as assistant:
        yield Channels(assistant, recorder, env)


def wait_until(condition: object, timeout: float = 30.0) -> None:
    """Polls a zero-argument callable until it returns true."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def log_of(channels: Channels) -> str:
    return Path(channels.assistant.logs / "rasa.log").read_text()
