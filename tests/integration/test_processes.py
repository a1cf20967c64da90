"""tools/processes.py on a real little server that forks a worker, as `rasa run` forks Sanic's.

The worker ignores SIGTERM, as a stuck one would not react: stopping must still
end it (SIGKILL after the grace period), killing must end it at once, and the
port must be free again either way.
"""

from __future__ import annotations

import re
import socket
import sys
import time
from pathlib import Path
from typing import List

import pytest

from tools.processes import Server, ServerNotUp, free_port, process_table, serving

#: An HTTP server on argv[1] whose forked worker ignores SIGTERM and prints its pid.
SERVER = """
import http.server, os, signal, sys, time
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"worker {os.getpid()}", flush=True)
    while True:
        time.sleep(1)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])),
                                http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def little_server(tmp: Path, port: int) -> Server:
    return Server("little", [sys.executable, "-c", SERVER, str(port)],
                  f"http://127.0.0.1:{port}/", {"PATH": "/usr/bin:/bin"}, tmp, cwd=tmp)


def workers(server: Server, count: int = 1) -> List[int]:
    """The pids the server's workers printed to its log (every start's), once `count` have."""
    deadline = time.monotonic() + 10
    while len(found := re.findall(r"^worker (\d+)$", server.log_text(), re.M)) < count:
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.05)
    return [int(pid) for pid in found]


def alive(pid: int) -> bool:
    """Whether the process runs (an unreaped zombie does not)."""
    info = process_table().get(pid)
    return info is not None and info.state != "Z"


def bindable(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_stop_ends_the_server_and_a_worker_that_ignores_sigterm(tmp_path: Path) -> None:
    port = free_port()
    server = little_server(tmp_path, port)
    with serving(server, timeout=30):
        [worker] = workers(server)
        assert alive(worker) and not bindable(port)
        began = time.monotonic()
        server.stop(grace=1)
        took = time.monotonic() - began
    assert not alive(worker) and server.process is not None and server.process.poll() is not None
    assert bindable(port)
    assert 1 <= took < 6  # the grace period, then SIGKILL


def test_kill_is_a_crash_and_the_server_starts_again_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    server = little_server(tmp_path, port)
    with serving(server, timeout=30):
        [first] = workers(server)
        began = time.monotonic()
        server.kill()
        assert time.monotonic() - began < 2  # no grace period
        assert not alive(first) and not server.running() and bindable(port)
        server.start()
        server.wait_up(30)
        second = [pid for pid in workers(server, 2) if pid != first]
        assert second and alive(second[0])
        assert server.starts == 2 and "===== little start 2 =====" in server.log_text()
    assert not alive(second[0]) and bindable(port)  # serving stopped the restarted one


def test_a_server_that_does_not_come_up_fails_with_its_log(tmp_path: Path) -> None:
    broken = Server("broken", [sys.executable, "-c", "print('no config here'); raise SystemExit(3)"],
                    f"http://127.0.0.1:{free_port()}/", {}, tmp_path)
    with pytest.raises(ServerNotUp, match=r"broken did not come up(.|\n)*no config here"), \
            serving(broken, timeout=30):
        pass  # pragma: no cover
    assert broken.process is not None and broken.process.returncode == 3
