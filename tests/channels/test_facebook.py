"""Messenger end to end: X-Hub-Signature-256 webhook -> Rasa -> Send API at the fake Graph API."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any, Dict, List, Optional

import pytest
import requests

from connectors.signatures import facebook_signature
from tests.channels.conftest import (
    CAUSES_QUESTION,
    SECRETS,
    VAGUE,
    Channels,
    answered,
    title_of,
    topic_of_payload,
)

APP_SECRET = SECRETS["FACEBOOK_APP_SECRET"]
PAGE_ID = "1029384756"
_ids = itertools.count(1)


def new_psid() -> str:
    return f"{int(time.time() * 1000) % 10**9}{next(_ids):04d}"


def page_event(psid: str, message: Dict[str, Any]) -> Dict[str, Any]:
    now = int(time.time() * 1000)
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": now, "messaging": [{
        "sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": now,
        "message": {"mid": f"m_{psid}_{next(_ids)}", **message}}]}]}


def text_event(psid: str, text: str) -> Dict[str, Any]:
    return page_event(psid, {"text": text})


def post(channels: Channels, event: Dict[str, Any],
         headers: Optional[Dict[str, str]] = None, sign: bool = True) -> requests.Response:
    body = json.dumps(event).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if sign:
        sent["X-Hub-Signature-256"] = facebook_signature(APP_SECRET, body)
    return requests.post(channels.url("facebook"), data=body, headers=sent, timeout=60)


def to(psid: str) -> Any:
    return lambda c: c.path == "/v19.0/me/messages" and c.json["recipient"]["id"] == psid


def test_verify_token_handshake(channels: Channels) -> None:
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444",
             "hub.verify_token": SECRETS["FACEBOOK_VERIFY_TOKEN"]}
    ok = requests.get(channels.url("facebook"), params=query, timeout=30)
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = requests.get(channels.url("facebook"), timeout=30,
                         params={**query, "hub.verify_token": "guess"})
    assert wrong.status_code == 403 and "1158201444" not in wrong.text


def test_causes_question_gets_plain_answer_ending_with_disclaimer(channels: Channels) -> None:
    psid = new_psid()
    response = post(channels, text_event(psid, CAUSES_QUESTION))
    assert response.status_code == 200
    [call] = channels.recorder.wait_for("facebook", to(psid))
    assert call.method == "POST"
    assert call.query == {"access_token": [SECRETS["FACEBOOK_PAGE_ACCESS_TOKEN"]]}
    assert call.json == {"recipient": {"id": psid}, "messaging_type": "RESPONSE",
                         "message": {"text": answered("causes")}}
    assert channels.assistant.topic(psid) == "causes"


def test_vague_message_gets_quick_replies_and_numbered_titles(channels: Channels) -> None:
    psid = new_psid()
    post(channels, text_event(psid, VAGUE))
    [offer] = channels.recorder.wait_for("facebook", to(psid))
    message = offer.json["message"]
    replies: List[Dict[str, Any]] = message["quick_replies"]
    assert 2 <= len(replies) <= 13
    assert all(r["content_type"] == "text" and len(r["title"]) <= 20 for r in replies)
    titles = [title_of(topic_of_payload(r["payload"])) for r in replies]
    # The store's titles are longer than 20 characters: the text lists them in full.
    lines = message["text"].split("\n")
    for number, (reply, title) in enumerate(zip(replies, titles, strict=True), 1):
        assert f"{number}. {title}" in lines
        assert reply["title"].startswith(f"{number}. ")
    assert message["text"].endswith("Tap a choice or reply with its number.")

    tap = page_event(psid, {"text": replies[1]["title"],
                            "quick_reply": {"payload": replies[1]["payload"]}})
    assert post(channels, tap).status_code == 200
    answer = channels.recorder.wait_for("facebook", to(psid), 2)[1].json["message"]["text"]
    topic = topic_of_payload(replies[1]["payload"])
    assert answer == answered(topic)
    assert channels.assistant.topic(psid) == topic


def test_typing_a_number_picks_that_choice(channels: Channels) -> None:
    psid = new_psid()
    post(channels, text_event(psid, VAGUE))
    [offer] = channels.recorder.wait_for("facebook", to(psid))
    replies = offer.json["message"]["quick_replies"]
    last = replies[-1]["payload"]
    post(channels, text_event(psid, str(len(replies))))
    answer = channels.recorder.wait_for("facebook", to(psid), 2)[1].json["message"]["text"]
    assert answer == answered(topic_of_payload(last))
    assert channels.user_texts(psid) == [VAGUE, last]


def test_page_echoes_are_ignored(channels: Channels) -> None:
    psid = new_psid()
    assert post(channels, page_event(psid, {"text": "hello", "is_echo": True})).status_code == 200
    time.sleep(1)
    assert channels.stored_events(psid) == 0


@pytest.mark.parametrize("forgery", ["unsigned", "sha1_only", "wrong_secret", "tampered"])
def test_forged_webhook_is_refused_and_never_stored(channels: Channels, forgery: str) -> None:
    psid = new_psid()
    event = text_event(psid, CAUSES_QUESTION)
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if forgery == "sha1_only":  # the old header Rasa's channel checks: valid, but not enough
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(
            APP_SECRET.encode(), body, hashlib.sha1).hexdigest()
    elif forgery == "wrong_secret":
        headers["X-Hub-Signature-256"] = facebook_signature("not-the-secret", body)
    elif forgery == "tampered":
        headers["X-Hub-Signature-256"] = facebook_signature(APP_SECRET, body)
        body = body.replace(b"cramps", b"CRAMPS")
    response = requests.post(channels.url("facebook"), data=body, headers=headers, timeout=60)
    assert response.status_code == 401
    time.sleep(1)
    assert channels.stored_events(psid) == 0
    assert channels.recorder.find("facebook", to(psid)) == []
