"""The console's security: login everywhere, CSRF, idle sessions, login rate limit, roles, escaping.

Against the real console server (`python -m console`) on SQLite; the storage
tests run the same parts on PostgreSQL too (test_storage.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import sqlalchemy as sa

from console import tables
from tests.console.conftest import STAFF, Console, form_data, running_console

HOSTILE = '<script>alert("x")</script><img src=x onerror="alert(1)"> **bold** & done'


def routes(console: Console) -> list[tuple[str, str]]:
    """Every (method, path) the console's application serves, with sample parameters."""
    from console.app import Settings, make_app
    from console.services import build_services

    app = make_app(build_services(console.engine, console.content),
                   Settings(htmx_file=Path(__file__)), name="route_listing")
    found = []
    for route in app.router.routes:
        path = "/" + route.path.lstrip("/")
        path = re.sub(r"<\w+:int>", "1", path)
        path = re.sub(r"<\w+(?::\w+)?>", "diet", path)  # topic ids, job kinds, file names
        for method in route.methods:
            if method not in ("HEAD", "OPTIONS"):
                found.append((method, path))
    return sorted(set(found))


def drafts_of(console: Console, topic_id: str) -> int:
    with console.engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(tables.drafts)
                                      .where(tables.drafts.c.topic_id == topic_id)).scalar())


def save_draft(console: Console, email: str, topic_id: str, answer: str) -> int:
    """Saves a draft through the form as `email`; returns its id."""
    client = console.client(email)
    client.get(f"/topics/{topic_id}")
    response = client.post(f"/topics/{topic_id}", form_data(console, topic_id, answer=answer),
                           allow_redirects=False)
    assert response.status_code == 303, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_every_route_needs_a_session(console: Console) -> None:
    listed = routes(console)
    assert ("POST", "/drafts/1/approve") in listed and ("GET", "/audit.csv") in listed
    anonymous = console.client()
    public = {"/login", "/health"}
    checked = 0
    for method, path in listed:
        if path in public or path.startswith("/static/"):
            continue
        checked += 1
        if method == "GET":
            page = anonymous.get(path, allow_redirects=False)
            assert page.status_code == 303 and page.headers["Location"] == "/login", (path,
                                                                                     page.text)
            htmx = anonymous.get(path, headers={"HX-Request": "true"}, allow_redirects=False)
            assert htmx.status_code == 401, path
        else:
            response = anonymous.post(path, {"answer": "x"}, allow_redirects=False)
            assert response.status_code == 401, (method, path)
    assert checked >= 12
    # A made-up cookie is no session either.
    anonymous.cookies.set("console_session", "made-up")
    assert anonymous.get("/", allow_redirects=False).status_code == 303


def test_session_cookie_flags(console: Console) -> None:
    client = console.client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", {"email": "editor@example.org",
                                      "password": STAFF["editor@example.org"][1]},
                           csrf=token, allow_redirects=False)
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "console_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_forged_csrf_token_is_refused(console: Console) -> None:
    editor = console.client("editor@example.org")
    editor.get("/topics/diet")
    before = drafts_of(console, "diet")
    data = form_data(console, "diet", answer="Forged change.")
    for forged in ("forged", ""):
        response = editor.post("/topics/diet", data, csrf=forged, allow_redirects=False)
        assert response.status_code == 403, forged
    htmx = editor.post("/topics/diet", {**data, "csrf_token": ""},
                       headers={"X-CSRF-Token": "forged", "HX-Request": "true"})
    assert htmx.status_code == 403
    # Another session's token does not do either.
    other = console.client("editor2@example.org")
    other.get("/")
    assert editor.post("/topics/diet", data, csrf=other.csrf).status_code == 403
    assert drafts_of(console, "diet") == before
    # The login form has its own token, tied to its cookie.
    anonymous = console.client()
    anonymous.get("/login")
    refused = anonymous.post("/login", {"email": "editor@example.org",
                                        "password": STAFF["editor@example.org"][1]},
                             csrf="forged", allow_redirects=False)
    assert refused.status_code == 403 and "console_session" not in refused.cookies


def test_expired_session_is_refused(console: Console) -> None:
    editor = console.client("editor@example.org")
    assert editor.get("/", allow_redirects=False).status_code == 200
    idle = 31 * 60
    with console.engine.begin() as connection:
        connection.execute(sa.update(tables.sessions).values(last_seen=time.time() - idle))
    page = editor.get("/", allow_redirects=False)
    assert page.status_code == 303 and page.headers["Location"] == "/login"
    assert editor.post("/topics/diet", {"answer": "x"}).status_code == 401


def test_login_rate_limit(tmp_path: Path) -> None:
    with running_console(tmp_path / "limits") as console:
        email, password = "editor@example.org", STAFF["editor@example.org"][1]
        client = console.client()
        for _ in range(5):
            assert client.login(email, "wrong password 1").status_code == 401
        blocked = client.login(email, password)
        assert blocked.status_code == 429 and "console_session" not in client.cookies
        # Per address: 20 failures from one client lock out every account from it.
        for attempt in range(15):
            assert client.login(f"nobody{attempt}@example.org", "wrong").status_code in (401, 429)
        assert client.login("admin@example.org", STAFF["admin@example.org"][1]).status_code == 429


def test_roles(console: Console) -> None:
    draft = save_draft(console, "editor@example.org", "diet", "Drink water through the day.")
    before = console.topic_file("diet")
    editor, other_editor = console.client("editor@example.org"), console.client("editor2@example.org")
    for client in (editor, other_editor):
        client.get(f"/drafts/{draft}")
        for action in ("approve", "reject"):
            response = client.post(f"/drafts/{draft}/{action}", {"comment": "fine"})
            assert response.status_code == 403, (action, response.text)
    assert editor.get("/users").status_code == 403
    # Nobody approves their own draft, whatever their role.
    own = save_draft(console, "reviewer@example.org", "diet", "Reviewer's own change.")
    reviewer = console.client("reviewer@example.org")
    reviewer.get(f"/drafts/{own}")
    assert reviewer.post(f"/drafts/{own}/approve", {"comment": "self"}).status_code == 403
    assert console.topic_file("diet") == before
    # A reviewer approves the editor's draft: the file changes, with an audit line.
    approved = reviewer.post(f"/drafts/{draft}/approve", {"comment": "Checked."},
                             allow_redirects=False)
    assert approved.status_code == 303, approved.text
    assert "Drink water through the day." in console.topic_file("diet")
    # The reviewer's own draft is now out of date: an admin cannot publish it over the change.
    admin = console.client("admin@example.org")
    admin.get(f"/drafts/{own}")
    assert admin.post(f"/drafts/{own}/approve", {"comment": "ok"}).status_code == 409
    assert admin.get("/users").status_code == 200
    audit = admin.get("/audit.csv")
    assert audit.headers["Content-Type"].startswith("text/csv")
    assert "draft approved" in audit.text and "reviewer@example.org" in audit.text


def test_text_is_never_rendered_as_html(console: Console) -> None:
    editor = console.client("editor@example.org")
    editor.get("/topics/exercise")
    preview = editor.post("/topics/exercise/preview",
                          form_data(console, "exercise", answer=HOSTILE),
                          headers={"HX-Request": "true"})
    assert preview.status_code == 200
    draft = save_draft(console, "editor@example.org", "exercise", HOSTILE)
    reviewer = console.client("reviewer@example.org")
    pages = [preview.text, editor.get(f"/drafts/{draft}").text, reviewer.get("/audit").text]
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page
    # The draft is not live: the topic's form still holds the approved answer.
    assert "alert" not in editor.get("/topics/exercise").text
    # The bold markup becomes <strong>, as the widget shows it, and nothing else does.
    assert "<strong>bold</strong>" in preview.text
    csv_text = reviewer.get("/audit.csv").text
    assert HOSTILE.replace('"', '""') in csv_text


def test_spreadsheet_formulas_are_defused(console: Console) -> None:
    from console.audit import spreadsheet_safe

    assert spreadsheet_safe("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert spreadsheet_safe("plain") == "plain"


def test_binds_loopback_by_default() -> None:
    from console.__main__ import parse_args

    assert parse_args([]).host == "127.0.0.1"
    assert parse_args([]).port == 8081


def test_cookies_are_secure_over_https() -> None:
    from sanic import response

    from console.app import set_cookie

    for secure in (True, False):
        page = response.text("x")
        set_cookie(page, "console_session", "token", secure)
        header = page.cookies["console_session"].encode("utf-8").decode()
        assert ("Secure" in header) is secure and "HttpOnly" in header


def test_links_follow_the_proxy_prefix(console: Console) -> None:
    proxied = {"X-Forwarded-Prefix": "/console"}
    anonymous = console.client()
    page = anonymous.get("/", headers=proxied, allow_redirects=False)
    assert page.headers["Location"] == "/console/login"
    login = anonymous.get("/login", headers=proxied)
    assert 'action="/console/login"' in login.text and 'src="/console/static/htmx.min.js"' in login.text
    assert "Path=/console/" in login.headers["Set-Cookie"]
    # Only a plain path is taken: nothing can point the console's links at another site.
    for bad in ("//elsewhere.example", "https://elsewhere.example", "/a b", "/x\\y"):
        elsewhere = anonymous.get("/", headers={"X-Forwarded-Prefix": bad}, allow_redirects=False)
        assert elsewhere.headers["Location"] == "/login", bad
