"""Fixtures of the console tests: the real console server on a free port, and logged-in clients.

The console runs as `make run` will start it (`python -m console`), on a copy of
the content store and an SQLite tracker database in the test's folder. Staff
accounts are made through `console.accounts` with a cheap bcrypt cost, so
logins stay fast; the server checks them exactly as any other hash.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, Mapping, Optional

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import Browser, Page

from console.accounts import Accounts
from console.database import engine_for
from console.migrate import migrate
from tests.browser.conftest import browser, playwright, screenshot_name  # noqa: F401 (fixtures)
from tools.processes import ROOT, Server, free_port, serving

os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

#: Accounts every console of these tests has: e-mail -> (role, password).
STAFF: Mapping[str, tuple[str, str]] = {
    "editor@example.org": ("editor", "editor-password-1"),
    "editor2@example.org": ("editor", "editor2-password-1"),
    "reviewer@example.org": ("reviewer", "reviewer-password-1"),
    "reviewer2@example.org": ("reviewer", "reviewer2-password-1"),
    "admin@example.org": ("admin", "admin-password-123"),
}
#: What the console's inbox reads and writes, copied for each console of the tests.
PROJECT_PARTS = ("content", "data", "tests/heldout", "tests/safety")
_HIDDEN_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def sqlite_endpoints(folder: Path) -> Path:
    """An endpoints file whose tracker store is an SQLite file in `folder`."""
    endpoints = folder / "endpoints.yml"
    endpoints.write_text(
        "tracker_store:\n  type: stores.privacy_tracker_store.PrivacySQLTrackerStore\n"
        f"  dialect: sqlite\n  db: {folder / 'tracker.db'}\n")
    return endpoints


def add_staff(engine: sa.engine.Engine) -> None:
    """Creates the `STAFF` accounts (bcrypt cost 4: fast, and checked like any other)."""
    accounts = Accounts(engine, rounds=4)
    for email, (role, password) in STAFF.items():
        accounts.create(email, role, password)


@dataclass
class Console:
    """A running console: its URL, database, content folder and log."""

    base: str
    engine: sa.engine.Engine
    content: Path
    endpoints: Path
    server: Server
    clients: list = field(default_factory=list)

    def client(self, email: Optional[str] = None) -> Client:
        """A new browser-like client, logged in as `email` if given."""
        client = Client(self.base)
        if email:
            response = client.login(email, STAFF[email][1])
            assert response.status_code == 200 and response.url.endswith("/"), response.text
        return client

    def topic_file(self, topic_id: str) -> str:
        return (self.content / "topics" / f"{topic_id}.yml").read_text()


class Client(requests.Session):
    """A client that keeps cookies and reads the CSRF token from pages."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.csrf = ""

    def get(self, path: str, **kwargs):  # type: ignore[override]
        response = super().get(self.base + path, timeout=30, **kwargs)
        found = _HIDDEN_TOKEN.search(response.text)
        if found and "/login" not in response.url:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: Optional[Dict] = None, csrf: Optional[str] = None,
             **kwargs):  # type: ignore[override]
        form = dict(data or {})
        form.setdefault("csrf_token", self.csrf if csrf is None else csrf)
        return super().post(self.base + path, data=form, timeout=30, **kwargs)

    def login(self, email: str, password: str) -> requests.Response:
        page = super().get(self.base + "/login", timeout=30)
        token = _HIDDEN_TOKEN.search(page.text).group(1)
        response = super().post(self.base + "/login", timeout=30, data={
            "csrf_token": token, "email": email, "password": password})
        found = _HIDDEN_TOKEN.search(response.text)
        if found and response.url.endswith("/"):
            self.csrf = found.group(1)
        return response


def console_command(port: int, endpoints: Path, content: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "console", "--port", str(port), "--endpoints", str(endpoints),
            "--content-dir", str(content), *extra]


@contextlib.contextmanager
def running_console(folder: Path, endpoints: Optional[Path] = None,
                    content: Optional[Path] = None, extra: tuple = (),
                    env: Optional[Mapping[str, str]] = None) -> Iterator[Console]:
    """Migrates the database, adds `STAFF`, and serves the console until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    if content is None:  # a copy of what the staff tools read and write
        for name in PROJECT_PARTS:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(ROOT / name, folder / name)
        content = folder / "content"
    extra = ("--project-root", str(content.parent), *extra)
    endpoints = endpoints or sqlite_endpoints(folder)
    engine = engine_for(endpoints)
    migrate(engine)
    add_staff(engine)
    port = free_port()
    # Publishing from the console needs the assistant's token: none here unless a test gives it.
    server_env = {name: value for name, value in os.environ.items() if name != "RASA_API_TOKEN"}
    server = Server("console", console_command(port, endpoints, content, *extra),
                    f"http://127.0.0.1:{port}/health", {**server_env, **(env or {})}, folder)
    try:
        with serving(server, timeout=120):
            yield Console(f"http://127.0.0.1:{port}", engine, content, endpoints, server)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One console (SQLite) shared by the modules that do not define their own.

    Tests that change content each change topics of their own.
    """
    with running_console(tmp_path_factory.mktemp("console")) as running:
        yield running


def form_data(console: Console, topic_id: str, **changes: object) -> Dict[str, object]:
    """The topic form as submitted with its current values, some changed."""
    from console.topic_form import read_form

    form = read_form(topic_id, console.topic_file(topic_id))
    data: Dict[str, object] = {
        "title": form.title, "answer": form.answer, "sources": form.sources,
        "related": form.related, "last_reviewed": form.last_reviewed,
        "reviewed_by": form.reviewed_by, "next_review": form.next_review,
        **{f"variants.{group}": text for group, text in form.variants.items()}}
    data.update(changes)
    return data


# -- the browser (Debian's chromium through Playwright, as tests/browser launches it) ----------

#: Screenshots of the console pages, kept as artifacts (README uses console_topic.png).
SCREENSHOTS = ROOT / "build" / "screenshots"


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:  # noqa: F811
    """A fresh tab (own cookies); a screenshot after the test; no uncaught JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    try:
        folder = SCREENSHOTS / "console"
        folder.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(folder / screenshot_name(request.node.name)), full_page=True)
    finally:
        context.close()
    assert not errors, f"uncaught JavaScript errors on the page: {errors}"
