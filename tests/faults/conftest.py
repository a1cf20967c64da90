"""The production profile with processes the fault tests can kill and restart.

The services (real PostgreSQL and Redis from scripts/services.sh, a fresh database
per session) come from tests/prod/conftest.py. The cluster runs the project's own
configuration: endpoints.prod.yml (filled from the services' variables) and the
REST channel of credentials.yml; FAULT_TESTS_ENDPOINTS and FAULT_TESTS_CREDENTIALS
point the tests at other files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import pytest

from connectors.credentials import write_active_credentials
from tests.prod.conftest import Services, parse_exports, services, services_sh  # noqa: F401
from tests.servers import BIN, MODEL, ROOT
from tools.processes import Server, ServerGroup, action_server_command, free_port, serving

PROD_ENDPOINTS = Path(os.environ.get("FAULT_TESTS_ENDPOINTS") or ROOT / "endpoints.prod.yml")
CREDENTIALS = Path(os.environ.get("FAULT_TESTS_CREDENTIALS") or ROOT / "credentials.yml")
# A replica killed mid-message leaves its ticket in Redis until it expires; the retried
# message waits for that. Kept longer than a message can take while the tracker store
# retries (TRACKER_STORE_RETRY_SECONDS) so a slow message never loses its lock.
LOCK_LIFETIME_SECONDS = 15
STORE_RETRY_SECONDS = 8


@dataclass
class FaultCluster:
    """One action server and two Rasa replicas on the session's PostgreSQL database."""

    services: Services
    database: str
    action_server: Server
    replicas: List[Server] = field(default_factory=list)

    @property
    def urls(self) -> List[str]:
        """The replicas' base URLs."""
        return [replica.health.rstrip("/") for replica in self.replicas]

    def servers(self) -> List[Server]:
        """Every server."""
        return [self.action_server, *self.replicas]

    def log_tails(self) -> str:
        """The end of every server's log, for failure messages."""
        return ServerGroup(self.servers()).log_tails(lines=40)


def cluster_env(local: Services, database: str, action_port: int, content: Path
                ) -> Dict[str, str]:
    """The servers' environment: endpoints.prod.yml's variables for the local services."""
    return {**os.environ, **local.env, "DB_NAME": database,
            "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
            "CONTENT_DIR": str(content), "TF_CPP_MIN_LOG_LEVEL": "3",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "RASA_TELEMETRY_ENABLED": "false",
            "SQL_POOL_SIZE": "5", "SQL_MAX_OVERFLOW": "5",
            "TICKET_LOCK_LIFETIME": str(LOCK_LIFETIME_SECONDS),
            "TRACKER_STORE_RETRY_SECONDS": str(STORE_RETRY_SECONDS)}


@pytest.fixture(scope="module")
def cluster(services: Services, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
            ) -> Iterator[FaultCluster]:
    """Starts the action server and two replicas; stops whatever is left at the end."""
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first", pytrace=False)
    tmp = tmp_path_factory.mktemp("faults")
    content = tmp / "content"
    shutil.copytree(ROOT / "content", content)
    ports: List[int] = []
    while len(ports) < 3:
        port = free_port()
        if port not in ports:
            ports.append(port)
    action_port, rasa_ports = ports[0], ports[1:]
    env = cluster_env(services, services.database, action_port, content)
    credentials = tmp / "credentials.yml"
    write_active_credentials(CREDENTIALS, credentials, {})  # REST only
    action_server = Server("actions", action_server_command(action_port),
                           f"http://127.0.0.1:{action_port}/health", env, tmp)
    cluster = FaultCluster(services, services.database, action_server)
    for number, port in enumerate(rasa_ports, start=1):
        cluster.replicas.append(Server(
            f"replica{number}",
            [str(BIN / "rasa"), "run", "--model", str(MODEL), "--port", str(port),
             "--interface", "127.0.0.1", "--endpoints", str(PROD_ENDPOINTS),
             "--credentials", str(credentials)],
            f"http://127.0.0.1:{port}/", env, tmp))
    with serving(*cluster.servers()):
        yield cluster


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    """Polls `condition` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


class CuttableProxy:
    """A TCP proxy on loopback whose connections can be cut, as a network outage.

    While cut, every connection (open or new) is closed at once, so the client sees
    the database go away without PostgreSQL itself being touched.
    """

    def __init__(self, target_port: int) -> None:
        """Listens on a free loopback port and forwards to `target_port`."""
        self.target_port = target_port
        self.is_cut = False
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._running = True
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._listener.accept()
            except OSError:  # includes the accept timeout
                continue
            if self.is_cut:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.close()

    def cut(self) -> None:
        """Closes every connection and refuses new ones until `restore`."""
        self.is_cut = True
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def restore(self) -> None:
        """Forwards new connections again."""
        self.is_cut = False

    def close(self) -> None:
        """Stops the proxy."""
        self._running = False
        self.cut()
        self._thread.join(timeout=5)
        self._listener.close()
