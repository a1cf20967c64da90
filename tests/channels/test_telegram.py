"""Telegram end to end: secret-token webhook -> Rasa -> sendMessage at the fake Bot API."""

from __future__ import annotations

import html
import itertools
import time
from typing import Any, Dict, List, Optional

import pytest
import requests

from connectors import telegram
from tests.channels.conftest import (
    CAUSES_QUESTION,
    SECRETS,
    VAGUE,
    Channels,
    answer_of,
    answered,
    small_print_of,
    title_of,
    topic_of_payload,
)
from tests.channels.recorder import Call, Recorder

TOKEN = SECRETS["TELEGRAM_BOT_TOKEN"]
_ids = itertools.count(int(time.time()) % 100000 * 1000)


def new_chat() -> int:
    return 700_000_000 + next(_ids)


def message_update(chat: int, text: str) -> Dict[str, Any]:
    update_id = next(_ids)
    user = {"id": chat, "is_bot": False, "first_name": "Ada", "language_code": "en"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "from": user, "chat": {"id": chat, "first_name": "Ada",
                                                        "type": "private"},
        "date": int(time.time()), "text": text}}


def callback_update(chat: int, data: str) -> Dict[str, Any]:
    update_id = next(_ids)
    user = {"id": chat, "is_bot": False, "first_name": "Ada"}
    return {"update_id": update_id, "callback_query": {
        "id": f"cbq-{update_id}", "from": user, "chat_instance": "-42", "data": data,
        "message": {"message_id": 1, "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
                    "chat": {"id": chat, "type": "private"}, "date": int(time.time()),
                    "text": "I'm not sure I understood."}}}


def post(channels: Channels, update: Dict[str, Any],
         secret: Optional[str] = SECRETS["TELEGRAM_WEBHOOK_SECRET"]) -> requests.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return requests.post(channels.url("telegram"), json=update, headers=headers, timeout=60)


def sent_to(chat: int) -> Any:
    return lambda c: c.path.endswith("/sendMessage") and c.json["chat_id"] == chat


def messages(recorder: Recorder, chat: int, count: int) -> List[Call]:
    return recorder.wait_for("telegram", sent_to(chat), count)


def test_causes_question_gets_html_answer_ending_with_disclaimer(channels: Channels) -> None:
    chat = new_chat()
    response = post(channels, message_update(chat, CAUSES_QUESTION))
    assert response.status_code == 200
    [call] = messages(channels.recorder, chat, 1)
    assert call.method == "POST" and call.path == f"/bot{TOKEN}/sendMessage"
    sent = call.json
    assert sent["parse_mode"] == "HTML"
    assert sent["text"] == html.escape(answered("causes"), quote=False)
    assert "reply_markup" not in sent
    assert channels.assistant.topic(str(chat)) == "causes"


def test_vague_message_gets_inline_keyboard_and_a_press_answers(channels: Channels) -> None:
    chat = new_chat()
    assert post(channels, message_update(chat, VAGUE)).status_code == 200
    [offer] = messages(channels.recorder, chat, 1)
    keyboard = offer.json["reply_markup"]["inline_keyboard"]
    assert len(keyboard) >= 2 and all(len(row) == 1 for row in keyboard)
    payloads = [row[0]["callback_data"] for row in keyboard]
    assert all(p.startswith("/ask_") for p in payloads)
    assert [row[0]["text"] for row in keyboard] == [
        title_of(topic_of_payload(p)) for p in payloads]

    update = callback_update(chat, payloads[1])
    assert post(channels, update).status_code == 200
    answer = messages(channels.recorder, chat, 2)[1].json
    topic = topic_of_payload(payloads[1])
    assert html.escape(answer_of(topic), quote=False) in answer["text"]
    assert answer["text"].endswith(html.escape(small_print_of(topic), quote=False))
    answered = channels.recorder.find(
        "telegram", lambda c: c.path == f"/bot{TOKEN}/answerCallbackQuery")
    assert {"callback_query_id": update["callback_query"]["id"]} in [c.json for c in answered]
    assert channels.assistant.topic(str(chat)) == topic


def test_typing_a_number_picks_that_choice(channels: Channels) -> None:
    chat = new_chat()
    post(channels, message_update(chat, VAGUE))
    [offer] = messages(channels.recorder, chat, 1)
    first = offer.json["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert post(channels, message_update(chat, " 1.")).status_code == 200
    answer = messages(channels.recorder, chat, 2)[1].json["text"]
    assert html.escape(answer_of(topic_of_payload(first)), quote=False) in answer
    assert channels.user_texts(str(chat))[-1] == first


def test_start_command_greets(channels: Channels) -> None:
    chat = new_chat()
    post(channels, message_update(chat, "/start"))
    [greeting] = messages(channels.recorder, chat, 1)
    assert greeting.json["text"].startswith("Hello!")


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRETS["TELEGRAM_WEBHOOK_SECRET"] + "x"])
def test_forged_update_is_refused_and_never_stored(channels: Channels,
                                                    secret: Optional[str]) -> None:
    chat = new_chat()
    response = post(channels, message_update(chat, CAUSES_QUESTION), secret)
    assert response.status_code == 401
    time.sleep(1)
    assert channels.stored_events(str(chat)) == 0
    assert channels.recorder.find("telegram", sent_to(chat)) == []


def test_set_webhook_route_is_not_served_and_nothing_is_called_at_startup(
        channels: Channels) -> None:
    base = f"{channels.assistant.base}/webhooks/telegram"
    for method in ("GET", "POST"):
        response = requests.request(method, f"{base}/set_webhook", timeout=30,
                                    headers={"X-Telegram-Bot-Api-Secret-Token":
                                             SECRETS["TELEGRAM_WEBHOOK_SECRET"]})
        assert response.status_code in (404, 405), response.text
    assert requests.get(f"{base}/webhook", timeout=30).status_code in (404, 405)
    assert requests.get(f"{base}/", timeout=30).json() == {"status": "ok"}
    calls = channels.recorder.find("telegram", lambda c: c.path.startswith(f"/bot{TOKEN}/"))
    methods = {c.path.rsplit("/", 1)[-1] for c in calls}
    assert not methods & {"getMe", "setWebhook", "deleteWebhook"}


def test_cli_registers_the_webhook_with_the_secret_token(recorder: Recorder,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    env = {"TELEGRAM_BOT_TOKEN": "4242:cli-token", "TELEGRAM_WEBHOOK_SECRET": "cli_secret-1",
           "TELEGRAM_API_BASE": f"{recorder.base}/telegram"}
    url = "https://bot.example.org/webhooks/telegram/webhook"
    assert telegram.main(["set-webhook", "--url", url], env) == 0
    [call] = recorder.find("telegram", lambda c: c.path == "/bot4242:cli-token/setWebhook")
    assert call.json["url"] == url
    assert call.json["secret_token"] == "cli_secret-1"
    assert set(call.json["allowed_updates"]) >= {"message", "callback_query"}
    assert "with the secret token" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "env"), [
    (["set-webhook", "--url", "http://insecure.example.org/hook"], {}),
    (["set-webhook", "--url", "https://bot.example.org/hook"],
     {"TELEGRAM_WEBHOOK_SECRET": "has spaces"}),
    (["set-webhook"], {}),
])
def test_cli_refuses_insecure_settings(recorder: Recorder, args: List[str],
                                       env: Dict[str, str]) -> None:
    full_env = {"TELEGRAM_BOT_TOKEN": "4343:cli-token", "TELEGRAM_WEBHOOK_SECRET": "ok-secret",
                "TELEGRAM_API_BASE": f"{recorder.base}/telegram", **env}
    assert telegram.main(args, full_env) != 0
    assert recorder.find("telegram", lambda c: c.path.startswith("/bot4343:")) == []
