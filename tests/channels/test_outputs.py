"""The output channels alone, against the fake APIs: limits, buttons, errors."""

from __future__ import annotations

import re
import uuid
from typing import Any, Callable, Dict, List

import pytest

from connectors.facebook import MessengerOutput
from connectors.outbound import PlatformError
from connectors.output import NativeOutput
from connectors.rendering import (
    MESSENGER_LIMIT,
    SLACK_LIMIT,
    TELEGRAM_LIMIT,
    WHATSAPP_LIMIT,
)
from connectors.slack import SlackOutput
from connectors.telegram import TelegramOutput
from connectors.whatsapp import WhatsAppOutput
from tests.channels.conftest import small_print_of
from tests.channels.recorder import Call, Recorder

SID = "AC" + "f" * 32


def outputs(base: str) -> Dict[str, NativeOutput]:
    return {
        "telegram": TelegramOutput("42:token", f"{base}/telegram"),
        "slack": SlackOutput("xoxb-token", None, None, f"{base}/slack"),
        "facebook": MessengerOutput("page-token", f"{base}/facebook"),
        "twilio": WhatsAppOutput(SID, "auth", "whatsapp:+14155238886", f"{base}/twilio"),
    }


TEXT: Dict[str, Callable[[Call], str]] = {
    "telegram": lambda c: c.json["text"],
    "slack": lambda c: c.json["blocks"][0]["text"]["text"],
    "facebook": lambda c: c.json["message"]["text"],
    "twilio": lambda c: c.form["Body"],
}
RECIPIENT: Dict[str, Callable[[Call], str]] = {
    "telegram": lambda c: str(c.json["chat_id"]),
    "slack": lambda c: c.json["channel"],
    "facebook": lambda c: c.json["recipient"]["id"],
    "twilio": lambda c: c.form["To"],
}
LIMIT = {"telegram": TELEGRAM_LIMIT, "slack": SLACK_LIMIT, "facebook": MESSENGER_LIMIT,
         "twilio": WHATSAPP_LIMIT}


def recipient_for(platform: str) -> str:
    number = str(uuid.uuid4().int % 10**9)
    return f"whatsapp:+1{number}" if platform == "twilio" else number


def sent(recorder: Recorder, platform: str, recipient: str) -> List[Call]:
    return recorder.find(platform, lambda c: RECIPIENT[platform](c) == recipient)


def words(text: str) -> List[str]:
    return re.findall(r"\S+", text)


@pytest.mark.parametrize("platform", list(TEXT))
async def test_long_answer_is_split_under_the_limit_and_ends_with_its_small_print(
        recorder: Recorder, platform: str) -> None:
    recipient = recipient_for(platform)
    body = " ".join(f"Sentence {i} explains one more thing about night cramps."
                    for i in range(LIMIT[platform] * 3 // 50))
    text = f"{body}\n\n{small_print_of('causes')}"
    await outputs(recorder.base)[platform].send_text_message(recipient, text)
    calls = sent(recorder, platform, recipient)
    parts = [TEXT[platform](c) for c in calls]
    assert len(parts) >= 3
    assert all(len(part) <= LIMIT[platform] for part in parts)
    assert parts[-1].endswith(small_print_of("causes"))
    assert words(" ".join(parts)) == words(text)


def buttons(count: int, title: str = "Topic") -> List[Dict[str, Any]]:
    return [{"title": f"{title} {n}", "payload": f"/ask_{n}"} for n in range(1, count + 1)]


async def test_telegram_keyboard_rides_on_the_last_part_and_long_payloads_become_numbers(
        recorder: Recorder) -> None:
    recipient = recipient_for("telegram")
    choices = [{"title": "Short", "payload": "/ask_causes"},
               {"title": "Long", "payload": "/ask_causes" + "x" * 60}]
    text = "word " * 1000  # two parts
    await outputs(recorder.base)["telegram"].send_text_with_buttons(recipient, text, choices)
    first, last = sent(recorder, "telegram", recipient)
    assert "reply_markup" not in first.json
    assert last.json["reply_markup"] == {"inline_keyboard": [
        [{"text": "Short", "callback_data": "/ask_causes"}],
        [{"text": "Long", "callback_data": "2"}]]}


async def test_messenger_short_titles_are_plain_quick_replies(recorder: Recorder) -> None:
    recipient = recipient_for("facebook")
    await outputs(recorder.base)["facebook"].send_text_with_buttons(
        recipient, "Pick one.", buttons(3))
    [call] = sent(recorder, "facebook", recipient)
    assert call.json["message"] == {"text": "Pick one.", "quick_replies": [
        {"content_type": "text", "title": f"Topic {n}", "payload": f"/ask_{n}"}
        for n in (1, 2, 3)]}


async def test_messenger_more_than_13_choices_are_numbered_in_the_text(
        recorder: Recorder) -> None:
    recipient = recipient_for("facebook")
    await outputs(recorder.base)["facebook"].send_text_with_buttons(
        recipient, "Pick one.", buttons(15))
    [call] = sent(recorder, "facebook", recipient)
    message = call.json["message"]
    assert len(message["quick_replies"]) == 13
    assert message["quick_replies"][12] == {"content_type": "text", "title": "13. Topic 13",
                                            "payload": "/ask_13"}
    assert "\n15. Topic 15\n" in message["text"]


async def test_slack_many_buttons_fill_several_action_blocks(recorder: Recorder) -> None:
    recipient = recipient_for("slack")
    long_title = "A very long title " * 6
    await outputs(recorder.base)["slack"].send_text_with_buttons(
        recipient, "Pick <one> & go.", [*buttons(29), {"title": long_title, "payload": "/x"}])
    [call] = sent(recorder, "slack", recipient)
    section, *actions = call.json["blocks"]
    assert section["text"] == {"type": "mrkdwn", "text": "Pick &lt;one&gt; &amp; go."}
    assert [len(block["elements"]) for block in actions] == [25, 5]
    ids = [e["action_id"] for block in actions for e in block["elements"]]
    assert len(set(ids)) == 30
    assert len(actions[1]["elements"][-1]["text"]["text"]) <= 75


async def test_whatsapp_choices_are_a_numbered_list(recorder: Recorder) -> None:
    recipient = recipient_for("twilio")
    await outputs(recorder.base)["twilio"].send_text_with_buttons(
        recipient, "Did you mean one of these?",
        [{"title": "Causes", "payload": "/ask_causes"},
         {"title": "Quick relief", "payload": "/ask_quick_relief"}])
    [call] = sent(recorder, "twilio", recipient)
    assert call.form["Body"] == ("Did you mean one of these?\n\n1. Causes\n2. Quick relief"
                                 "\n\nReply with a number.")


async def test_platform_refusal_raises(recorder: Recorder) -> None:
    slack = SlackOutput("not-a-bot-token", "D1", None, f"{recorder.base}/slack")
    with pytest.raises(PlatformError, match="not_authed"):
        await slack.send_text_message("D1", "hello")
    unknown = WhatsAppOutput(SID, "auth", "whatsapp:+1", f"{recorder.base}/nowhere")
    with pytest.raises(PlatformError, match="HTTP 404"):
        await unknown.send_text_message("whatsapp:+2", "hello")
    unreachable = TelegramOutput("42:secret-token", "http://127.0.0.1:9")
    with pytest.raises(PlatformError) as error:
        await unreachable.send_text_message("1", "hello")
    assert "secret-token" not in str(error.value)
