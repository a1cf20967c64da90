"""Slack end to end: signed Events API / interactivity -> Rasa -> chat.postMessage."""

from __future__ import annotations

import html
import itertools
import json
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlencode

import pytest
import requests

from connectors.signatures import slack_signature
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

SIGNING_SECRET = SECRETS["SLACK_SIGNING_SECRET"]
BOT_USER = "U0BOTUSER1"
_ids = itertools.count(1)


def new_user() -> Tuple[str, str]:
    n = next(_ids)
    suffix = uuid.uuid4().hex[:8].upper()
    return f"U{suffix}{n}", f"D{suffix}{n}"


def message_event(user: str, channel: str, text: str) -> Dict[str, Any]:
    ts = f"{time.time():.6f}"
    return {
        "token": "legacy-verification-token", "team_id": "T0TEAM0001", "api_app_id": "A0APP00001",
        "event": {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
                  "event_ts": ts, "channel_type": "im"},
        "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [{"enterprise_id": None, "team_id": "T0TEAM0001", "user_id": BOT_USER,
                            "is_bot": True, "is_enterprise_install": False}],
    }


def click(user: str, channel: str, button: Dict[str, Any]) -> Dict[str, Any]:
    ts = f"{time.time():.6f}"
    return {
        "type": "block_actions", "user": {"id": user, "username": "ada", "team_id": "T0TEAM0001"},
        "api_app_id": "A0APP00001", "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel,
                      "is_ephemeral": False},
        "trigger_id": "123.456.abc", "team": {"id": "T0TEAM0001", "domain": "example"},
        "channel": {"id": channel, "name": "directmessage"},
        "message": {"type": "message", "ts": ts, "text": "I'm not sure I understood."},
        "response_url": "https://hooks.example.org/actions/T0/1/x",
        "actions": [{**button, "block_id": "b1", "action_ts": f"{time.time():.6f}"}],
    }


def post(channels: Channels, body: bytes, content_type: str, *, secret: Optional[str] =
         SIGNING_SECRET, timestamp: Optional[int] = None,
         headers: Optional[Dict[str, str]] = None) -> requests.Response:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    sent = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, **(headers or {})}
    if secret is not None:
        sent["X-Slack-Signature"] = slack_signature(secret, stamp, body)
    return requests.post(channels.url("slack"), data=body, headers=sent, timeout=60)


def post_event(channels: Channels, event: Dict[str, Any], **kwargs: Any) -> requests.Response:
    return post(channels, json.dumps(event).encode(), "application/json", **kwargs)


def post_click(channels: Channels, payload: Dict[str, Any]) -> requests.Response:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return post(channels, body, "application/x-www-form-urlencoded")


def to(channel: str) -> Any:
    return lambda c: c.path == "/chat.postMessage" and c.json["channel"] == channel


def mrkdwn(text: str) -> str:
    return html.escape(text, quote=False)


def test_causes_question_gets_block_kit_answer_ending_with_disclaimer(channels: Channels) -> None:
    user, dm = new_user()
    response = post_event(channels, message_event(user, dm, CAUSES_QUESTION))
    assert response.status_code == 200
    [call] = channels.recorder.wait_for("slack", to(dm))
    assert call.method == "POST"
    assert call.headers["authorization"] == f"Bearer {SECRETS['SLACK_BOT_TOKEN']}"
    assert call.headers["content-type"].startswith("application/json")
    expected = mrkdwn(answered("causes"))
    assert call.json["blocks"] == [{"type": "section", "text": {"type": "mrkdwn",
                                                                "text": expected}}]
    assert call.json["text"] == expected
    assert channels.assistant.topic(user) == "causes"


def test_vague_message_gets_buttons_and_a_click_answers(channels: Channels) -> None:
    user, dm = new_user()
    post_event(channels, message_event(user, dm, VAGUE))
    [offer] = channels.recorder.wait_for("slack", to(dm))
    section, actions = offer.json["blocks"]
    assert section["type"] == "section" and actions["type"] == "actions"
    buttons: List[Dict[str, Any]] = actions["elements"]
    assert len(buttons) >= 2 and all(b["type"] == "button" for b in buttons)
    assert [b["text"]["text"] for b in buttons] == [
        title_of(topic_of_payload(b["value"])) for b in buttons]
    assert len({b["action_id"] for b in buttons}) == len(buttons)

    assert post_click(channels, click(user, dm, buttons[1])).status_code == 200
    answer = channels.recorder.wait_for("slack", to(dm), 2)[1].json["text"]
    topic = topic_of_payload(buttons[1]["value"])
    assert mrkdwn(answer_of(topic)) in answer and answer.endswith(mrkdwn(small_print_of(topic)))
    assert channels.assistant.topic(user) == topic


def test_typing_a_number_picks_that_choice(channels: Channels) -> None:
    user, dm = new_user()
    post_event(channels, message_event(user, dm, VAGUE))
    [offer] = channels.recorder.wait_for("slack", to(dm))
    second = offer.json["blocks"][1]["elements"][1]["value"]
    post_event(channels, message_event(user, dm, "2)"))
    answer = channels.recorder.wait_for("slack", to(dm), 2)[1].json["text"]
    assert mrkdwn(answer_of(topic_of_payload(second))) in answer


@pytest.mark.parametrize("reason", ["http_error", "http_timeout", "connection_failed"])
def test_retried_event_gets_no_second_answer(channels: Channels, reason: str) -> None:
    user, dm = new_user()
    event = message_event(user, dm, CAUSES_QUESTION)
    assert post_event(channels, event).status_code == 200
    channels.recorder.wait_for("slack", to(dm))
    for attempt in (1, 2):
        retry = post_event(channels, event, headers={"X-Slack-Retry-Num": str(attempt),
                                                     "X-Slack-Retry-Reason": reason})
        assert retry.status_code == 200
    assert len(channels.recorder.settle("slack", to(dm), quiet=3)) == 1
    assert channels.user_texts(user) == [CAUSES_QUESTION]


def test_retry_of_an_event_never_received_is_answered(channels: Channels) -> None:
    user, dm = new_user()
    event = message_event(user, dm, CAUSES_QUESTION)
    retry = post_event(channels, event, headers={"X-Slack-Retry-Num": "1",
                                                 "X-Slack-Retry-Reason": "connection_failed"})
    assert retry.status_code == 200
    channels.recorder.wait_for("slack", to(dm))


@pytest.mark.parametrize("forgery", ["unsigned", "wrong_secret", "stale", "tampered"])
def test_forged_event_is_refused_and_never_stored(channels: Channels, forgery: str) -> None:
    user, dm = new_user()
    event = message_event(user, dm, CAUSES_QUESTION)
    body = json.dumps(event).encode()
    if forgery == "unsigned":
        response = post(channels, body, "application/json", secret=None)
    elif forgery == "wrong_secret":
        response = post(channels, body, "application/json", secret="not-the-secret")
    elif forgery == "stale":
        response = post(channels, body, "application/json", timestamp=int(time.time()) - 600)
    else:
        stamp = str(int(time.time()))
        signature = slack_signature(SIGNING_SECRET, stamp, body)
        response = requests.post(
            channels.url("slack"), data=body.replace(b"cramps", b"CRAMPS"), timeout=60,
            headers={"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                     "X-Slack-Signature": signature})
    assert response.status_code == 401
    time.sleep(1.5)  # events are processed in the background: give a leak time to show
    assert channels.stored_events(user) == 0
    assert channels.recorder.find("slack", to(dm)) == []


def test_forged_click_is_refused(channels: Channels) -> None:
    user, dm = new_user()
    body = urlencode({"payload": json.dumps(click(user, dm, {
        "type": "button", "action_id": "choice_1", "value": "/ask_causes",
        "text": {"type": "plain_text", "text": "Causes"}}))}).encode()
    response = post(channels, body, "application/x-www-form-urlencoded", secret="wrong")
    assert response.status_code == 401
    time.sleep(1.5)
    assert channels.stored_events(user) == 0


def test_url_verification_challenge_needs_a_signature(channels: Channels) -> None:
    body = json.dumps({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"}).encode()
    ok = post(channels, body, "application/json")
    assert ok.status_code == 200
    assert ok.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert post(channels, body, "application/json", secret=None).status_code == 401


def test_bot_messages_are_ignored(channels: Channels) -> None:
    user, dm = new_user()
    event = message_event(user, dm, CAUSES_QUESTION)
    event["event"]["bot_id"] = "B0BOT00001"
    assert post_event(channels, event).status_code == 200
    time.sleep(1.5)
    assert channels.recorder.find("slack", to(dm)) == []
