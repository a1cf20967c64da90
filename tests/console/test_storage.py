"""The console's storage on SQLite and on PostgreSQL (scripts/services.sh): migrations,
accounts, sessions, the rate limit, drafts, sign-off and the audit log.

The PostgreSQL case reads an endpoints file with `${VAR}`s, as endpoints.prod.yml.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from console import tables
from console.accounts import AccountError
from console.database import engine_for
from console.drafts import DraftError, NotAllowed
from console.migrate import STEPS, current_version, migrate
from console.ratelimit import Limits
from console.services import Services, build_services
from console.topic_form import apply, read_form, validate
from stores.content_versions import ContentVersions
from tests.console.conftest import sqlite_endpoints
from tests.prod.conftest import services  # noqa: F401 (fixture)
from tools.processes import ROOT

PROD_TRACKER_STORE = """tracker_store:
  type: stores.privacy_tracker_store.PrivacySQLTrackerStore
  dialect: postgresql
  url: ${DB_HOST}
  port: ${DB_PORT}
  db: ${DB_NAME}
  username: ${DB_USER}
  password: ${DB_PASSWORD}
"""


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def pg_execute(running: Any, statement: str) -> None:
    """Runs a statement outside any transaction (CREATE/DROP DATABASE)."""
    connection = running.pg()
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def endpoints(request: pytest.FixtureRequest, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    if request.param == "sqlite":
        yield sqlite_endpoints(tmp_path)
        return
    running = request.getfixturevalue("services")
    for name in ("DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD"):
        monkeypatch.setenv(name, running.env[name])
    database = f"console_{uuid.uuid4().hex[:12]}"
    pg_execute(running, f'CREATE DATABASE "{database}"')
    monkeypatch.setenv("DB_NAME", database)
    file = tmp_path / "endpoints.yml"
    file.write_text(PROD_TRACKER_STORE)
    try:
        yield file
    finally:
        pg_execute(running, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def parts(endpoints: Path, tmp_path: Path) -> Iterator[tuple[Services, Clock]]:
    engine = engine_for(endpoints)
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    clock = Clock()
    try:
        assert migrate(engine) == [step[0] for step in STEPS]
        built = build_services(engine, content, idle_seconds=60, limits=Limits(2, 3, 60),
                               publisher=ContentVersions(engine, content).publish,
                               bcrypt_rounds=4, clock=clock)
        yield built, clock
    finally:
        engine.dispose()


def test_migrations_are_versioned_and_idempotent(parts: tuple[Services, Clock]) -> None:
    services_, _clock = parts
    assert migrate(services_.engine) == []
    with services_.engine.connect() as connection:
        assert current_version(connection) == STEPS[-1][0]
        names = set(sa.inspect(connection).get_table_names())
    assert {table.name for table in tables.metadata.sorted_tables} <= names
    assert "console_users" in names


def test_accounts_sessions_and_rate_limit(parts: tuple[Services, Clock]) -> None:
    services_, clock = parts
    editor = services_.accounts.create("Ed@Example.org", "editor", "a long password 1")
    with pytest.raises(AccountError):
        services_.accounts.create("ed@example.org", "admin", "another long password")
    with pytest.raises(AccountError):
        services_.accounts.create("x@example.org", "editor", "short")
    with pytest.raises(AccountError):
        services_.accounts.create("x@example.org", "owner", "a long password 1")
    assert services_.accounts.check("ed@example.org", "a long password 1") == editor
    assert services_.accounts.check("ed@example.org", "wrong password") is None
    with services_.engine.connect() as connection:
        stored = connection.execute(sa.select(tables.users.c.password_hash)).scalar()
    assert stored.startswith("$2b$") and "a long password" not in stored

    token, session = services_.sessions.create(editor.id)
    with services_.engine.connect() as connection:
        kept = connection.execute(sa.select(tables.sessions.c.token_hash)).scalar()
    assert kept != token and services_.sessions.get(token) == session
    clock.now += 59
    assert services_.sessions.get(token) == session  # used: idle time starts again
    clock.now += 61
    assert services_.sessions.get(token) is None
    token, _ = services_.sessions.create(editor.id)
    services_.sessions.end(token)
    assert services_.sessions.get(token) is None

    limiter = services_.limiter
    limiter.failed("ed@example.org", "10.0.0.1")
    assert not limiter.blocked("ed@example.org", "10.0.0.2")
    limiter.failed("ed@example.org", "10.0.0.1")
    assert limiter.blocked("ed@example.org", "10.0.0.2")  # per account
    limiter.failed("other@example.org", "10.0.0.1")
    assert limiter.blocked("third@example.org", "10.0.0.1")  # per address
    clock.now += 61
    assert not limiter.blocked("ed@example.org", "10.0.0.1")


def test_drafts_sign_off_and_audit(parts: tuple[Services, Clock]) -> None:
    services_, _clock = parts
    editor = services_.accounts.create("ed@example.org", "editor", "a long password 1")
    reviewer = services_.accounts.create("rev@example.org", "reviewer", "a long password 2")
    base = services_.files.read("diet")
    form = read_form("diet", base)
    form.answer = "Water, fruit and vegetables help.\n\nSee a doctor if cramps go on."
    text = apply(base, form)
    assert validate("diet", text, services_.content_dir) == {}
    draft = services_.drafts.save(editor, "diet", text)
    assert services_.files.read("diet") == base  # live users keep the approved text
    with pytest.raises(NotAllowed):
        services_.drafts.approve(draft.id, editor, "mine")
    services_.drafts.approve(draft.id, reviewer, "Checked against the sources.")
    live = services_.files.read("diet")
    assert live == text
    with pytest.raises(DraftError):
        services_.drafts.approve(draft.id, reviewer, "again")
    store = services_.store
    assert store.get("diet").answer.startswith("Water, fruit and vegetables help.")
    records = services_.audit.records()
    assert [r.action for r in records] == ["draft approved", "draft saved"]
    approved = records[0]
    assert approved.before_text == base and approved.after_text == text
    assert approved.author == "ed@example.org" and approved.approved_by == "rev@example.org"
    with services_.engine.connect() as connection:
        publish = connection.execute(sa.select(tables.publishes)).one()
    assert publish.file_name == "topics/diet.yml" and publish.version == 1
    # The versioned store every action server follows has the approved file too.
    versions = ContentVersions(services_.engine, services_.content_dir)
    assert versions.latest_version() == 1
    assert versions.latest_files()["topics/diet.yml"].text == text
    # A second draft from the old base is out of date once the first is live.
    stale = services_.drafts.save(editor, "diet", text.replace("Water", "Drinks"))
    services_.files.write("diet", base)
    with pytest.raises(DraftError, match="changed"):
        services_.drafts.approve(stale.id, reviewer, "ok")
    assert services_.drafts.get(stale.id).status == "pending"
    services_.drafts.reject(stale.id, reviewer, "Please rebase on the live text.")
    assert services_.drafts.get(stale.id).status == "rejected"
    assert "draft rejected" in services_.audit.csv_text()


def test_form_errors_name_the_field(parts: tuple[Services, Clock]) -> None:
    services_, _clock = parts
    base = services_.files.read("diet")
    form = read_form("diet", base)
    form.answer = "   "
    form.sources = ["no_such_source"]
    problems = validate("diet", apply(base, form), services_.content_dir)
    assert "answer" in problems
    form.answer = "Fine."
    problems = validate("diet", apply(base, form), services_.content_dir)
    assert list(problems) == ["sources"] and "no_such_source" in problems["sources"]
    form.sources = read_form("diet", base).sources
    form.related = ["diet"]
    assert list(validate("diet", apply(base, form), services_.content_dir)) == ["related"]
    form.related = []
    form.last_reviewed = "last week"
    assert list(validate("diet", apply(base, form), services_.content_dir)) == ["last_reviewed"]
