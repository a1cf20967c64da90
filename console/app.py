"""The console's web application (Sanic, Jinja2 templates with autoescape, htmx).

Every route but `/login`, `/health` and `/static/` needs a session: pages
redirect to `/login`, htmx and other non-page requests get 401. Every POST must
carry the session's CSRF token (form field `csrf_token`, or header
`X-CSRF-Token`, which htmx sends from the page's `hx-headers`); the login form
carries a token of its own, from a cookie set with the form. Responses forbid
scripts and styles from anywhere but this server (Content-Security-Policy).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from pathlib import Path
from typing import Mapping, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import BaseHTTPResponse, HTTPResponse

from console.accounts import ADMIN
from console.content_routes import add_content_routes
from console.model_routes import add_model_routes
from console.pages import Pages, Settings, redirect, url_prefix, wants_page
from console.services import Services
from console.sessions import same_token

__all__ = ["Settings", "make_app", "set_cookie"]

SESSION_COOKIE = "console_session"
LOGIN_CSRF_COOKIE = "console_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: Paths served without a session.
PUBLIC_PATHS = ("/login", "/health")
PUBLIC_PREFIXES = ("/static/",)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC_DIR = Path(__file__).resolve().parent / "static"


def client_address(request: Request) -> str:
    """The client's address, as counted by the login rate limit."""
    return str(request.remote_addr or request.ip or "unknown")


def is_https(request: Request, settings: Settings) -> bool:
    """Whether cookies must be marked Secure for this request."""
    return settings.secure_cookies or request.scheme == "https"


def set_cookie(resp: HTTPResponse, name: str, value: str, secure: bool,
               max_age: Optional[int] = None, path: str = "/") -> None:
    """Sets an HttpOnly, SameSite=Strict cookie for the console's paths."""
    resp.cookies[name] = value
    resp.cookies[name]["path"] = path
    resp.cookies[name]["httponly"] = True
    resp.cookies[name]["samesite"] = "Strict"
    if secure:
        resp.cookies[name]["secure"] = True
    if max_age is not None:
        resp.cookies[name]["max-age"] = max_age


def analytics_available() -> bool:
    """Whether the analytics page's modules are installed (console/analytics*.py)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None
               for name in ("console.analytics", "console.analytics_page"))


def make_app(services: Services, settings: Settings, name: str = "night_cramps_console"
             ) -> Sanic:
    """Builds the console's application.

    Args:
        services: The database-backed parts and the content folder.
        settings: How it is served.
        name: Sanic's name for the application (unique within a process).
    """
    app = Sanic(name, register=False)
    app.config.REQUEST_MAX_SIZE = 512 * 1024
    pages = Pages(list(settings.extra_nav))

    # -- middleware ----------------------------------------------------------------------

    async def authenticate(request: Request) -> Optional[HTTPResponse]:
        request.ctx.user = None
        request.ctx.session = None
        path = request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return None
        session = services.sessions.get(request.cookies.get(SESSION_COOKIE))
        user = services.accounts.get(session.user_id) if session else None
        if session is None or user is None:
            if wants_page(request):
                return redirect(request, "/login")
            return response.text("Log in first.", status=401)
        request.ctx.user = user
        request.ctx.session = session
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.headers.get(CSRF_HEADER) or (
                request.form.get(CSRF_FIELD) if request.form else None)
            if not same_token(sent, session.csrf_token):
                return pages.refuse(request, 403, "The form's security token is missing or wrong. "
                              "Reload the page and try again.")
        return None

    async def secure_headers(request: Request, resp: BaseHTTPResponse) -> None:
        for header, value in SECURITY_HEADERS.items():
            if request.path.startswith("/static/") and header == "Cache-Control":
                continue
            resp.headers.setdefault(header, value)

    app.register_middleware(authenticate, "request")
    app.register_middleware(secure_headers, "response")

    # -- public --------------------------------------------------------------------------

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return response.text("ok")

    app.static("/static/htmx.min.js", str(settings.htmx_file), name="htmx")
    app.static("/static/console.css", str(STATIC_DIR / "console.css"), name="css")
    app.static("/static/console.js", str(STATIC_DIR / "console.js"), name="js")

    def login_page(request: Request, status: int = 200, error: str = "",
                   email: str = "") -> HTTPResponse:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        resp = pages.render(request, "login.html", status=status, login_token=token,
                            error=error, email=email)
        cookie(request, resp, LOGIN_CSRF_COOKIE, token)
        return resp

    def cookie(request: Request, resp: HTTPResponse, name: str, value: str,
               max_age: Optional[int] = None) -> None:
        """Sets a console cookie, for the console's paths only (under a proxy's prefix)."""
        set_cookie(resp, name, value, is_https(request, settings), max_age,
                   path=url_prefix(request) + "/")

    @app.get("/login")
    async def login_form(request: Request) -> HTTPResponse:
        return login_page(request)

    @app.post("/login")
    async def login(request: Request) -> HTTPResponse:
        form = request.form or {}
        expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        if not expected or not same_token(form.get(CSRF_FIELD), expected):
            return login_page(request, 403, "The form expired. Please try again.")
        email = str(form.get("email") or "").strip()[:254]
        password = str(form.get("password") or "")
        address = client_address(request)
        if services.limiter.blocked(email, address):
            return login_page(request, 429, "Too many failed logins. Wait 15 minutes and "
                              "try again.", email)
        # bcrypt takes a quarter of a second: off the event loop, so other requests go on.
        user = await asyncio.to_thread(services.accounts.check, email, password)
        if user is None:
            services.limiter.failed(email, address)
            return login_page(request, 401, "Wrong e-mail address or password.", email)
        token, _session = services.sessions.create(user.id)
        resp = redirect(request, "/")
        cookie(request, resp, SESSION_COOKIE, token)
        cookie(request, resp, LOGIN_CSRF_COOKIE, "", max_age=0)
        return resp

    # -- pages ---------------------------------------------------------------------------

    @app.post("/logout")
    async def logout(request: Request) -> HTTPResponse:
        services.sessions.end(request.cookies.get(SESSION_COOKIE))
        resp = redirect(request, "/login")
        cookie(request, resp, SESSION_COOKIE, "", max_age=0)
        return resp

    add_content_routes(app, services, pages)
    add_model_routes(app, services, pages)

    if analytics_available():
        from console.analytics import Analytics
        from console.analytics_page import analytics_context

        queries = Analytics(services.engine)
        pages.nav_extra.append(("/analytics", "Analytics"))

        @app.get("/analytics")
        async def analytics(request: Request) -> HTTPResponse:
            titles = {entry.id: entry.title for entry in services.store.entries()}
            # Six queries of up to ~1.5 s each: off the event loop, so other pages answer.
            context = await asyncio.to_thread(
                analytics_context, queries, request.args.get("start"), request.args.get("end"),
                today=dt.datetime.now(dt.timezone.utc).date(), titles=titles)
            return pages.render(request, "analytics.html", **context)

    @app.get("/users")
    async def users(request: Request) -> HTTPResponse:
        if request.ctx.user.role != ADMIN:
            return pages.refuse(request, 403, "Only an admin can see the accounts.")
        return pages.render(request, "users.html", accounts=services.accounts.all())

    return app
