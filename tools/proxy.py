"""nginx in front of the Rasa replicas: the production profile's one entry point.

Usage:
    python -m tools.proxy --replica 127.0.0.1:5005 --replica 127.0.0.1:5006 [--port 8000]
        [--console 127.0.0.1:8090] [--prefix build/proxy] [--render-only]

Renders deploy/nginx.conf.j2 for the replicas (REST channel and messaging webhooks
spread over them, the demo page and the widget served from files, the content
console under /console/ when its address is given) and runs Debian's nginx with it
in the foreground until Ctrl-C. `--render-only` prints the configuration (e.g. for
a balancer machine in front of replicas on other machines; docs/deployment.md).

Everything the instance writes is under its prefix (default build/proxy): the
configuration, the rendered demo page and disclaimer, the pid file, logs/ and
temp/. It never reads /etc/nginx. tools/run.py (`make run-prod`) starts it
through `proxy_server`, as one more server of tools/processes.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from tools.processes import REQUEST_MAX_SIZE, ROOT, Server, serving

TEMPLATE = ROOT / "deploy" / "nginx.conf.j2"
WEB_DIR = ROOT / "web"
DEFAULT_PREFIX = ROOT / "build" / "proxy"
DEFAULT_PORT = 8000
#: The path nginx answers itself, for health checks.
HEALTH_PATH = "/proxy/health"
#: Seconds a replica may take to answer: longer than a message waits for a dead
#: replica's lock ticket to expire (TICKET_LOCK_LIFETIME, 60 s by default).
READ_TIMEOUT_SECONDS = 120
#: Where Debian puts nginx, which an unprivileged user's PATH may lack.
SBIN = ("/usr/sbin", "/sbin")


@dataclass(frozen=True)
class ProxySettings:
    """What the rendered configuration depends on.

    Attributes:
        replicas: The Rasa replicas, as `host:port`.
        port: The port nginx listens on.
        host: The interface it listens on (loopback by default).
        console: The content console's `host:port`; None leaves /console/ out.
        public_url: The URL users open (the demo page's widget talks to it);
            default `http://localhost:<port>`.
        workers: nginx worker processes (a number or `auto`).
        read_timeout: Seconds a replica may take to answer.
        run_as_root: Whether nginx is started as root (then `user root;`).
    """

    replicas: Sequence[str]
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    console: Optional[str] = None
    public_url: Optional[str] = None
    workers: str = "1"
    read_timeout: int = READ_TIMEOUT_SECONDS
    run_as_root: bool = False

    @property
    def url(self) -> str:
        """The single entry URL."""
        return self.public_url or f"http://localhost:{self.port}"

    @property
    def listen(self) -> str:
        """The `listen` address of nginx."""
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"{host}:{self.port}"


def address(value: str) -> str:
    """Checks a `host:port` argument (a name or IPv4 address and a port)."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 \
            or any(c in host for c in " ;{}'\"\\"):
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return value


def render_config(settings: ProxySettings, prefix: Path) -> str:
    """The nginx configuration for `settings`, with its files under `prefix`.

    Args:
        settings: The replicas, ports and options.
        prefix: The instance's folder (absolute): pid file, logs, temp files and
            the rendered page (`html/`).

    Returns:
        The text of nginx.conf.

    Raises:
        ValueError: No replica was given.
    """
    import jinja2

    from tools.serve_web import CONTENT_TYPES

    if not settings.replicas:
        raise ValueError("nginx needs at least one replica")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)),
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     autoescape=False)
    content_types = [(suffix.lstrip("."), kind.split(";")[0])
                     for suffix, kind in CONTENT_TYPES.items()]
    return environment.get_template(TEMPLATE.name).render(
        replicas=list(settings.replicas), listen=settings.listen, console=settings.console,
        public_url=settings.url, workers=settings.workers, read_timeout=settings.read_timeout,
        user="root" if settings.run_as_root else None, prefix=str(prefix),
        html=str(prefix / "html"), widget=str(WEB_DIR / "widget"),
        content_types=content_types, max_body_kib=REQUEST_MAX_SIZE // 1024)


def prepare(settings: ProxySettings, prefix: Path, disclaimer: str) -> Path:
    """Writes the configuration, the demo page and the disclaimer under `prefix`.

    Args:
        settings: The replicas, ports and options.
        prefix: The instance's folder (created if missing).
        disclaimer: The content store's disclaimer, served as /widget/disclaimer.json.

    Returns:
        The configuration file.
    """
    from tools.serve_web import INDEX, render_index

    prefix = prefix.resolve()
    for folder in ("logs", "temp", "html"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    page = render_index(INDEX.read_text(encoding="utf-8"), settings.url, settings.url)
    (prefix / "html" / "index.html").write_text(page, encoding="utf-8")
    (prefix / "html" / "disclaimer.json").write_text(json.dumps({"disclaimer": disclaimer}),
                                                     encoding="utf-8")
    config = prefix / "nginx.conf"
    config.write_text(render_config(settings, prefix), encoding="utf-8")
    return config


def nginx_binary() -> str:
    """The nginx program (`bash scripts/services.sh install` installs Debian's).

    Raises:
        FileNotFoundError: nginx is not installed.
    """
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    found = shutil.which("nginx", path=search)
    if not found:
        raise FileNotFoundError("nginx is not installed: run `bash scripts/services.sh install`")
    return found


def nginx_command(config: Path) -> List[str]:
    """The command running nginx in the foreground with `config` (prefix: its folder)."""
    prefix = config.parent
    return [nginx_binary(), "-p", f"{prefix}/", "-c", str(config),
            "-e", str(prefix / "logs" / "error.log")]


def health_url(settings: ProxySettings) -> str:
    """The health URL nginx answers itself, on the address it listens on."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{host if ':' not in host else f'[{host}]'}:{settings.port}{HEALTH_PATH}"


def proxy_server(settings: ProxySettings, prefix: Path, disclaimer: str,
                 name: str = "nginx") -> Server:
    """The nginx server as a `tools.processes.Server` (not started), its files prepared.

    Its output goes to `<prefix>/logs/<name>.log`; nginx's own logs are
    `<prefix>/logs/error.log` and `access.log`. SIGTERM (`Server.stop`) is nginx's
    fast shutdown.
    """
    config = prepare(settings, prefix, disclaimer)
    return Server(name, nginx_command(config), health_url(settings), dict(os.environ),
                  config.parent / "logs")


def local_proxy(replica_ports: Sequence[int], port: int, console_port: Optional[int] = None,
                prefix: Path = DEFAULT_PREFIX) -> Server:
    """An nginx on loopback in front of replicas on this machine (tools/run.py, run-prod).

    Args:
        replica_ports: The replicas' ports on 127.0.0.1.
        port: nginx's port.
        console_port: The content console's port on 127.0.0.1 (None: no /console/).
        prefix: The instance's folder.

    Returns:
        The server, not started; its `health` URL answers once nginx is up.
    """
    from nightcramps.content_store import default_store

    settings = ProxySettings([f"127.0.0.1:{replica}" for replica in replica_ports], port,
                             console=f"127.0.0.1:{console_port}" if console_port else None,
                             run_as_root=os.geteuid() == 0)
    return proxy_server(settings, prefix, default_store().disclaimer)


def origins(port: int) -> List[str]:
    """The browser origins of the demo page nginx serves on `port` (for Rasa's CORS)."""
    return [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]


def check_config(config: Path) -> Optional[str]:
    """`nginx -t` on the configuration: None if it is valid, else nginx's message."""
    import subprocess

    result = subprocess.run([*nginx_command(config), "-t", "-q"], capture_output=True,
                            text=True, timeout=30, check=False)
    return None if result.returncode == 0 else (result.stderr or result.stdout).strip()


def main(argv: Optional[List[str]] = None) -> int:
    """Renders the configuration and runs nginx until Ctrl-C (or only prints it)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--replica", type=address, action="append", required=True,
                        help="a Rasa replica, HOST:PORT (repeat for each)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default: loopback only)")
    parser.add_argument("--console", type=address, default=None,
                        help="the content console, HOST:PORT (default: no /console/)")
    parser.add_argument("--public-url", default=None,
                        help="the URL users open (default http://localhost:PORT)")
    parser.add_argument("--workers", default="1", help="nginx worker processes, or auto")
    parser.add_argument("--prefix", type=Path, default=DEFAULT_PREFIX)
    parser.add_argument("--render-only", action="store_true",
                        help="print the configuration and exit")
    args = parser.parse_args(argv)
    settings = ProxySettings(args.replica, args.port, args.host, args.console,
                             args.public_url, args.workers,
                             run_as_root=os.geteuid() == 0)
    if args.render_only:
        sys.stdout.write(render_config(settings, args.prefix.resolve()))
        return 0
    from nightcramps.content_store import default_store

    server = proxy_server(settings, args.prefix, default_store().disclaimer)
    problem = check_config(Path(server.command[server.command.index("-c") + 1]))
    if problem:
        print(problem, file=sys.stderr)
        return 1
    try:
        with serving(server, timeout=30):
            print(f"nginx in front of {', '.join(args.replica)}: {settings.url}", flush=True)
            assert server.process is not None
            server.process.wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
