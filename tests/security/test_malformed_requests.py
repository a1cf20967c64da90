"""A bounded burst of malformed requests on every public route.

Every messaging-channel webhook refuses an unsigned request, every API route
refuses a request without the token, an authorised API request with a malformed
body is never accepted, and an oversized body gets 413 everywhere. Afterwards the
server still answers, and a conversation held before the burst is stored
unchanged and continues with its context.

Rasa's own REST channel answers 500 when the body is JSON but not an object (it
calls `.get` on it), and 200 with no reply when `message` is not a string (the
failure is logged, with the value, by Rasa: see docs/privacy-and-security.md).
"""

from __future__ import annotations

import json
import uuid
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
import requests

from tests.channels.conftest import Channels
from tests.privacy.conftest import reply_text
from tests.security.conftest import stored_rows
from tests.servers import TOKEN

REQUEST_MAX_SIZE = 256 * 1024
JSON = "application/json"

Body = Tuple[str, Optional[str], bytes]  # name, content type, body
#: Rasa's REST channel fails with 500 on a JSON body that is not an object.
REST_500 = {"empty", "json list", "json string", "json null"}


def bodies(victim: str) -> List[Body]:
    """Malformed bodies, several aimed at the victim's conversation."""
    def js(value: object) -> bytes:
        return json.dumps(value).encode()
    return [
        ("bad json", JSON, b'{"sender": "x", "message": '),
        ("empty", JSON, b""),
        ("wrong types", JSON, js({"sender": 5, "message": ["x"]})),
        ("list message to victim", JSON, js({"sender": victim, "message": ["x"]})),
        ("object message to victim", JSON, js({"sender": victim, "message": {"$gt": ""}})),
        ("number message to victim", JSON, js({"sender": victim, "message": 12})),
        ("null message to victim", JSON, js({"sender": victim, "message": None})),
        ("missing message", JSON, js({"sender": victim})),
        ("object sender", JSON, js({"sender": {"id": victim}, "message": "hi"})),
        ("json list", JSON, js([{"sender": victim, "message": "hi"}])),
        ("json string", JSON, js("hello")),
        ("json null", JSON, b"null"),
        ("deep nesting", JSON, b"[" * 50_000 + b"]" * 50_000),
        ("invalid utf-8", JSON, b'{"sender": "x", "message": "\xff\xfe\xfa"}'),
        ("plain text", "text/plain", b"hello there"),
        ("form", "application/x-www-form-urlencoded",
         f"sender={victim}&message=hi&Body=x".encode()),
        ("xml", "application/xml", b"<message><sender>x</sender></message>"),
        ("binary", "application/octet-stream", bytes(range(256)) * 8),
        ("no content type", None, b'{"sender": "x", "message": "hi"}'),
        ("oversized", JSON, js({"sender": victim, "message": "a" * REQUEST_MAX_SIZE})),
    ]


def expected(path: str, authorised: bool, body: str, status: int) -> bool:
    """Whether `status` is an acceptable answer to a malformed request."""
    if path in ("/", "/webhooks/rest/"):  # GET-only routes
        return status in (405, 413)
    if body == "oversized":
        return status == 413
    if path == "/webhooks/rest/webhook":
        return status < 500 or body in REST_500
    if path.startswith("/webhooks/"):
        return status in (401, 403)  # signed channels: the signature check comes first
    if not authorised:
        return status == 401
    return status >= 400  # authorised API call: never accepted


def routes(victim: str) -> List[Tuple[str, str, Dict[str, str]]]:
    """Every public route (method, path, query), and the API with and without the token."""
    token = {"token": TOKEN}
    channels = [f"/webhooks/{name}/webhook" for name in
                ("rest", "telegram", "slack", "facebook", "whatsapp")]
    api = [f"/conversations/{victim}/messages", f"/conversations/{victim}/tracker/events",
           f"/conversations/{victim}/trigger_intent", f"/conversations/{victim}/execute",
           "/model/parse"]
    return ([("POST", path, {}) for path in channels]
            + [("POST", "/", {}), ("POST", "/webhooks/rest/", {})]
            + [("POST", path, {}) for path in api]
            + [("POST", path, token) for path in api]
            + [("PUT", f"/conversations/{victim}/tracker/events", {})])


@pytest.fixture(scope="module")
def victim(guarded: Channels) -> Iterator[Tuple[str, List[str]]]:
    """A conversation held before the burst, and its stored events."""
    sender = f"victim-{uuid.uuid4().hex}"
    guarded.assistant.say("what causes night leg cramps", sender)
    yield sender, stored_rows(guarded, sender)


def test_burst_of_malformed_requests(guarded: Channels, victim: Tuple[str, List[str]]) -> None:
    sender, rows_before = victim
    base = guarded.assistant.base
    unexpected: List[str] = []
    sent = 0
    for method, path, params in routes(sender):
        for name, content_type, body in bodies(sender):
            headers = {"Content-Type": content_type} if content_type else {}
            response = requests.request(method, base + path, params=params, data=body,
                                        headers=headers, timeout=60)
            sent += 1
            if not expected(path, bool(params), name, response.status_code):
                unexpected.append(f"{method} {path} {'(token) ' if params else ''}"
                                  f"{name}: {response.status_code}")
    assert sent == len(routes(sender)) * len(bodies(sender)) == 360
    assert not unexpected, "\n".join(unexpected)

    assert requests.get(base + "/", timeout=30).status_code == 200
    assert stored_rows(guarded, sender) == rows_before
    replies = guarded.assistant.say("what about in pregnancy?", sender)
    assert "pregnan" in reply_text(replies).lower()
    assert guarded.assistant.topic(sender) == "pregnancy"
