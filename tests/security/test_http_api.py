"""Rasa's HTTP API needs the token or a JWT; CORS answers only the allowed origin."""

from __future__ import annotations

import uuid

import jwt
import pytest
import requests

from tests.channels.conftest import Channels
from tests.security.conftest import ALLOWED_ORIGIN, JWT_SECRET
from tests.servers import TOKEN

PROTECTED = ["/status", "/conversations/{sender}/tracker", "/domain"]
JSON = {"Accept": "application/json"}
OTHER_SECRET = "not-the-secret-but-just-as-long-as-it"


def bearer(secret: str, role: str = "admin") -> dict:
    token = jwt.encode({"user": {"username": "ops", "role": role}}, secret, algorithm="HS256")
    return {**JSON, "Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", PROTECTED)
def test_api_refuses_requests_without_valid_credentials(guarded: Channels, path: str) -> None:
    url = guarded.assistant.base + path.format(sender=uuid.uuid4().hex)
    assert requests.get(url, headers=JSON, timeout=30).status_code == 401
    assert requests.get(url, params={"token": "wrong"}, headers=JSON,
                        timeout=30).status_code == 401
    assert requests.get(url, headers=bearer(OTHER_SECRET), timeout=30).status_code == 401
    assert requests.get(url, headers={**JSON, "Authorization": "Bearer x.y.z"},
                        timeout=30).status_code == 401


@pytest.mark.parametrize("path", PROTECTED)
def test_api_answers_with_the_token_or_a_jwt(guarded: Channels, path: str) -> None:
    url = guarded.assistant.base + path.format(sender=uuid.uuid4().hex)
    assert requests.get(url, params={"token": TOKEN}, headers=JSON,
                        timeout=30).status_code == 200
    assert requests.get(url, headers=bearer(JWT_SECRET), timeout=30).status_code == 200


def test_a_user_jwt_reaches_only_its_own_conversation(guarded: Channels) -> None:
    own, other = uuid.uuid4().hex, uuid.uuid4().hex
    token = jwt.encode({"user": {"username": own, "role": "user"}}, JWT_SECRET,
                       algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    base = guarded.assistant.base
    assert requests.get(f"{base}/conversations/{own}/tracker", headers=headers,
                        timeout=30).status_code == 200
    assert requests.get(f"{base}/conversations/{other}/tracker", headers=headers,
                        timeout=30).status_code == 403


def preflight(base: str, origin: str) -> requests.Response:
    return requests.options(f"{base}/webhooks/rest/webhook", timeout=30, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})


def test_cors_preflight_allows_only_the_configured_origin(guarded: Channels) -> None:
    base = guarded.assistant.base
    allowed = preflight(base, ALLOWED_ORIGIN)
    assert allowed.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    assert "POST" in allowed.headers.get("Access-Control-Allow-Methods", "")
    for origin in ("https://evil.example.com", "https://chat.example.org.evil.com", "null"):
        refused = preflight(base, origin)
        assert "Access-Control-Allow-Origin" not in refused.headers, origin


def test_cors_on_messages_answers_only_the_configured_origin(guarded: Channels) -> None:
    url = f"{guarded.assistant.base}/webhooks/rest/webhook"
    body = {"sender": uuid.uuid4().hex, "message": "hi"}
    allowed = requests.post(url, json=body, headers={"Origin": ALLOWED_ORIGIN}, timeout=60)
    assert allowed.status_code == 200
    assert allowed.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    other = requests.post(url, json=body, headers={"Origin": "https://evil.example.com"},
                          timeout=60)
    assert "Access-Control-Allow-Origin" not in other.headers
