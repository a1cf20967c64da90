"""Messages through every messaging channel: understood, stored redacted, never logged."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any, Callable, Dict, List, Tuple

from tests.channels import test_facebook as facebook
from tests.channels import test_slack as slack
from tests.channels import test_telegram as telegram
from tests.channels import test_whatsapp as whatsapp
from tests.channels.conftest import Channels

#: A supplements question with an e-mail, a phone number and a word found nowhere else.
QUESTION = ("do magnesium supplements help night leg cramps, {word}? email me at "
            "{word}@example.org or call 07700 900123")

Sender = Callable[[Channels, str], Tuple[str, Callable[[Any], bool]]]


def via_telegram(channels: Channels, text: str) -> Tuple[str, Callable[[Any], bool]]:
    chat = telegram.new_chat()
    assert telegram.post(channels, telegram.message_update(chat, text)).status_code == 200
    return "telegram", telegram.sent_to(chat)


def via_slack(channels: Channels, text: str) -> Tuple[str, Callable[[Any], bool]]:
    user, dm = slack.new_user()
    assert slack.post_event(channels, slack.message_event(user, dm, text)).status_code == 200
    return "slack", slack.to(dm)


def via_facebook(channels: Channels, text: str) -> Tuple[str, Callable[[Any], bool]]:
    psid = facebook.new_psid()
    assert facebook.post(channels, facebook.text_event(psid, text)).status_code == 200
    return "facebook", facebook.to(psid)


def via_whatsapp(channels: Channels, text: str) -> Tuple[str, Callable[[Any], bool]]:
    number = whatsapp.new_number()
    assert whatsapp.post(channels, whatsapp.incoming(number, text)).status_code == 200
    return "twilio", whatsapp.to(number)


SENDERS: List[Sender] = [via_telegram, via_slack, via_facebook, via_whatsapp]


def stored_user_messages(channels: Channels, word: str) -> List[Tuple[str, str]]:
    """(intent, stored event JSON) of every user message that holds `word`."""
    with sqlite3.connect(channels.assistant.db) as connection:
        rows = connection.execute(
            "select intent_name, data from events where type_name = 'user'")
        return [(intent, data) for intent, data in rows if word in data]


def test_channel_messages_are_answered_stored_redacted_and_not_logged(guarded: Channels
                                                                      ) -> None:
    words: Dict[str, str] = {}
    for send in SENDERS:
        word = "qz" + uuid.uuid4().hex[:10]
        platform, to_user = send(guarded, QUESTION.format(word=word))
        words[platform] = word
        guarded.recorder.wait_for(platform, to_user, 1, timeout=120)  # answered

    logs = {name: (guarded.assistant.logs / name).read_text(errors="replace")
            for name in ("rasa.log", "actions.log")}
    for platform, word in words.items():
        [(intent, stored)] = stored_user_messages(guarded, word)
        assert intent == "ask_about_supplements", platform  # understood: NLU saw the original
        assert "email me at [email] or call [phone]" in stored, platform
        assert "example.org" not in stored and "900123" not in stored, platform
        for name, text in logs.items():
            assert word not in text, f"{platform} message text in {name}"
    for text in logs.values():
        assert "example.org" not in text and "07700 900123" not in text
