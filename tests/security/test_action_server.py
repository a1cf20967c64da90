"""tools/action_server.py: bound to 127.0.0.1, a size limit, errors without the body."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Set

import pytest
import requests

from tests.servers import ROOT
from tools.action_server import DEFAULT_HOST, create_argument_parser
from tools.processes import Server, action_server_command, free_port, serving

LIMIT = 64 * 1024


def listening(port: int) -> Set[str]:
    """The local IPv4 addresses with a TCP socket listening on `port` (/proc/net/tcp)."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            addresses.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return addresses


def connects(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=3):
        return True
    return False


@contextlib.contextmanager
def action_server(tmp: Path, env: Optional[Dict[str, str]] = None,
                  health_host: str = "127.0.0.1", args: Sequence[str] = ()) -> Iterator[int]:
    """Runs tools/action_server.py as tools/run.py starts it; yields its port."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if k != "ACTION_SERVER_HOST"}
    full_env = {**inherited, "CONTENT_DIR": str(ROOT / "content"),
                "ACTION_SERVER_MAX_REQUEST_SIZE": str(LIMIT), **(env or {})}
    server = Server("actions", [*action_server_command(port), *args],
                    f"http://{health_host}:{port}/health", full_env, tmp)
    with serving(server, timeout=120):
        yield port


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("actions")


@pytest.fixture(scope="module")
def port(logs: Path) -> Iterator[int]:
    with action_server(logs) as running:
        yield running


def test_binds_only_to_loopback_by_default(port: int) -> None:
    assert listening(port) == {"127.0.0.1"}
    assert connects("127.0.0.1", port)
    assert not connects("127.0.0.2", port)  # another local address: refused


def test_action_server_host_overrides_the_interface(tmp_path: Path) -> None:
    with action_server(tmp_path, env={"ACTION_SERVER_HOST": "127.0.0.2"},
                       health_host="127.0.0.2") as other:
        assert listening(other) == {"127.0.0.2"}
        assert not connects("127.0.0.1", other)


def cors_headers(port: int, origin: str) -> Dict[str, str]:
    """The CORS headers of a preflight and of a call from `origin`."""
    url = f"http://127.0.0.1:{port}/webhook"
    preflight = requests.options(url, timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    call = requests.post(url, json={"next_action": "action_list_topics", "sender_id": "c1",
                                    "tracker": {"sender_id": "c1", "events": []}},
                         headers={"Origin": origin}, timeout=10)
    assert call.status_code == 200, call.text
    return {f"{name} {key}": value for name, answer in (("preflight", preflight),
                                                         ("call", call))
            for key, value in answer.headers.items() if key.lower().startswith("access-control")}


def test_cors_is_off_unless_origins_are_given(port: int, logs: Path) -> None:
    assert cors_headers(port, "http://evil.example") == {}
    with action_server(logs, args=["--cors", "http://x.example"]) as with_cors:
        headers = cors_headers(with_cors, "http://x.example")
        assert headers["call Access-Control-Allow-Origin"] == "http://x.example"
        assert "preflight Access-Control-Allow-Origin" in headers
        assert cors_headers(with_cors, "http://evil.example") == {}


def test_options_default_to_loopback_and_keep_rasa_sdk_options(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTION_SERVER_HOST", raising=False)
    args = create_argument_parser().parse_args(["--port", "5056", "--cors", "http://x"])
    assert (args.host, args.port, args.cors, args.actions) == (
        DEFAULT_HOST, 5056, ["http://x"], "actions")
    monkeypatch.setenv("ACTION_SERVER_HOST", "10.0.0.5")
    assert create_argument_parser().parse_args([]).host == "10.0.0.5"
    assert create_argument_parser().parse_args(["--host", "0.0.0.0"]).host == "0.0.0.0"


def test_oversized_requests_get_413_and_the_server_survives(port: int) -> None:
    url = f"http://127.0.0.1:{port}/webhook"
    big = b'{"next_action": "' + b"x" * (LIMIT + 1) + b'"}'
    assert requests.post(url, data=big, headers={"Content-Type": "application/json"},
                         timeout=30).status_code == 413
    chunked = requests.post(url, data=iter([big[:LIMIT], big[LIMIT:]]),
                            headers={"Content-Type": "application/json"}, timeout=30)
    assert chunked.status_code == 413
    assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json() == {"status": "ok"}


def test_errors_do_not_echo_the_request(port: int, logs: Path) -> None:
    url = f"http://127.0.0.1:{port}/webhook"
    call = {"next_action": "action_answer_question", "domain": {},
            "tracker": {"latest_message": {"text": "secret jane.doe@example.org"}}}
    response = requests.post(url, json=call, timeout=30)
    assert response.status_code == 500
    assert "jane.doe" not in response.text and "request_body" not in response.text
    bad = requests.post(url, data=b"{not json", timeout=30)
    assert bad.status_code == 400 and "not json" not in bad.text
    assert requests.get(f"http://127.0.0.1:{port}/nowhere", timeout=30).status_code == 404
    log = (logs / "actions.log").read_text()
    assert "The action server failed on POST /webhook" in log
    assert "jane.doe" not in log
