"""Serves the demo page and the chat widget (web/) on loopback.

Usage: python -m tools.serve_web [--port 8080] [--host 127.0.0.1] [--rasa-url URL]

Routes:
    /, /index.html          the demo page, with the widget's `data-server` set to
                            --rasa-url and its script src set to this server's origin
    /widget/disclaimer.json the content store's disclaimer, as {"disclaimer": "..."}
    /widget/<file>          the widget's static files (chat.js, chat.css)

Files are served as they are; only the demo page's two URLs are substituted.
Rasa must allow this page's origin: `rasa run --cors http://localhost:8080`.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional
from urllib.parse import urlsplit

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent

WEB_DIR = ROOT / "web"
WIDGET_DIR = WEB_DIR / "widget"
INDEX = WEB_DIR / "index.html"

DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
DEFAULT_RASA_URL = "http://localhost:5005"

#: The URLs written in web/index.html's embed snippet, replaced when it is served.
PAGE_RASA_URL = 'data-server="http://localhost:5005"'
PAGE_WIDGET_ORIGIN = 'src="http://localhost:8080/widget/'

#: The only file types served, with their Content-Type.
CONTENT_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

#: Sent with every response of this server.
COMMON_HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}

# A Host header as a browser sends it: a name or address, and maybe a port.
_HOST_HEADER = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def command(port: int, rasa_url: str, host: str = DEFAULT_HOST) -> List[str]:
    """The argv that starts this server as a subprocess (used by tools/run.py).

    Args:
        port: The port to listen on.
        rasa_url: The Rasa server the widget on the demo page talks to.
        host: The interface to listen on (loopback by default).

    Returns:
        The command line, starting with the running Python interpreter.
    """
    return [sys.executable, str(Path(__file__).resolve()), "--port", str(port),
            "--host", host, "--rasa-url", rasa_url]


def rasa_url_argument(value: str) -> str:
    """Checks --rasa-url: an http(s) URL with a host; returns it without a trailing slash.

    Args:
        value: The argument as given.

    Returns:
        The URL, e.g. `http://localhost:5005`.

    Raises:
        argparse.ArgumentTypeError: If it is not an http(s) URL.
    """
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {value!r}")
    return value.rstrip("/")


def render_index(page: str, rasa_url: str, origin: Optional[str]) -> str:
    """Points the demo page's embed snippet at Rasa and at this server.

    Args:
        page: The text of web/index.html.
        rasa_url: The value for the widget's `data-server`.
        origin: This server's origin as the browser sees it (e.g.
            `http://127.0.0.1:8080`), or None to leave the script src alone.

    Returns:
        The page to send.
    """
    page = page.replace(PAGE_RASA_URL, f'data-server="{html.escape(rasa_url)}"')
    if origin:
        page = page.replace(PAGE_WIDGET_ORIGIN, f'src="{html.escape(origin)}/widget/')
    return page


def request_origin(request: web.Request) -> Optional[str]:
    """The origin the browser used to reach this server, if its Host header is sane."""
    host = request.headers.get("Host", "")
    return f"{request.scheme}://{host}" if _HOST_HEADER.match(host) else None


def widget_file(name: str) -> Optional[Path]:
    """The file of web/widget/ that `name` names, or None.

    Only regular, non-hidden files of a known type inside web/widget/ are
    returned, so `..`, absolute paths, symlinks out of the folder and encoded
    tricks all end in None (404).

    Args:
        name: The part of the URL path after `/widget/`.
    """
    if not name or "\\" in name or "\0" in name:
        return None
    if any(part.startswith(".") for part in name.split("/")):
        return None
    folder = WIDGET_DIR.resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        return None
    if path.suffix.lower() not in CONTENT_TYPES:
        return None
    return path


def respond(body: bytes, content_type: str, status: int = 200) -> web.Response:
    """A response with the server's common headers."""
    response = web.Response(body=body, status=status, headers=dict(COMMON_HEADERS))
    response.headers["Content-Type"] = content_type
    return response


def not_found() -> web.Response:
    """The 404 response."""
    return respond(b"Not found\n", "text/plain; charset=utf-8", status=404)


def make_app(rasa_url: str = DEFAULT_RASA_URL) -> web.Application:
    """Builds the web application.

    Args:
        rasa_url: The Rasa server the demo page's widget talks to.

    Returns:
        The aiohttp application.
    """

    async def index(request: web.Request) -> web.Response:
        page = render_index(INDEX.read_text(encoding="utf-8"), rasa_url, request_origin(request))
        return respond(page.encode("utf-8"), CONTENT_TYPES[".html"])

    async def disclaimer(request: web.Request) -> web.Response:
        from nightcramps.content_store import ContentError, default_store

        try:
            text = default_store().disclaimer
        except ContentError as error:
            body: Dict[str, str] = {"error": f"the content store cannot be read: {error}"}
            return respond(json.dumps(body).encode(), CONTENT_TYPES[".json"], status=500)
        return respond(json.dumps({"disclaimer": text}).encode(), CONTENT_TYPES[".json"])

    async def static(request: web.Request) -> web.Response:
        path = widget_file(request.match_info["name"])
        if path is None:
            return not_found()
        return respond(path.read_bytes(), CONTENT_TYPES[path.suffix.lower()])

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/index.html", index)
    app.router.add_get("/widget/disclaimer.json", disclaimer)
    app.router.add_get("/widget/{name:.+}", static)
    return app


def main(argv: Optional[List[str]] = None) -> int:
    """Serves web/ until Ctrl-C.

    Args:
        argv: The command-line arguments (sys.argv[1:] if None).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="interface to listen on (default: loopback only)")
    parser.add_argument("--rasa-url", type=rasa_url_argument, default=DEFAULT_RASA_URL,
                        help="the Rasa server the widget talks to (default: %(default)s)")
    args = parser.parse_args(argv)

    print(f"Serving {WEB_DIR} on http://{args.host}:{args.port} "
          f"(the widget talks to {args.rasa_url})", flush=True)
    web.run_app(make_app(args.rasa_url), host=args.host, port=args.port, print=None,
                access_log=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
