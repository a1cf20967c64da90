"""Signature helpers, against the platforms' published examples and Rasa's Slack check."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict

import pytest
from multidict import MultiDict
from rasa.core.channels.slack import SlackInput

from connectors.recent import RecentIds, SharedRecentIds, recent_ids
from connectors.signatures import (
    facebook_signature,
    facebook_signature_valid,
    same_secret,
    slack_signature,
    twilio_signature,
    twilio_signature_valid,
)
from connectors.telegram import valid_secret_token
from connectors.whatsapp import form_params

# Slack's worked example (api.slack.com, "Verifying requests from Slack").
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_BODY = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
              b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
              b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
              b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id="
              b"398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
# Twilio's worked example (twilio.com, "Webhooks security").
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
                 "From": "+12349013030", "To": "+18005551212"}


def test_slack_signature_matches_slacks_example() -> None:
    assert slack_signature(SLACK_SECRET, "1531420618", SLACK_BODY) == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")


def slack_request(headers: Dict[str, str], body: bytes) -> Any:
    return SimpleNamespace(headers=headers, body=body)


def test_rasas_slack_check_accepts_our_signature_and_rejects_others() -> None:
    channel = SlackInput("xoxb-1", slack_signing_secret=SLACK_SECRET)
    now = str(int(time.time()))
    good = {"X-Slack-Signature": slack_signature(SLACK_SECRET, now, SLACK_BODY),
            "X-Slack-Request-Timestamp": now}
    assert channel.is_request_from_slack_authentic(slack_request(good, SLACK_BODY))
    assert not channel.is_request_from_slack_authentic(slack_request(good, SLACK_BODY + b"x"))
    old = str(int(time.time()) - 301)
    stale = {"X-Slack-Signature": slack_signature(SLACK_SECRET, old, SLACK_BODY),
             "X-Slack-Request-Timestamp": old}
    assert not channel.is_request_from_slack_authentic(slack_request(stale, SLACK_BODY))
    assert not channel.is_request_from_slack_authentic(slack_request({}, SLACK_BODY))


def test_facebook_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"object":"page","entry":[]}'
    expected = "sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    assert facebook_signature("app-secret", body) == expected
    assert facebook_signature_valid("app-secret", body, expected)
    assert facebook_signature_valid("app-secret", body, expected.upper().replace("SHA", "sha"))


@pytest.mark.parametrize("header", [
    None, "", "sha256=", "sha256=00", "sha1=" + hmac.new(b"app-secret", b"{}", "sha1").hexdigest(),
    facebook_signature("other-secret", b"{}"), facebook_signature("app-secret", b"{} "),
])
def test_facebook_signature_rejects(header: Any) -> None:
    assert not facebook_signature_valid("app-secret", b"{}", header)


def test_facebook_signature_needs_a_secret() -> None:
    assert not facebook_signature_valid("", b"{}", facebook_signature("", b"{}"))


def test_twilio_signature_matches_twilios_example() -> None:
    signature = twilio_signature("12345", TWILIO_URL, TWILIO_PARAMS)
    assert signature == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio_signature_valid("12345", TWILIO_URL, TWILIO_PARAMS, signature)


def test_twilio_signature_covers_url_params_and_blank_values() -> None:
    body = b"Body=hi&ProfileName=&From=whatsapp%3A%2B15551234567"
    params = form_params(body)
    assert params["ProfileName"] == ""
    signature = twilio_signature("tok", "https://bot.example.org/hook", dict(params))
    assert twilio_signature_valid("tok", "https://bot.example.org/hook", params, signature)
    assert twilio_signature_valid("tok", "https://bot.example.org:443/hook", params, signature)
    without_blank = MultiDict((k, v) for k, v in params.items() if v)
    assert not twilio_signature_valid("tok", "https://bot.example.org/hook", without_blank,
                                      signature)
    assert not twilio_signature_valid("tok", "http://127.0.0.1:5005/hook", params, signature)
    assert not twilio_signature_valid("other", "https://bot.example.org/hook", params, signature)
    assert not twilio_signature_valid("tok", "https://bot.example.org/hook", params, None)
    assert not twilio_signature_valid("", "https://bot.example.org/hook", params, signature)


def test_same_secret() -> None:
    assert same_secret("abc", "abc")
    for given in (None, "", "abd", "abc ", "ab"):
        assert not same_secret("abc", given)
    assert not same_secret("", "")


@pytest.mark.parametrize(("secret", "valid"), [
    ("abc_DEF-123", True), ("x" * 256, True), ("", False), (None, False), ("x" * 257, False),
    ("has space", False), ("semi;colon", False),
])
def test_telegram_secret_token_format(secret: Any, valid: bool) -> None:
    assert valid_secret_token(secret) is valid


def test_recent_ids_drop_duplicates_within_size_and_time() -> None:
    now = [0.0]
    recent = RecentIds(size=3, ttl=60, clock=lambda: now[0])
    assert not recent.seen_before("a")
    assert recent.seen_before("a")
    assert not recent.seen_before(None) and not recent.seen_before("")
    for key in ("b", "c", "d"):
        assert not recent.seen_before(key)
    assert len(recent) == 3
    assert not recent.seen_before("a")  # pushed out by size
    now[0] = 61.0
    assert not recent.seen_before("d")  # expired
    assert len(recent) == 1


def test_shared_recent_ids_drop_duplicates_within_size_and_time(tmp_path: Path) -> None:
    now = [1000.0]
    recent = SharedRecentIds(tmp_path / "ids.db", size=3, ttl=60, clock=lambda: now[0])
    assert not recent.seen_before("a")
    assert recent.seen_before("a")
    assert not recent.seen_before(None) and not recent.seen_before("")
    for key in ("b", "c", "d"):
        now[0] += 1
        assert not recent.seen_before(key)
    assert len(recent) == 3
    assert not recent.seen_before("a")  # pushed out by size
    now[0] += 61
    assert not recent.seen_before("d")  # expired
    assert len(recent) == 1


def test_a_retry_reaching_another_process_is_a_duplicate(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Each worker has its own memory object; they share the file $DELIVERY_IDS_DB names."""
    monkeypatch.setenv("DELIVERY_IDS_DB", str(tmp_path / "build" / "ids.db"))
    first_worker, second_worker = recent_ids(), recent_ids()
    assert isinstance(first_worker, SharedRecentIds)
    assert not first_worker.seen_before("Ev123")
    assert second_worker.seen_before("Ev123")
    monkeypatch.delenv("DELIVERY_IDS_DB")
    assert isinstance(recent_ids(), RecentIds)
