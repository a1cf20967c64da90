"""The production profile's services for these tests: real PostgreSQL and Redis.

`scripts/services.sh start` runs once per session (they are stopped again at the
end only if this session started them). Each session gets its own PostgreSQL
database, dropped at the end, and tests use fresh conversation ids, so runs do
not see each other's data.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from typing import Dict, Iterator, List

import psycopg2
import pytest
import redis

from tests.servers import ROOT

SERVICES_SH = ROOT / "scripts" / "services.sh"
# As the Makefile exports: Rasa 3.6 uses SQLAlchemy 1.4 APIs that 2.0 dropped.
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")


def services_sh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Runs `bash scripts/services.sh ARGS` and returns the finished process."""
    return subprocess.run(["bash", str(SERVICES_SH), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def parse_exports(text: str) -> Dict[str, str]:
    """`export NAME=value` lines, as printed by `services.sh env`, as a dict."""
    variables = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export "):].partition("=")
            variables[name] = value
    return variables


@dataclass(frozen=True)
class Services:
    """The running local services and the variables `services.sh env` prints."""

    env: Dict[str, str]
    database: str  # this session's own database

    def pg(self, database: str | None = None) -> psycopg2.extensions.connection:
        """A new autocommit connection as the assistant's role (password auth over TCP)."""
        connection = psycopg2.connect(
            host=self.env["DB_HOST"], port=int(self.env["DB_PORT"]),
            dbname=database or self.database, user=self.env["DB_USER"],
            password=self.env["DB_PASSWORD"], connect_timeout=10)
        connection.autocommit = True
        return connection

    def redis(self) -> redis.Redis:
        """A new Redis client on the lock store's database."""
        return redis.Redis(host=self.env["REDIS_HOST"], port=int(self.env["REDIS_PORT"]),
                           db=int(self.env["REDIS_DB"]), password=self.env["REDIS_PASSWORD"],
                           socket_timeout=10)

    def redis_settings(self) -> Dict[str, object]:
        """Constructor arguments for `RedisLockStore` and `AtomicRedisLockStore`."""
        return {"host": self.env["REDIS_HOST"], "port": int(self.env["REDIS_PORT"]),
                "db": int(self.env["REDIS_DB"]), "password": self.env["REDIS_PASSWORD"]}


def _fail(step: str, result: subprocess.CompletedProcess[str]) -> None:
    pytest.fail(
        f"`bash scripts/services.sh {step}` failed (exit {result.returncode}); the production "
        f"tests need the local PostgreSQL and Redis (not installed yet? "
        f"`bash scripts/services.sh install`, as root or with sudo).\n"
        f"{result.stdout}{result.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    """Starts the local services (once), makes this session's database, cleans up."""
    started_here = services_sh("status").returncode != 0
    if started_here:
        try:
            result = services_sh("start", timeout=300)
        except subprocess.TimeoutExpired:
            pytest.fail("`bash scripts/services.sh start` took over 300 s", pytrace=False)
        if result.returncode != 0:
            _fail("start", result)
    result = services_sh("env")
    if result.returncode != 0:
        _fail("env", result)
    env = parse_exports(result.stdout)
    database = f"prodtest_{uuid.uuid4().hex[:12]}"
    admin = Services(env, env["DB_NAME"]).pg()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{database}"')
    finally:
        admin.close()
    try:
        yield Services(env, database)
    finally:
        admin = Services(env, env["DB_NAME"]).pg()
        try:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            admin.close()
        if started_here:
            services_sh("stop", timeout=120)


@pytest.fixture
def conversation_id() -> str:
    """A conversation id no other test or run uses."""
    return f"prodtest-{uuid.uuid4().hex}"


@pytest.fixture
def redis_client(services: Services) -> Iterator[redis.Redis]:
    """A Redis client for looking at the lock store's keys."""
    client = services.redis()
    yield client
    client.close()


def lock_keys(client: redis.Redis, conversation_ids: List[str]) -> List[str]:
    """The lock store keys (locks and ticket counters) left for these conversations."""
    found = []
    for conversation in conversation_ids:
        for key in client.scan_iter(match=f"*lock*:{conversation}", count=1000):
            found.append(key.decode())
    return found
