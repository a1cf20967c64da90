"""Webhook signatures: how each platform proves a request came from it.

The `*_signature` functions compute what the platform sends (the tests sign
their requests with them); the `*_valid` functions check a request and compare
in constant time. A missing header or an empty secret is never valid.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Mapping, Optional

from twilio.request_validator import RequestValidator


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    """The hex HMAC-SHA256 of `message` keyed with `secret`."""
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def same_secret(expected: str, given: Optional[str]) -> bool:
    """Whether `given` equals the non-empty `expected`, compared in constant time.

    Args:
        expected: The configured secret.
        given: What the request carried (None if nothing).

    Returns:
        True only if both are non-empty and equal.
    """
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def facebook_signature(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends: "sha256=" + HMAC of the raw body."""
    return "sha256=" + hmac_sha256_hex(app_secret, body)


def facebook_signature_valid(app_secret: str, body: bytes, header: Optional[str]) -> bool:
    """Checks an `X-Hub-Signature-256` header against the raw request body.

    Args:
        app_secret: The Meta app secret.
        body: The raw request body, exactly as received.
        header: The `X-Hub-Signature-256` header (None if missing).

    Returns:
        True if the header is the body's HMAC-SHA256 with the app secret.
    """
    if not app_secret:
        return False
    return same_secret(facebook_signature(app_secret, body), (header or "").strip().lower())


def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` value: "v0=" + HMAC of "v0:{timestamp}:{body}"."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac_sha256_hex(signing_secret, base)


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The `X-Twilio-Signature` Twilio sends for a form POST to `url`."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def twilio_signature_valid(
    auth_token: str, url: str, params: Any, signature: Optional[str]
) -> bool:
    """Checks `X-Twilio-Signature` with Twilio's own `RequestValidator`.

    Args:
        auth_token: The Twilio account's auth token.
        url: The public URL Twilio posted to (as configured in Twilio's console).
        params: The form parameters, blank values included (a dict, or a
            multidict with `getall` if a name repeats).
        signature: The `X-Twilio-Signature` header (None if missing).

    Returns:
        True if the signature matches.
    """
    if not auth_token or not signature or not url:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))
