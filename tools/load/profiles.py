"""The two profiles: the default one (ours beside stock) and production (1 vs 2 replicas)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
from pathlib import Path
from typing import Any, Dict, Iterator, List

from connectors.credentials import write_active_credentials
from tools.load.deadline import Deadline
from tools.load.lost import verify
from tools.load.servers import ROOT, load_env, project_endpoints, rasa_command
from tools.load.services import local_services
from tools.load.stock import prepare_stock, stock_actions_package
from tools.load.traffic import (
    System,
    concurrent_load,
    load_stories,
    long_conversation,
    pooled,
    single_users,
    warm_up,
)
from tools.processes import Server, ServerGroup, action_server_command, free_port
from tools.run import workers
from tools.stats import summary


@contextlib.contextmanager
def default_profile_systems(tmp: Path, args: argparse.Namespace, deadline: Deadline
                            ) -> Iterator[List[System]]:
    """Starts ours (and stock, and ours-before) with their action servers."""
    group = ServerGroup()
    systems: List[System] = []

    def launch(name: str, model: Path, cwd: Path, endpoints_text: str, credentials: Path,
               actions: str, extra_env: Dict[str, str], db: Path) -> None:
        action_port, rasa_port = free_port(), free_port()
        endpoints = tmp / f"{name}-endpoints.yml"
        endpoints.write_text(endpoints_text.replace("@ACTION_URL@",
                                                    f"http://127.0.0.1:{action_port}/webhook"))
        env = load_env(extra_env)
        token = secrets.token_hex(16)
        group.start(Server(f"{name}-actions", action_server_command(action_port, actions),
                           f"http://127.0.0.1:{action_port}/health", env, tmp, cwd))
        group.start(Server(f"{name}-rasa", rasa_command(model, rasa_port, endpoints,
                                                        credentials, token),
                           f"http://127.0.0.1:{rasa_port}/", env, tmp, cwd))
        systems.append(System(name, [f"http://127.0.0.1:{rasa_port}"], token, sqlite=db))

    def launch_stock_settings(name: str, model: Path, cwd: Path, actions: str,
                              extra_env: Dict[str, str]) -> None:
        """`launch` with Rasa's stock settings: the REST channel, the SQL store on SQLite."""
        credentials = tmp / f"{name}-credentials.yml"
        credentials.write_text("rest:\n")
        db = tmp / f"{name}.db"
        launch(name, model, cwd, "action_endpoint:\n  url: @ACTION_URL@\n"
               f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {db}\n",
               credentials, actions, extra_env, db)

    try:
        ours_credentials = tmp / "ours-credentials.yml"
        write_active_credentials(Path(args.credentials), ours_credentials, {})  # REST only
        # Ours as `make run` starts it, then each --also-workers and --also-endpoints
        # variant, each with its own store.
        one = workers(os.environ, 1)
        for name, count, endpoints in [
                ("ours", one, args.endpoints),
                *((f"ours-w{n}", str(n), args.endpoints) for n in args.also_workers),
                *((f"ours-{Path(e).stem}", one, e) for e in args.also_endpoints)]:
            db = tmp / f"{name}.db"
            launch(name, args.model, ROOT, project_endpoints(Path(endpoints), "@ACTION_URL@",
                                                             db, args.tracker_store),
                   ours_credentials, "actions", {"SANIC_WORKERS": count}, db)
        if args.before:
            launch_stock_settings("ours-before", args.model, ROOT, "actions", {})
        if not args.no_stock:
            project, model = prepare_stock(deadline)
            launch_stock_settings("stock", model, project, "stock_init_actions",
                                  {"PYTHONPATH": str(stock_actions_package(project))})
        print(f"Starting {', '.join(s.name for s in systems)} (logs in {tmp})...", flush=True)
        group.wait_up()
        yield systems
    finally:
        group.stop()


def run_default(args: argparse.Namespace, deadline: Deadline, tmp: Path) -> Dict[str, Any]:
    """The default profile: phases 1-3 on every system, then the check."""
    stories = load_stories()
    report: Dict[str, Any] = {}
    with default_profile_systems(tmp, args, deadline) as systems:
        asyncio.run(warm_up(systems, stories, deadline))
        print(f"Phase 1: {args.users} users, one at a time...", flush=True)
        report["single_user"] = asyncio.run(single_users(systems, stories, args.users, deadline))
        if args.long_turns:
            print(f"Phase 2: one conversation of {args.long_turns} turns per system...",
                  flush=True)
            report["long_conversation"] = asyncio.run(
                long_conversation(systems, stories, args.long_turns, deadline))
        print(f"Phase 3: {args.conversations} conversations x {args.messages} messages at "
              f"once, {args.rounds} rounds per system...", flush=True)
        rounds: Dict[str, List[Dict[str, Any]]] = {s.name: [] for s in systems}
        latencies: Dict[str, List[float]] = {s.name: [] for s in systems}
        for number in range(args.rounds):
            for system in systems:
                if deadline.left() <= 0:
                    break
                before = len(system.exchanges)
                result = asyncio.run(concurrent_load(
                    system, system.bases, args.conversations, args.messages, stories,
                    f"load-{system.name}-{number}", deadline))
                rounds[system.name].append(result)
                latencies[system.name].extend(e.latency_ms
                                              for e in system.exchanges[before:])
        report["concurrent"] = {name: pooled(rounds[name], latencies[name])
                                for name in rounds}
        report["concurrent"]["conversations"] = args.conversations
        report["concurrent"]["messages"] = args.messages
        report["check"] = {system.name: verify(system) for system in systems}
        for system in systems:  # phase 1 by kind of turn, now that the check knows them
            kinds: Dict[str, List[float]] = {}
            for exchange in system.exchanges:
                if exchange.phase == "single_user" and exchange.kind:
                    kinds.setdefault(exchange.kind, []).append(exchange.latency_ms)
            row = report["single_user"][system.name]
            row["by_kind"] = {kind: {**summary(values), "turn_to_parse_p50":
                                     statistics.median(values) / row["parse"]["p50_ms"]}
                              for kind, values in sorted(kinds.items())}
    return report


def run_prod(args: argparse.Namespace, deadline: Deadline, tmp: Path) -> Dict[str, Any]:
    """The production profile: 1 vs 2 replicas on PostgreSQL + Redis, then the check."""
    stories = load_stories()
    report: Dict[str, Any] = {}
    with local_services(args.shared_services) as env:
        group = ServerGroup()
        try:
            action_port = free_port()
            ports: List[int] = []
            while len(ports) < 2:
                port = free_port()
                if port != action_port and port not in ports:
                    ports.append(port)
            server_vars = {**env, "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
                           "SQL_POOL_SIZE": "10", "SQL_MAX_OVERFLOW": "10"}
            credentials = tmp / "prod-credentials.yml"
            write_active_credentials(Path(args.credentials), credentials, {})  # REST only
            token = secrets.token_hex(16)
            senv = load_env(server_vars)
            group.start(Server("prod-actions", action_server_command(action_port),
                               f"http://127.0.0.1:{action_port}/health", senv, tmp))
            for number, port in enumerate(ports, start=1):
                group.start(Server(f"prod-replica{number}",
                                   rasa_command(args.model, port, Path(args.prod_endpoints),
                                                credentials, token),
                                   f"http://127.0.0.1:{port}/", senv, tmp))
            print(f"Starting the action server and 2 replicas on PostgreSQL database "
                  f"{env['DB_NAME']} (logs in {tmp})...", flush=True)
            group.wait_up()
            system = System("prod", [f"http://127.0.0.1:{port}" for port in ports], token,
                            postgres={"host": env["DB_HOST"], "port": env["DB_PORT"],
                                      "db": env["DB_NAME"], "user": env["DB_USER"],
                                      "password": env["DB_PASSWORD"]})
            asyncio.run(warm_up([system], stories, deadline))
            print(f"Phase 3 (production): {args.conversations} conversations x "
                  f"{args.messages} messages, 1 replica then 2, {args.rounds} rounds...",
                  flush=True)
            rounds: Dict[str, List[Dict[str, Any]]] = {"1": [], "2": []}
            latencies: Dict[str, List[float]] = {"1": [], "2": []}
            for number in range(args.rounds):
                for replicas in ("1", "2"):
                    if deadline.left() <= 0:
                        break
                    before = len(system.exchanges)
                    rounds[replicas].append(asyncio.run(concurrent_load(
                        system, system.bases[:int(replicas)], args.conversations,
                        args.messages, stories, f"prod{replicas}-{number}", deadline)))
                    latencies[replicas].extend(e.latency_ms for e in system.exchanges[before:])
            report["replicas_1"] = pooled(rounds["1"], latencies["1"])
            report["replicas_2"] = pooled(rounds["2"], latencies["2"])
            one, two = (report["replicas_1"]["messages_per_second"],
                        report["replicas_2"]["messages_per_second"])
            report["scaling_2_over_1"] = two / one if one else None
            report["conversations"], report["messages"] = args.conversations, args.messages
            report["check"] = {"prod": verify(system)}
        finally:
            group.stop()
    return report
