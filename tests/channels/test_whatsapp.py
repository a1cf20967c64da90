"""WhatsApp through Twilio end to end: signed form webhook -> Rasa -> Messages API."""

from __future__ import annotations

import base64
import itertools
import time
import uuid
from typing import Any, Dict, Optional

import pytest
import requests

from connectors.signatures import twilio_signature
from tests.channels.conftest import (
    CAUSES_QUESTION,
    SECRETS,
    VAGUE,
    Channels,
    answered,
    title_of,
    topic_of_payload,
)

SID = SECRETS["TWILIO_ACCOUNT_SID"]
AUTH_TOKEN = SECRETS["TWILIO_AUTH_TOKEN"]
PUBLIC_URL = SECRETS["TWILIO_WEBHOOK_URL"]
BOT = "whatsapp:" + SECRETS["TWILIO_WHATSAPP_NUMBER"]
_ids = itertools.count(1)


def new_number() -> str:
    return f"whatsapp:+1555{int(time.time()) % 10000:04d}{next(_ids):03d}"


def incoming(sender: str, body: str) -> Dict[str, str]:
    """The form Twilio posts when a WhatsApp message comes in (blank values included)."""
    sid = "SM" + uuid.uuid4().hex
    return {"SmsMessageSid": sid, "NumMedia": "0", "ProfileName": "", "MessageType": "text",
            "SmsSid": sid, "WaId": sender.split("+")[-1], "SmsStatus": "received", "Body": body,
            "To": BOT, "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid,
            "AccountSid": SID, "From": sender, "ApiVersion": "2010-04-01"}


def post(channels: Channels, form: Dict[str, str], *, url: str = PUBLIC_URL,
         token: str = AUTH_TOKEN, sign: bool = True,
         sent_form: Optional[Dict[str, str]] = None) -> requests.Response:
    headers = {"X-Twilio-Signature": twilio_signature(token, url, form)} if sign else {}
    return requests.post(channels.url("whatsapp"), data=sent_form or form, headers=headers,
                         timeout=60)


def to(number: str) -> Any:
    return lambda c: c.path == f"/2010-04-01/Accounts/{SID}/Messages.json" \
        and c.form["To"] == number


def test_causes_question_gets_answer_ending_with_disclaimer(channels: Channels) -> None:
    number = new_number()
    response = post(channels, incoming(number, CAUSES_QUESTION))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Response></Response>" in response.text
    [call] = channels.recorder.wait_for("twilio", to(number))
    assert call.method == "POST"
    assert call.headers["authorization"] == "Basic " + base64.b64encode(
        f"{SID}:{AUTH_TOKEN}".encode()).decode()
    assert call.form == {"To": number, "From": BOT,
                         "Body": answered("causes")}
    assert channels.assistant.topic(number) == "causes"


def test_vague_message_gets_numbered_list_and_a_number_answers(channels: Channels) -> None:
    number = new_number()
    post(channels, incoming(number, VAGUE))
    [offer] = channels.recorder.wait_for("twilio", to(number))
    body = offer.form["Body"]
    assert body.startswith("I'm not sure I understood.")
    assert body.endswith("\n\nReply with a number.")
    listed = [line for line in body.split("\n") if line[:1].isdigit()]
    assert len(listed) >= 2
    assert listed[0].startswith("1. ") and listed[1].startswith("2. ")

    post(channels, incoming(number, "2."))
    answer = channels.recorder.wait_for("twilio", to(number), 2)[1].form["Body"]
    chosen = channels.user_texts(number)[-1]
    assert chosen.startswith("/ask_")
    assert listed[1] == f"2. {title_of(topic_of_payload(chosen))}"
    assert answer == answered(topic_of_payload(chosen))


def test_out_of_range_number_passes_through(channels: Channels) -> None:
    number = new_number()
    post(channels, incoming(number, VAGUE))
    channels.recorder.wait_for("twilio", to(number))
    post(channels, incoming(number, "9"))
    channels.recorder.wait_for("twilio", to(number), 2)
    assert channels.user_texts(number) == [VAGUE, "9"]


def test_number_after_a_later_message_is_not_a_choice(channels: Channels) -> None:
    number = new_number()
    post(channels, incoming(number, VAGUE))
    channels.recorder.wait_for("twilio", to(number))
    post(channels, incoming(number, CAUSES_QUESTION))
    channels.recorder.wait_for("twilio", to(number), 2)
    post(channels, incoming(number, "1"))
    channels.recorder.wait_for("twilio", to(number), 3)
    assert channels.user_texts(number)[-1] == "1"


@pytest.mark.parametrize("forgery", ["unsigned", "wrong_token", "loopback_url", "tampered"])
def test_forged_webhook_is_refused_and_never_stored(channels: Channels, forgery: str) -> None:
    number = new_number()
    form = incoming(number, CAUSES_QUESTION)
    if forgery == "unsigned":
        response = post(channels, form, sign=False)
    elif forgery == "wrong_token":
        response = post(channels, form, token="not-the-token")
    elif forgery == "loopback_url":  # signed for the URL the server sees, not the public one
        response = post(channels, form, url=channels.url("whatsapp"))
    else:
        response = post(channels, form, sent_form={**form, "Body": "something else"})
    assert response.status_code == 401
    time.sleep(1)
    assert channels.stored_events(number) == 0
    assert channels.recorder.find("twilio", to(number)) == []
