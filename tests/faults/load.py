"""A small, bounded load of conversations that survives faults like a real client.

Each conversation sends its messages one after the other, alternating between the
replicas (a load balancer without sticky sessions). Every message carries a
`message_id`; a request that fails (connection refused or reset, timeout, 503) is
sent again with the same id, to the other replica if the first one refused the
connection (it is then avoided for the rest of the run). The server answers a
repeated id with the stored answer, so a retry never stores a message twice.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import requests

REQUEST_TIMEOUT = 45.0  # longer than a retried message can wait for a dead replica's lock
MAX_ATTEMPTS = 6
RUN_TIMEOUT = 180.0  # no scenario phase may take longer


@dataclass
class Attempt:
    """One HTTP request of a turn."""

    url: str
    status: int = 0
    replies: List[Dict[str, Any]] = field(default_factory=list)
    error: str = ""
    started: float = 0.0
    seconds: float = 0.0


@dataclass
class Turn:
    """One user message and every attempt it took to get it answered."""

    sender: str
    text: str
    message_id: str
    attempts: List[Attempt] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        """Whether the last attempt got a 200."""
        return bool(self.attempts) and self.attempts[-1].status == 200

    @property
    def replies(self) -> List[Dict[str, Any]]:
        """The answer of the last attempt."""
        return self.attempts[-1].replies if self.attempts else []

    def texts(self) -> List[Optional[str]]:
        """The texts of the final answer."""
        return [reply.get("text") for reply in self.replies]


class FailoverClient:
    """Sends messages to the replicas, failing over and retrying as described above."""

    def __init__(self, urls: Sequence[str]) -> None:
        """Remembers the replicas' base URLs."""
        self.urls = list(urls)
        self.refused: set[str] = set()
        self._lock = threading.Lock()
        self._session = threading.local()

    def _http(self) -> requests.Session:
        session: Optional[requests.Session] = getattr(self._session, "value", None)
        if session is None:
            session = requests.Session()
            self._session.value = session
        return session

    def _pick(self, index: int) -> str:
        with self._lock:
            alive = [url for url in self.urls if url not in self.refused] or self.urls
        return alive[index % len(alive)]

    def say(self, sender: str, text: str, index: int) -> Turn:
        """Sends one message until it is answered (at most `MAX_ATTEMPTS` requests)."""
        turn = Turn(sender, text, uuid.uuid4().hex)
        for number in range(MAX_ATTEMPTS):
            attempt = Attempt(self._pick(index + number), started=time.monotonic())
            turn.attempts.append(attempt)
            try:
                response = self._http().post(
                    f"{attempt.url}/webhooks/rest/webhook", timeout=REQUEST_TIMEOUT,
                    json={"sender": sender, "message": text, "message_id": turn.message_id})
            except requests.ConnectionError as error:
                attempt.error = f"ConnectionError: {error}"
                attempt.seconds = time.monotonic() - attempt.started
                with self._lock:
                    self.refused.add(attempt.url)
                self._session.value = None  # drop connections to the dead replica
                continue
            except requests.Timeout as error:
                attempt.error = f"Timeout: {error}"
                attempt.seconds = time.monotonic() - attempt.started
                continue
            attempt.seconds = time.monotonic() - attempt.started
            attempt.status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = None
            attempt.replies = body if isinstance(body, list) else []
            if attempt.status == 200:
                break
            time.sleep(float(response.headers.get("Retry-After") or 1))
        return turn


def converse(client: FailoverClient, sender: str, texts: Sequence[str], first_index: int,
             pause: float) -> List[Turn]:
    """Sends `texts` one after the other, alternating replicas, `pause` s apart."""
    turns = []
    for offset, text in enumerate(texts):
        turns.append(client.say(sender, text, first_index + offset))
        time.sleep(pause)
    return turns


def run_conversations(client: FailoverClient, scripts: Dict[str, Sequence[str]],
                      first_index: int = 0, pause: float = 0.0,
                      fault: Optional[Callable[[], None]] = None,
                      fault_after: float = 0.0) -> Dict[str, List[Turn]]:
    """All conversations at once; `fault` runs `fault_after` s after they start.

    Args:
        client: The client (keeps which replicas refused connections).
        scripts: Conversation id -> its messages for this phase.
        first_index: Added to each message's index when alternating replicas.
        pause: Seconds between a conversation's messages.
        fault: Called once while the conversations run; returns when the fault is
            over (or has been set up).
        fault_after: When to call it.

    Returns:
        Conversation id -> its turns.
    """
    with ThreadPoolExecutor(max_workers=len(scripts)) as pool:
        futures = {sender: pool.submit(converse, client, sender, texts,
                                       first_index + number, pause)
                   for number, (sender, texts) in enumerate(scripts.items())}
        if fault is not None:
            time.sleep(fault_after)
            fault()
        return {sender: future.result(timeout=RUN_TIMEOUT)
                for sender, future in futures.items()}
