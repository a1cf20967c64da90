"""Outbound calls to the platforms' HTTP APIs (one short-lived aiohttp session per call).

Errors never quote the URL: Telegram's carries the bot token.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

import aiohttp

logger = logging.getLogger(__name__)

#: Seconds before an API call is given up.
TIMEOUT = 15.0


class PlatformError(RuntimeError):
    """A platform's API could not be reached or refused a call."""


@dataclass(frozen=True)
class Reply:
    """A platform's answer: HTTP status and body (parsed JSON, or the raw text)."""

    status: int
    body: Any

    def field(self, name: str) -> Any:
        """A top-level field of a JSON object body (None otherwise)."""
        return self.body.get(name) if isinstance(self.body, dict) else None


async def post(
    url: str,
    *,
    what: str,
    json_body: Optional[Mapping[str, Any]] = None,
    form: Optional[Mapping[str, str]] = None,
    params: Optional[Mapping[str, str]] = None,
    headers: Optional[Mapping[str, str]] = None,
    basic_auth: Optional[Tuple[str, str]] = None,
) -> Reply:
    """POSTs JSON or a form and returns the reply; raises on HTTP errors.

    Args:
        url: The full URL (may hold a token; never logged).
        what: A name for the call in errors, e.g. "Telegram sendMessage".
        json_body: A JSON body.
        form: A form body (application/x-www-form-urlencoded).
        params: Query parameters.
        headers: Extra headers.
        basic_auth: A (user, password) pair for HTTP basic authentication.

    Returns:
        The status and body of a 2xx reply.

    Raises:
        PlatformError: If the API is unreachable or answers with a non-2xx status.
    """
    auth = aiohttp.BasicAuth(*basic_auth) if basic_auth else None
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
            url, json=json_body, data=form, params=params, headers=headers, auth=auth
        ) as response:
            text = await response.text()
            status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        raise PlatformError(f"{what}: {type(error).__name__}") from None
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = text
    if not 200 <= status < 300:
        raise PlatformError(f"{what}: HTTP {status}: {str(text)[:300]}")
    return Reply(status, body)
