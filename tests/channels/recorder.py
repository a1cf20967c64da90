"""A loopback HTTP server that stands in for the platforms' APIs and records every call.

The channels' API bases point at `{base}/telegram`, `{base}/slack`,
`{base}/facebook` and `{base}/twilio`; each answers as the platform would.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, parse_qsl, urlsplit


@dataclass
class Call:
    """One request to the fake API."""

    platform: str
    method: str
    path: str  # below the platform prefix, e.g. "/bot123:abc/sendMessage"
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def form(self) -> Dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


class Recorder:
    """Runs the fake API in a thread; `calls` holds what the channels sent."""

    def __init__(self) -> None:
        self.calls: List[Call] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._handle()

            def do_GET(self) -> None:
                self._handle()

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                platform, _, rest = parts.path.lstrip("/").partition("/")
                length = int(self.headers.get("Content-Length") or 0)
                call = Call(platform, self.command, "/" + rest, parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(length))
                recorder.record(call)
                status, body = recorder.answer(call)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def answer(self, call: Call) -> Tuple[int, Any]:
        """What the platform would answer."""
        number = next(self._ids)
        if call.platform == "telegram":
            method = call.path.rsplit("/", 1)[-1]
            if method == "sendMessage":
                sent = call.json
                return 200, {"ok": True, "result": {
                    "message_id": number, "date": int(time.time()), "text": sent.get("text"),
                    "chat": {"id": sent.get("chat_id"), "type": "private"}}}
            return 200, {"ok": True, "result": True}
        if call.platform == "slack":
            if not call.headers.get("authorization", "").startswith("Bearer xoxb-"):
                return 200, {"ok": False, "error": "not_authed"}
            return 200, {"ok": True, "channel": call.json.get("channel"),
                         "ts": f"1700000000.{number:06d}"}
        if call.platform == "facebook":
            return 200, {"recipient_id": call.json["recipient"]["id"],
                         "message_id": f"m_{number}"}
        if call.platform == "twilio":
            form = call.form
            return 201, {"sid": f"SM{number:032x}", "status": "queued", "to": form.get("To"),
                         "from": form.get("From"), "body": form.get("Body")}
        return 404, {"error": "unknown platform"}

    def find(self, platform: str, where: Callable[[Call], bool] = lambda _: True) -> List[Call]:
        with self._lock:
            return [c for c in self.calls if c.platform == platform and where(c)]

    def wait_for(
        self,
        platform: str,
        where: Callable[[Call], bool],
        count: int = 1,
        timeout: float = 60.0,
    ) -> List[Call]:
        """Waits until at least `count` matching calls were made; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(platform, where)
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, (
                    f"expected {count} {platform} call(s), got {len(found)}: "
                    f"{[(c.path, c.body[:200]) for c in self.find(platform)][-5:]}")
                return found
            time.sleep(0.1)

    def settle(self, platform: str, where: Callable[[Call], bool],
               quiet: float = 2.0, timeout: Optional[float] = 60.0) -> List[Call]:
        """Waits until no new matching call came for `quiet` seconds; returns them."""
        deadline = time.monotonic() + (timeout or 60.0)
        seen = len(self.find(platform, where))
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = len(self.find(platform, where))
            if now != seen:
                seen, last_change = now, time.monotonic()
            elif time.monotonic() - last_change >= quiet:
                break
        return self.find(platform, where)
