"""What every page of the console shares: settings, the templates, rendering and refusals."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List

from jinja2 import Environment, PackageLoader, select_autoescape
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import ROLES


@dataclass(frozen=True)
class Settings:
    """How the console is served."""

    htmx_file: Path
    #: Always mark cookies Secure (else only when the request came over https).
    secure_cookies: bool = False
    #: Extra pages, e.g. analytics: (path, title) shown in the navigation.
    extra_nav: List[Any] = field(default_factory=list)


def utc(timestamp: float) -> str:
    """Seconds since the epoch as `YYYY-MM-DD HH:MM` UTC."""
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def templates() -> Environment:
    """The Jinja2 environment: the package's templates, HTML always escaped."""
    env = Environment(loader=PackageLoader("console", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["utc"] = utc
    return env


#: A path prefix a reverse proxy may announce (X-Forwarded-Prefix): slash-led path segments.
_PREFIX = re.compile(r"^(?:/[A-Za-z0-9._~-]+)+$")


def url_prefix(request: Request) -> str:
    """The path the console is served under behind a proxy (`/console`), or "".

    nginx (deploy/nginx.conf.j2) sends it as X-Forwarded-Prefix; anything that is
    not a plain path (e.g. `//elsewhere.example`) is ignored, so no link or redirect
    can be pointed at another site.
    """
    prefix = str(request.headers.get("X-Forwarded-Prefix", "")).rstrip("/")
    return prefix if _PREFIX.match(prefix) else ""


def redirect(request: Request, path: str) -> HTTPResponse:
    """A 303 to a console path, under the proxy's prefix."""
    return response.redirect(url_prefix(request) + path, status=303)


def wants_page(request: Request) -> bool:
    """Whether a request is a page load (redirect to login) rather than htmx or an API call."""
    return (request.method in ("GET", "HEAD") and "HX-Request" not in request.headers
            and not request.path.startswith("/api/"))


class Pages:
    """Renders the console's templates with what the layout needs."""

    def __init__(self, nav_extra: List[Any]) -> None:
        """Keeps the templates and the extra navigation entries ((path, title) pairs)."""
        self.env = templates()
        self.nav_extra = nav_extra

    def render(self, request: Request, template: str, status: int = 200, **context: Any
               ) -> HTTPResponse:
        """A page for the logged-in user (or the login page) with its CSRF token."""
        user = getattr(request.ctx, "user", None)
        session = getattr(request.ctx, "session", None)
        page = self.env.get_template(template).render(
            user=user, csrf_token=session.csrf_token if session else "",
            path=request.path, prefix=url_prefix(request), nav_extra=self.nav_extra,
            roles=ROLES, **context)
        return response.html(page, status=status)

    def refuse(self, request: Request, status: int, message: str) -> HTTPResponse:
        """An error: plain text for htmx, else the error page."""
        if "HX-Request" in request.headers:
            return response.text(message, status=status)
        return self.render(request, "error.html", status=status, message=message)
