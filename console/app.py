"""The console's web application (Sanic, Jinja2 templates with autoescape, htmx).

Every route but `/login`, `/health` and `/static/` needs a session: pages
redirect to `/login`, htmx and other non-page requests get 401. Every POST must
carry the session's CSRF token (form field `csrf_token`, or header
`X-CSRF-Token`, which htmx sends from the page's `hx-headers`); the login form
carries a token of its own, from a cookie set with the form. Responses forbid
scripts and styles from anywhere but this server (Content-Security-Policy).
"""

from __future__ import annotations

import datetime as dt
import difflib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from jinja2 import Environment, PackageLoader, select_autoescape
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import BaseHTTPResponse, HTTPResponse

from console import topic_form
from console.accounts import ADMIN, ROLES, User
from console.content_files import UnknownTopic
from console.drafts import APPROVED, PENDING, REJECTED, Draft, DraftError, NotAllowed
from console.jobs import SIGN_OFF_JOBS, JobBusy
from console.jobs import TITLES as JOB_TITLES
from console.preview import GROUP_NAMES, bubbles
from console.review_dates import DUE_SOON_DAYS, due
from console.services import Services
from console.sessions import same_token
from nightcramps.content_store import KNOWN_GROUPS, ContentError
from tools.content.inbox import InboxError
from tools.content.yaml_lines import YamlFileError

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
#: Comments are kept to this many characters.
MAX_COMMENT = 2000


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


def wants_page(request: Request) -> bool:
    """Whether a request is a page load (redirect to login) rather than htmx or an API call."""
    return (request.method in ("GET", "HEAD") and "HX-Request" not in request.headers
            and not request.path.startswith("/api/"))


def client_address(request: Request) -> str:
    """The client's address, as counted by the login rate limit."""
    return str(request.remote_addr or request.ip or "unknown")


def is_https(request: Request, settings: Settings) -> bool:
    """Whether cookies must be marked Secure for this request."""
    return settings.secure_cookies or request.scheme == "https"


def set_cookie(resp: HTTPResponse, name: str, value: str, secure: bool,
               max_age: Optional[int] = None) -> None:
    """Sets an HttpOnly, SameSite=Strict cookie for the whole console."""
    resp.cookies[name] = value
    resp.cookies[name]["path"] = "/"
    resp.cookies[name]["httponly"] = True
    resp.cookies[name]["samesite"] = "Strict"
    if secure:
        resp.cookies[name]["secure"] = True
    if max_age is not None:
        resp.cookies[name]["max-age"] = max_age


def diff_lines(before: str, after: str) -> List[Dict[str, str]]:
    """A unified diff of two files, as lines with a kind (add, remove, context, header)."""
    lines = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), "approved",
                                     "draft", n=2, lineterm=""):
        if line.startswith(("---", "+++", "@@")):
            kind = "header"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "remove"
        else:
            kind = "context"
        lines.append({"kind": kind, "text": line})
    return lines


#: The files of an evaluation report the console serves, with their types.
REPORT_TYPES = {".html": "text/html; charset=utf-8", ".png": "image/png", ".css": "text/css",
                ".svg": "image/svg+xml"}


def report_path(folder: Path, name: str) -> Optional[Path]:
    """A file of the evaluation report folder, or None (nothing outside it, no hidden files)."""
    if not name or "\\" in name or "\0" in name or any(
            part.startswith(".") for part in name.split("/")):
        return None
    base = folder.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path if path.suffix.lower() in REPORT_TYPES else None


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
    env = templates()
    nav_extra = list(settings.extra_nav)

    def render(request: Request, template: str, status: int = 200, **context: Any
               ) -> HTTPResponse:
        user = getattr(request.ctx, "user", None)
        session = getattr(request.ctx, "session", None)
        page = env.get_template(template).render(
            user=user, csrf_token=session.csrf_token if session else "",
            path=request.path, nav_extra=nav_extra, roles=ROLES, **context)
        return response.html(page, status=status)

    def refuse(request: Request, status: int, message: str) -> HTTPResponse:
        if "HX-Request" in request.headers:
            return response.text(message, status=status)
        return render(request, "error.html", status=status, message=message)

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
                return response.redirect("/login", status=303)
            return response.text("Log in first.", status=401)
        request.ctx.user = user
        request.ctx.session = session
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.headers.get(CSRF_HEADER) or (
                request.form.get(CSRF_FIELD) if request.form else None)
            if not same_token(sent, session.csrf_token):
                return refuse(request, 403, "The form's security token is missing or wrong. "
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
        resp = render(request, "login.html", status=status, login_token=token, error=error,
                      email=email)
        set_cookie(resp, LOGIN_CSRF_COOKIE, token, is_https(request, settings))
        return resp

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
        user = services.accounts.check(email, password)
        if user is None:
            services.limiter.failed(email, address)
            return login_page(request, 401, "Wrong e-mail address or password.", email)
        token, _session = services.sessions.create(user.id)
        resp = response.redirect("/", status=303)
        set_cookie(resp, SESSION_COOKIE, token, is_https(request, settings))
        del resp.cookies[LOGIN_CSRF_COOKIE]
        return resp

    # -- pages ---------------------------------------------------------------------------

    @app.post("/logout")
    async def logout(request: Request) -> HTTPResponse:
        services.sessions.end(request.cookies.get(SESSION_COOKIE))
        resp = response.redirect("/login", status=303)
        del resp.cookies[SESSION_COOKIE]
        return resp

    def store_error() -> Optional[str]:
        try:
            services.store.entries()
        except ContentError as broken:
            return str(broken)
        last = services.store.last_error
        return str(last) if last else None

    @app.get("/")
    async def home(request: Request) -> HTTPResponse:
        pending: Dict[str, int] = {}
        for draft in services.drafts.listed(PENDING):
            pending[draft.topic_id] = pending.get(draft.topic_id, 0) + 1
        entries = {entry.id: entry for entry in services.store.entries()}
        topics = [{"id": topic_id, "title": entries[topic_id].title if topic_id in entries
                   else topic_id, "pending": pending.get(topic_id, 0)}
                  for topic_id in services.files.ids()]
        today = dt.date.today()
        return render(request, "home.html", topics=topics, store_error=store_error(),
                      due_count=len(due(services.store.entries(), today)))

    def topic_page(request: Request, form: topic_form.TopicForm, errors: Mapping[str, str],
                   status: int = 200) -> HTTPResponse:
        sources = services.store.sources
        chosen = [source for source in form.sources]
        source_options = [(source_id, sources[source_id].name if source_id in sources
                           else source_id, source_id in form.sources)
                          for source_id in chosen + [s for s in sources if s not in chosen]]
        others = [topic_id for topic_id in services.files.ids() if topic_id != form.topic_id]
        related_options = [(topic_id, topic_id in form.related)
                           for topic_id in form.related + [t for t in others
                                                           if t not in form.related]]
        return render(request, "topic.html", status=status, form=form, errors=errors,
                      groups=[(group, GROUP_NAMES.get(group, group)) for group in KNOWN_GROUPS],
                      source_options=source_options, related_options=related_options,
                      review_fields=topic_form.review_fields(),
                      drafts=services.drafts.listed(topic_id=form.topic_id)[:10],
                      preview=preview_of(form.topic_id, topic_form.apply(
                          services.files.read(form.topic_id), form)) if not errors else None)

    def preview_of(topic_id: str, text: str) -> Optional[List[Any]]:
        entry = topic_form.entry_of(topic_id, text, services.content_dir)
        if entry is None:
            return None
        return bubbles(entry, services.store.disclaimer, services.store.sources)

    def read_topic(topic_id: str) -> Optional[str]:
        try:
            return services.files.read(topic_id)
        except UnknownTopic:
            return None

    @app.get("/topics/<topic_id:str>")
    async def topic(request: Request, topic_id: str) -> HTTPResponse:
        text = read_topic(topic_id)
        if text is None:
            return refuse(request, 404, "There is no such topic.")
        return topic_page(request, topic_form.read_form(topic_id, text), {})

    def submitted(request: Request, topic_id: str, base: str
                  ) -> tuple[topic_form.TopicForm, str, Dict[str, str]]:
        fields = {key: list(values) for key, values in (request.form or {}).items()}
        form = topic_form.form_from_fields(topic_id, fields)
        form.intent = topic_form.read_form(topic_id, base).intent
        text = topic_form.apply(base, form)
        return form, text, topic_form.validate(topic_id, text, services.content_dir)

    @app.post("/topics/<topic_id:str>/preview")
    async def preview(request: Request, topic_id: str) -> HTTPResponse:
        base = read_topic(topic_id)
        if base is None:
            return refuse(request, 404, "There is no such topic.")
        _form, text, errors = submitted(request, topic_id, base)
        return render(request, "preview.html", errors=errors,
                      preview=None if errors else preview_of(topic_id, text))

    @app.post("/topics/<topic_id:str>")
    async def save(request: Request, topic_id: str) -> HTTPResponse:
        base = read_topic(topic_id)
        if base is None:
            return refuse(request, 404, "There is no such topic.")
        form, text, errors = submitted(request, topic_id, base)
        if errors:
            return topic_page(request, form, errors, status=422)
        if text == base:
            return topic_page(request, form, {"-": "Nothing changed: there is no draft to save."},
                              status=422)
        draft = services.drafts.save(request.ctx.user, topic_id, text)
        return response.redirect(f"/drafts/{draft.id}", status=303)

    @app.get("/drafts")
    async def drafts(request: Request) -> HTTPResponse:
        listed = services.drafts.listed()
        return render(request, "drafts.html",
                      pending=[d for d in listed if d.status == PENDING],
                      decided=[d for d in listed if d.status != PENDING][:50])

    def draft_page(request: Request, draft: Draft, error: str = "", status: int = 200
                   ) -> HTTPResponse:
        user: User = request.ctx.user
        try:
            services.drafts.check_sign_off(user, draft)
            may_decide, why_not = draft.status == PENDING, ""
        except NotAllowed as refusal:
            may_decide, why_not = False, str(refusal)
        current = read_topic(draft.topic_id) or ""
        return render(request, "draft.html", status=status, draft=draft, error=error,
                      may_decide=may_decide, why_not=why_not,
                      stale=draft.status == PENDING and current != draft.base_text,
                      diff=diff_lines(draft.base_text, draft.text),
                      preview=preview_of(draft.topic_id, draft.text),
                      statuses={PENDING: "Waiting for sign-off", APPROVED: "Approved",
                                REJECTED: "Rejected"})

    @app.get("/drafts/<draft_id:int>")
    async def draft(request: Request, draft_id: int) -> HTTPResponse:
        found = services.drafts.get(draft_id)
        if found is None:
            return refuse(request, 404, "There is no such draft.")
        return draft_page(request, found)

    def decide(request: Request, draft_id: int, approve: bool) -> HTTPResponse:
        found = services.drafts.get(draft_id)
        if found is None:
            return refuse(request, 404, "There is no such draft.")
        user: User = request.ctx.user
        comment = str((request.form or {}).get("comment") or "").strip()[:MAX_COMMENT]
        try:
            services.drafts.check_sign_off(user, found)
        except NotAllowed as refusal:
            return refuse(request, 403, str(refusal))
        if not comment:
            return draft_page(request, found, "Write a comment for the author.", 422)
        try:
            if approve:
                def still_valid(checked: Draft) -> Optional[str]:
                    problems = topic_form.validate(checked.topic_id, checked.text,
                                                   services.content_dir)
                    return "; ".join(f"{k}: {v}" for k, v in problems.items()) or None

                services.drafts.approve(draft_id, user, comment, still_valid)
            else:
                services.drafts.reject(draft_id, user, comment)
        except NotAllowed as refusal:
            return refuse(request, 403, str(refusal))
        except DraftError as problem:
            return draft_page(request, found, str(problem), 409)
        return response.redirect(f"/drafts/{draft_id}", status=303)

    @app.post("/drafts/<draft_id:int>/approve")
    async def approve(request: Request, draft_id: int) -> HTTPResponse:
        return decide(request, draft_id, approve=True)

    @app.post("/drafts/<draft_id:int>/reject")
    async def reject(request: Request, draft_id: int) -> HTTPResponse:
        return decide(request, draft_id, approve=False)

    @app.get("/audit")
    async def audit(request: Request) -> HTTPResponse:
        return render(request, "audit.html", records=services.audit.records(200))

    @app.get("/audit.csv")
    async def audit_csv(request: Request) -> HTTPResponse:
        return response.text(services.audit.csv_text(), content_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition":
                                      'attachment; filename="console-audit.csv"'})

    @app.get("/reviews")
    async def reviews(request: Request) -> HTTPResponse:
        today = dt.date.today()
        return render(request, "reviews.html", today=today, within=DUE_SOON_DAYS,
                      due=due(services.store.entries(), today))

    if analytics_available():
        from console.analytics import Analytics
        from console.analytics_page import analytics_context

        queries = Analytics(services.engine)
        nav_extra.append(("/analytics", "Analytics"))

        @app.get("/analytics")
        async def analytics(request: Request) -> HTTPResponse:
            titles = {entry.id: entry.title for entry in services.store.entries()}
            context = analytics_context(queries, request.args.get("start"),
                                        request.args.get("end"),
                                        today=dt.datetime.now(dt.timezone.utc).date(),
                                        titles=titles)
            return render(request, "analytics.html", **context)

    def inbox_page(request: Request, done: Optional[List[str]] = None, error: str = "",
                   status: int = 200) -> HTTPResponse:
        view = services.inbox.view()
        titles = {entry.id: entry.title for entry in services.store.entries()}
        return render(request, "inbox.html", status=status, groups=view.groups,
                      problem=view.problem, titles=titles, done=done or [], error=error)

    @app.get("/inbox")
    async def inbox(request: Request) -> HTTPResponse:
        return inbox_page(request)

    @app.post("/inbox/decide")
    async def inbox_decide(request: Request) -> HTTPResponse:
        form = request.form or {}
        item_id = str(form.get("item_id") or "")
        decision = str(form.get("decision") or "")
        topic = str(form.get("topic") or "") or None
        try:
            done = services.inbox.decide(item_id, decision, topic)
        except (InboxError, YamlFileError) as problem:
            return inbox_page(request, error=str(problem), status=409)
        with services.engine.begin() as connection:
            services.audit.record(connection, request.ctx.user.email, f"inbox {decision}",
                                  topic_id=topic if decision == "assign" else None,
                                  comment="\n".join(done))
        return inbox_page(request, done=done)

    # -- train, evaluate, publish ---------------------------------------------------------

    reports = services.jobs.root / "reports"

    @app.get("/model")
    async def model(request: Request) -> HTTPResponse:
        return render(request, "model.html", jobs=services.jobs.listed(), titles=JOB_TITLES,
                      sign_off_jobs=SIGN_OFF_JOBS,
                      report=(reports / "index.html").is_file())

    @app.post("/model/<kind:str>")
    async def start_job(request: Request, kind: str) -> HTTPResponse:
        if kind not in services.jobs.commands:
            return refuse(request, 404, "There is no such job.")
        user: User = request.ctx.user
        if kind in SIGN_OFF_JOBS and not user.can_sign_off:
            return refuse(request, 403, "Only a clinical reviewer or an admin can publish or "
                          "roll back.")
        try:
            job = services.jobs.start(kind, user.email)
        except JobBusy as busy:
            return refuse(request, 409, f"{busy}; wait for it to finish.")
        with services.engine.begin() as connection:
            services.audit.record(connection, user.email, f"{kind} started",
                                  comment=f"job {job.id}, log {job.log.name}")
        return response.redirect(f"/model/jobs/{job.id}", status=303)

    @app.get("/model/jobs/<job_id:int>")
    async def job_page(request: Request, job_id: int) -> HTTPResponse:
        job = services.jobs.get(job_id)
        if job is None:
            return refuse(request, 404, "There is no such job (the console restarted?).")
        return render(request, "job.html", job=job,
                      report=job.kind == "evaluate" and (reports / "index.html").is_file())

    @app.get("/model/jobs/<job_id:int>/log")
    async def job_log(request: Request, job_id: int) -> HTTPResponse:
        job = services.jobs.get(job_id)
        if job is None:
            return refuse(request, 404, "There is no such job.")
        return render(request, "_job_log.html", job=job)

    @app.get("/model/report/<name:path>")
    async def report_file(request: Request, name: str) -> HTTPResponse:
        path = report_path(reports, name)
        if path is None:
            return refuse(request, 404, "There is no such report file; run an evaluation.")
        # The report's own styles are inline; it has no scripts.
        headers = {"Content-Security-Policy": "default-src 'none'; img-src 'self' data:; "
                   "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"}
        return await response.file(str(path), headers=headers,
                                   mime_type=REPORT_TYPES[path.suffix.lower()])

    async def stop_jobs(_app: Sanic, _loop: Any) -> None:
        services.jobs.stop_all()

    app.register_listener(stop_jobs, "before_server_stop")

    @app.get("/users")
    async def users(request: Request) -> HTTPResponse:
        if request.ctx.user.role != ADMIN:
            return refuse(request, 403, "Only an admin can see the accounts.")
        return render(request, "users.html", accounts=services.accounts.all())

    return app
