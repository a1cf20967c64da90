"""tools/serve_web.py on its own: routes, content types, the disclaimer, no path traversal."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest
import yaml

from tests.servers import ROOT
from tools.processes import Server, free_port, serving
from tools.serve_web import command

RASA_URL = "http://127.0.0.1:5999"
DISCLAIMER = "Test disclaimer: general information only."


@pytest.fixture
def server(content_copy: Path, tmp_path: Path) -> Iterator[int]:
    """serve_web.py on a free port, reading the disclaimer from a content copy."""
    store = content_copy / "store.yml"
    data = yaml.safe_load(store.read_text())
    data["disclaimer"] = DISCLAIMER
    store.write_text(yaml.safe_dump(data))
    port = free_port()
    with serving(Server("web", command(port, RASA_URL), f"http://127.0.0.1:{port}/",
                        {**os.environ, "CONTENT_DIR": str(content_copy)}, tmp_path), timeout=60):
        yield port


def get(port: int, path: str, host: str = "") -> Tuple[int, Dict[str, str], bytes]:
    """A GET that sends `path` exactly as written (no dot-segment clean-up)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host or f"127.0.0.1:{port}")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_command_starts_this_script() -> None:
    argv = command(8081, "http://localhost:5005")
    assert argv[1].endswith("tools/serve_web.py")
    assert argv[2:] == ["--port", "8081", "--host", "127.0.0.1",
                        "--rasa-url", "http://localhost:5005"]


def test_demo_page_points_at_rasa_and_at_itself(server: int) -> None:
    status, headers, body = get(server, "/")
    page = body.decode()
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    assert (f'<script src="http://127.0.0.1:{server}/widget/chat.js" '
            f'data-server="{RASA_URL}" data-title="Leg cramp questions" defer></script>') in page
    # Only those two URLs change: the rest is the file as it is.
    original = (ROOT / "web" / "index.html").read_text()
    assert page.replace(f"http://127.0.0.1:{server}", "http://localhost:8080").replace(
        RASA_URL, "http://localhost:5005") == original


def test_odd_host_header_is_not_reflected(server: int) -> None:
    status, _, body = get(server, "/", host='evil"><script>x</script>')
    assert status == 200
    assert b"evil" not in body
    assert b'src="http://localhost:8080/widget/chat.js"' in body


def test_disclaimer_comes_from_the_content_store(server: int) -> None:
    status, headers, body = get(server, "/widget/disclaimer.json")
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(body) == {"disclaimer": DISCLAIMER}


@pytest.mark.parametrize(("path", "content_type"), [
    ("/widget/chat.js", "text/javascript; charset=utf-8"),
    ("/widget/chat.css", "text/css; charset=utf-8"),
])
def test_widget_files_are_served_as_they_are(server: int, path: str, content_type: str) -> None:
    status, headers, body = get(server, path)
    assert status == 200
    assert headers["Content-Type"] == content_type
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body == (ROOT / "web" / path.lstrip("/")).read_bytes()


@pytest.mark.parametrize("path", [
    "/nothing-here",
    "/widget/",
    "/widget/missing.js",
    "/widget/../index.html",
    "/widget/../../README.md",
    "/widget/%2e%2e/%2e%2e/README.md",
    "/widget/..%2f..%2fREADME.md",
    "/widget/%2fetc%2fpasswd",
    "/widget/..\\..\\README.md",
    "/../README.md",
    "/tools/serve_web.py",
])
def test_unknown_and_escaping_paths_are_404(server: int, path: str) -> None:
    status, _, body = get(server, path)
    assert status == 404, path
    assert b"import" not in body and b"root:" not in body
