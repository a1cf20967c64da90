"""Starts the action server, Rasa and the demo web page together; Ctrl-C stops all.

Usage: python -m tools.run --model models/night-cramps.tar.gz [--port 5005] [--web-port 8080]

Messaging channels (Telegram, Slack, Messenger, WhatsApp) are switched on by
their environment variables; see README. Channels whose variables are unset
stay off.

Security defaults (docs/privacy-and-security.md): Rasa listens on localhost; its
HTTP API is on only when $RASA_API_TOKEN is set, and then needs that token; the
action server binds 127.0.0.1 ($ACTION_SERVER_HOST overrides); request bodies
over 256 KiB are refused with 413 ($SANIC_REQUEST_MAX_SIZE overrides).

Rasa calls the action server started here, on --actions-port: through
$ACTION_SERVER_URL for endpoints.prod.yml, or through a copy of the endpoints
file (build/endpoints.yml) when its action URL names another address.

Stopping: Ctrl-C (SIGINT), SIGTERM and SIGHUP all stop every process started
here, and so does any server exiting on its own. Each server runs in a process
group of its own (with Sanic's worker processes, the children of `rasa run`);
`stop` (tools/processes.py) sends the groups SIGTERM, and whatever still runs
10 s later, e.g. a stuck worker, SIGKILL, so everything is gone and the ports
are free within 15 s. A second Ctrl-C skips the 10 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, Dict, Iterator, List, Mapping, Optional

import yaml

from tools.processes import (
    BIN,
    ROOT,
    ServerProcess,
    action_server_command,
    server_env,
    stop,
    wait_until_up,
)

API_TOKEN_ENV = "RASA_API_TOKEN"
#: Rasa worker processes per server. One: on 2 cores a second worker gave 1.13 to
#: 1.39 x the messages/s in four side-by-side load runs (docs/performance.md,
#: "Issue 15: the final run") for 780 MiB more RSS (1,725 against 945 MiB for all
#: of `make run`), past the 1.5 GB the project allows. `SANIC_WORKERS=2 make run`
#: trades them back.
DEFAULT_WORKERS = 1


def cors_origins(web_port: int) -> List[str]:
    """Browser origins allowed to call Rasa: $CORS_ORIGINS, else the demo page."""
    configured = os.environ.get("CORS_ORIGINS", "").split()
    if configured or not web_port:
        return configured
    return [f"http://localhost:{web_port}", f"http://127.0.0.1:{web_port}"]


def workers(env: Mapping[str, str], replicas: int) -> str:
    """`SANIC_WORKERS` for each Rasa process.

    $SANIC_WORKERS if set; else 1 per replica when there are several (the replicas
    use the cores), 1 when the HTTP API is on (`make publish` loads a model into the
    one worker its request reaches, so every worker must be that one), and
    `DEFAULT_WORKERS` otherwise. Rasa runs one worker whatever this says when the
    endpoints file has no lock store shared between processes.
    """
    if env.get("SANIC_WORKERS"):
        return env["SANIC_WORKERS"]
    if replicas > 1 or env.get(API_TOKEN_ENV):
        return "1"
    return str(DEFAULT_WORKERS)


def api_args(env: Mapping[str, str]) -> List[str]:
    """`rasa run` options for the HTTP API: on, with the token, only if one is set."""
    token = env.get(API_TOKEN_ENV, "")
    return ["--enable-api", "--auth-token", token] if token else []


def _action_server_base(env: Mapping[str, str], port: int) -> str:
    """The action server's address, on the interface it binds."""
    host = env.get("ACTION_SERVER_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def action_server_health(env: Mapping[str, str], port: int) -> str:
    """The action server's health URL, on the interface it binds."""
    return f"{_action_server_base(env, port)}/health"


def action_server_url(env: Mapping[str, str], port: int) -> str:
    """The webhook of the action server this script starts: the URL Rasa must call."""
    return f"{_action_server_base(env, port)}/webhook"


def endpoints_calling(endpoints: str, url: str, env: Dict[str, str], copy: Path) -> str:
    """The endpoints file that makes Rasa call the action server at `url`.

    - An action endpoint of `${ACTION_SERVER_URL}` (endpoints.prod.yml): the file
      as it is, with that variable set to `url` in `env` (a different value is
      replaced, and the replacement printed).
    - A literal URL (endpoints.yml): the file itself when the URL is `url`, else a
      copy at `copy` with only that URL changed (and the action endpoint added if
      the file had none).

    Args:
        endpoints: The endpoints file, relative to the project or absolute.
        url: The webhook of the action server started with Rasa.
        env: The servers' environment; may gain `ACTION_SERVER_URL`.
        copy: Where to write the changed copy (relative paths in it keep working:
            Rasa runs in the project folder).

    Returns:
        The file to pass to `rasa run --endpoints`.

    Raises:
        ValueError: The file is missing or is not a YAML mapping.
    """
    path = Path(endpoints) if Path(endpoints).is_absolute() else ROOT / endpoints
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read the endpoints file {endpoints}: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"the endpoints file {endpoints} is not a YAML mapping")
    section = data.get("action_endpoint")
    action: Dict[str, Any] = section if isinstance(section, dict) else {}
    configured = str(action.get("url", ""))
    if configured == "${ACTION_SERVER_URL}":
        if env.get("ACTION_SERVER_URL", url) != url:
            print(f"ACTION_SERVER_URL was {env['ACTION_SERVER_URL']}; Rasa will call the action "
                  f"server started here, {url}", flush=True)
        env["ACTION_SERVER_URL"] = url
        return endpoints
    if configured == url:
        return endpoints
    data["action_endpoint"] = {**action, "url": url}
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    print(f"Rasa will call the action server at {url} ({endpoints} names "
          f"{configured or 'none'}; using the copy {copy})", flush=True)
    return str(copy)


class StopRequested(Exception):
    """Ctrl-C (SIGINT), SIGTERM or SIGHUP arrived: time to stop the servers."""


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP all mean "stop the servers".

    The first one raises `StopRequested` in the main thread (unless stopping has
    already begun); every one is counted, so a second Ctrl-C while the servers
    are stopping skips the rest of their grace period.
    """

    HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        """No signal yet."""
        self.count = 0
        self.stopping = False
        self._held = False

    def install(self) -> None:
        """Makes this object the handler of the three signals."""
        for signum in self.HANDLED:
            signal.signal(signum, self.handle)

    def handle(self, signum: int, frame: Optional[FrameType]) -> None:
        """Counts the signal; the first one raises `StopRequested` (once not held)."""
        self.count += 1
        if not self.stopping and not self._held:
            self.stopping = True
            raise StopRequested(signal.Signals(signum).name)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Holds `StopRequested` back until the block ends (then raises it if due)."""
        self._held = True
        try:
            yield
        finally:
            self._held = False
        if self.count and not self.stopping:
            self.stopping = True
            raise StopRequested("a signal received meanwhile")


def console_command(port: int, endpoints: str) -> List[str]:
    """The content console on 127.0.0.1:`port`, on the endpoints file's database."""
    return [str(BIN / "python"), "-m", "console", "--port", str(port), "--endpoints", endpoints]


def follow_content(endpoints: str) -> List[str]:
    """The action server's options to follow approved content (stores/content_follower.py).

    With a database server (the production profile) action servers may run on
    several machines, so each follows the versions the console records there. With
    SQLite everything runs on this machine: the console and the one action server
    share the content folder, which the store's hot reload already watches.
    """
    path = Path(endpoints) if Path(endpoints).is_absolute() else ROOT / endpoints
    store = (yaml.safe_load(path.read_text()) or {}).get("tracker_store") or {}
    return [] if store.get("dialect", "sqlite") == "sqlite" else ["--endpoints", endpoints]


def start(processes: List[subprocess.Popen[bytes]], command: List[str],
          env: Mapping[str, str], signals: StopSignals) -> ServerProcess:
    """Starts a `ServerProcess` in the project folder and appends it to `processes`.

    A stop signal arriving meanwhile takes effect once it is listed, so a Ctrl-C
    cannot leave a server running unlisted (and so never stopped).
    """
    with signals.held():
        process = ServerProcess(command, cwd=ROOT, env=env)
        processes.append(process)
    return process


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the servers until Ctrl-C, SIGTERM or until one of them exits."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/night-cramps.tar.gz")
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("--actions-port", type=int, default=5055)
    parser.add_argument("--endpoints", default="endpoints.yml",
                        help="endpoints file (endpoints.prod.yml for the production profile)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="Rasa processes on consecutive ports from --port (more than one "
                             "needs the production profile: shared tracker and lock stores)")
    parser.add_argument("--web-port", type=int, default=8080,
                        help="port of the demo page with the chat widget (0 = no page)")
    parser.add_argument("--proxy-port", type=int, default=0,
                        help="nginx on this port in front of the replicas, serving the demo "
                             "page too: the one entry point (0 = none; make run-prod: 8000)")
    parser.add_argument("--console-port", type=int, default=8081,
                        help="port of the content team's console (python -m console), on "
                             "127.0.0.1; under --proxy-port also at /console/ (0 = none)")
    parser.add_argument("--cors", nargs="*", default=None,
                        help="origins allowed to call Rasa from a browser "
                             "(default: $CORS_ORIGINS, else the demo page's origins)")
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if args.replicas > 1 and args.endpoints == "endpoints.yml":
        parser.error("--replicas above 1 needs shared stores: --endpoints endpoints.prod.yml")
    env = server_env(os.environ)
    try:
        endpoints = endpoints_calling(args.endpoints, action_server_url(env, args.actions_port),
                                      env, ROOT / "build" / "endpoints.yml")
    except ValueError as error:
        parser.error(str(error))

    from connectors.credentials import write_active_credentials
    from tools.serve_web import command as web_command

    credentials = ROOT / "build" / "credentials.yml"
    credentials.parent.mkdir(exist_ok=True)
    channels = write_active_credentials(ROOT / "channels.yml", credentials, os.environ)
    print(f"Channels on: {', '.join(channels)}", flush=True)
    origins = args.cors if args.cors is not None else cors_origins(args.web_port)
    if args.proxy_port and args.cors is None:
        from tools.proxy import origins as proxy_origins

        origins = [*origins, *proxy_origins(args.proxy_port)]

    env["SANIC_WORKERS"] = workers(env, args.replicas)
    # Duplicate webhook deliveries are remembered across workers and replicas.
    env.setdefault("DELIVERY_IDS_DB", str(ROOT / "build" / "delivery_ids.db"))
    api = api_args(env)
    print("HTTP API: " + ("on, token required" if api else f"off (set {API_TOKEN_ENV} to enable)"),
          flush=True)
    print(f"Rasa workers per server: {env['SANIC_WORKERS']}", flush=True)
    signals = StopSignals()
    processes: List[subprocess.Popen[bytes]] = []
    try:
        signals.install()
        # The action server and Rasa start at once and load side by side: start-up takes
        # the slower one's time, not the sum (docs/performance.md, "Start-up").
        actions = start(processes, [*action_server_command(args.actions_port),
                                    *follow_content(args.endpoints)], env, signals)
        ports = [args.port + i for i in range(args.replicas)]
        rasa_command = [str(BIN / "rasa"), "run", "--model", args.model, "--interface", "localhost",
                        "--credentials", str(credentials), "--endpoints", endpoints,
                        *(["--cors", *origins] if origins else []), *api]
        replicas = [start(processes, [*rasa_command, "--port", str(port)], env, signals)
                    for port in ports]
        if not wait_until_up(action_server_health(env, args.actions_port), actions, 120):
            print("The action server did not start (see its messages above).", file=sys.stderr)
            return 1
        for port, rasa in zip(ports, replicas, strict=True):
            if not wait_until_up(f"http://localhost:{port}/", rasa, 300):
                print(f"Rasa on port {port} did not start (see its messages above).",
                      file=sys.stderr)
                return 1
        entry = f"http://localhost:{args.port}"
        if args.console_port:  # once, beside the replicas, on the conversations' database
            # Its publish and roll-back buttons reach every replica (tools/content/publish.py).
            replica_urls = " ".join(f"http://localhost:{port}" for port in ports)
            console = start(processes, console_command(args.console_port, args.endpoints),
                            {"RASA_URL": replica_urls, **env}, signals)
            if not wait_until_up(f"http://127.0.0.1:{args.console_port}/health", console, 60):
                print("The console did not start (see its messages above).", file=sys.stderr)
                return 1
        if args.proxy_port:  # nginx in front of the replicas (tools/proxy.py)
            from tools.proxy import local_proxy

            nginx = local_proxy(ports, args.proxy_port, args.console_port or None)
            proxy = start(processes, nginx.command, env, signals)
            if not wait_until_up(nginx.health, proxy, 30):
                print("nginx did not start (see its messages above).", file=sys.stderr)
                return 1
            entry = f"http://localhost:{args.proxy_port}"
            print(f"nginx on {entry} in front of the replicas on ports "
                  f"{', '.join(map(str, ports))}: the one entry point.", flush=True)
        elif len(ports) > 1:
            print(f"Rasa replicas on ports {', '.join(map(str, ports))}; put a reverse proxy "
                  "in front of them (docs/deployment.md).", flush=True)
        page = ""
        if args.web_port:
            web = start(processes, web_command(args.web_port, entry),
                        env, signals)
            if not wait_until_up(f"http://localhost:{args.web_port}/", web, 60):
                print("The demo page did not start (see its messages above).", file=sys.stderr)
                return 1
            page = f"  Chat on the demo page: http://localhost:{args.web_port}\n"
        if args.proxy_port:
            page += f"  Entry point (nginx):    {entry} (demo page, REST, webhooks)\n"
        if args.console_port:
            page += (f"  Content console:        http://localhost:{args.console_port}"
                     f"{' and ' + entry + '/console/' if args.proxy_port else ''}"
                     " (accounts: make staff-user)\n")
        print(
            "\nThe assistant is running.\n"
            f"{page}"
            f"  Chat in this terminal:  {BIN / 'python'} tools/chat.py --url {entry}\n"
            "  Or send a message:      curl -s -XPOST "
            f"{entry}/webhooks/rest/webhook \\\n"
            "                            -H 'Content-Type: application/json' "
            "-d '{\"sender\": \"me\", \"message\": \"why do I get leg cramps at night?\"}'\n"
            "Press Ctrl-C to stop the servers.\n", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("A server stopped unexpectedly; stopping the others.", file=sys.stderr)
        return 1
    except StopRequested:
        return 0
    finally:
        try:
            signals.stopping = True  # from now on, a signal only hurries the stopping
        except StopRequested:  # one that arrived just before
            pass
        if processes:
            print("\nStopping the servers...", flush=True)
            before = signals.count
            stop(processes, hurry=lambda: signals.count > before)
            print("Stopped.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
