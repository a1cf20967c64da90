"""PostgreSQL and Redis of the production profile, from scripts/services.sh."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from pathlib import Path
from typing import Dict, Iterator, Optional

from tools.load.servers import ROOT
from tools.processes import free_port

SERVICES_SH = ROOT / "scripts" / "services.sh"
PRIVATE_SERVICES = ROOT / "build" / "services-loadbench"


def services_sh(*args: str, env: Optional[Dict[str, str]] = None, timeout: float = 120
                ) -> subprocess.CompletedProcess[str]:
    """Runs `bash scripts/services.sh ARGS` (with `env` added to the environment)."""
    return subprocess.run(["bash", str(SERVICES_SH), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def services_env(env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The variables `services.sh env` prints."""
    result = services_sh("env", env=env)
    if result.returncode != 0:
        raise RuntimeError(f"services.sh env failed: {result.stderr}")
    variables = {}
    for line in result.stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export "):].partition("=")
            variables[name] = value
    return variables


@contextlib.contextmanager
def local_services(shared: bool, folder: Path = PRIVATE_SERVICES) -> Iterator[Dict[str, str]]:
    """PostgreSQL and Redis from scripts/services.sh, and a fresh database, dropped after.

    Args:
        shared: Use the project's instances (build/services; started if needed and
            then stopped again). Otherwise (the default) instances of this benchmark's
            own (`folder`, free ports), so that another test session
            stopping the shared ones cannot break the run; always stopped afterwards.
        folder: The SERVICES_DIR of those instances (default build/services-loadbench;
            another benchmark that may run at the same time passes its own).
    """
    import psycopg2

    if shared:
        sh_env: Dict[str, str] = {}
        started_here = services_sh("status").returncode != 0
    else:
        sh_env = {"SERVICES_DIR": str(folder), "DB_PORT": str(free_port()),
                  "REDIS_PORT": str(free_port())}
        services_sh("stop", env=sh_env, timeout=120)  # leftovers of an interrupted run
        started_here = True
    if started_here:
        result = services_sh("start", env=sh_env, timeout=300)
        if result.returncode != 0:
            raise RuntimeError("`bash scripts/services.sh start` failed (install first: "
                               f"`bash scripts/services.sh install`):\n{result.stdout}"
                               f"{result.stderr}")
    try:
        env = services_env(sh_env)
        database = f"loadbench_{uuid.uuid4().hex[:12]}"

        def admin(sql: str) -> None:
            connection = psycopg2.connect(host=env["DB_HOST"], port=int(env["DB_PORT"]),
                                          dbname=env["DB_NAME"], user=env["DB_USER"],
                                          password=env["DB_PASSWORD"], connect_timeout=10)
            connection.autocommit = True
            try:
                with connection.cursor() as cursor:
                    cursor.execute(sql)
            finally:
                connection.close()

        admin(f'CREATE DATABASE "{database}"')
        try:
            yield {**env, "DB_NAME": database}
        finally:
            with contextlib.suppress(Exception):
                admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        if started_here:
            services_sh("stop", env=sh_env, timeout=120)
