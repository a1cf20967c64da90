"""Throughput through nginx with 1 and 2 replicas, side by side, and CPU seconds per message.

Usage:
    python -m tools.proxy_benchmark [--conversations 20] [--messages 10] [--rounds 3]

The production profile (endpoints.prod.yml: PostgreSQL, the atomic Redis lock store;
PostgreSQL and Redis from scripts/services.sh, instances of the benchmark's own on
free ports in build/services-proxybench, a fresh database), one action server, two
`rasa run` replicas (one Sanic worker each, as `make run-prod` runs them) and two
nginx instances of tools/proxy.py: one in front of replica 1 only, one in front of
both. In every
round the same load runs through each, and directly against the two replicas
(the client spreading conversations, no nginx), one after the other, so all three
see the same background load:

    `--conversations` conversations at once, each sending `--messages` messages one
    after the other (a conversation waits for each answer, as a user does).

Figures: messages per second (median of rounds), latency percentiles, and the CPU
seconds each message cost, per component (Rasa replicas, action server, nginx,
PostgreSQL, Redis, and the load client), read from /proc before and after each run
(tools/proxy_cpu.py). Every conversation is then read back from PostgreSQL
(nothing lost or stored twice, tools/load/lost.py).

On a 2-core machine the 1 -> 2 replica scaling shows overhead, not the ceiling:
one replica already uses most of a core, and the second replica has to share the
other core with PostgreSQL, the action server, nginx and the load client. What
carries over to N machines is the CPU per message: a machine with C cores serving
replicas answers about C / (replica CPU per message) messages per second, and N
such machines N times that, until the shared PostgreSQL and Redis (or the balancer)
reach their own cores / (their CPU per message). The script prints that prediction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from connectors.credentials import write_active_credentials
from tools.load.deadline import Deadline
from tools.load.lost import verify
from tools.load.output import machine
from tools.load.servers import MODEL, ROOT, load_env, rasa_command
from tools.load.services import local_services
from tools.load.traffic import System, concurrent_load, load_stories, warm_up
from tools.processes import (
    Server,
    ServerGroup,
    action_server_command,
    distinct_ports,
)
from tools.proxy import ProxySettings, proxy_server
from tools.proxy_cpu import listening_pid, snapshot, spent
from tools.stats import summary

#: This benchmark's own PostgreSQL and Redis (not the load benchmark's: both may run at once).
SERVICES_DIR = ROOT / "build" / "services-proxybench"
#: The arms of each round: name -> which base URLs the load goes to.
ARMS = ("nginx, 1 replica", "nginx, 2 replicas", "direct, 2 replicas")
#: CPU groups: the replica machine's share, and the shared services'.
REPLICA_SIDE = ("rasa", "actions")
SHARED_SIDE = ("postgres", "redis")


def cpu_groups(group: ServerGroup, env: Dict[str, str]) -> Dict[str, List[int]]:
    """The root pids of each component, for tools.proxy_cpu.snapshot."""
    pids: Dict[str, List[int]] = {"rasa": [], "actions": [], "nginx": []}
    for server in group.servers:
        if server.process is None:
            continue
        kind = "nginx" if server.name.startswith("nginx") else \
            "actions" if server.name == "actions" else "rasa"
        pids[kind].append(server.process.pid)
    for name, port in (("postgres", env["DB_PORT"]), ("redis", env["REDIS_PORT"])):
        pid = listening_pid(int(port))
        pids[name] = [pid] if pid else []
    return pids


def run_arm(system: System, bases: Sequence[str], args: argparse.Namespace,
            groups: Dict[str, List[int]], label: str, deadline: Deadline) -> Dict[str, Any]:
    """One load run against `bases`, with the CPU every component spent on it."""
    stories = load_stories()
    before = snapshot(groups)
    result = asyncio.run(concurrent_load(system, bases, args.conversations, args.messages,
                                         stories, label, deadline))
    cpu = spent(before, snapshot(groups))
    answered = result["messages"] - result["failed"]
    result["cpu_seconds"] = cpu
    server_seconds = sum(seconds for name, seconds in cpu.items() if name != "client")
    result["cores_busy"] = server_seconds / result["seconds"] if result["seconds"] else 0.0
    result["cpu_ms_per_message"] = {name: 1000 * seconds / answered if answered else None
                                    for name, seconds in cpu.items()}
    return result


def pooled(rounds: List[Dict[str, Any]], latencies: List[float]) -> Dict[str, Any]:
    """Median messages/s and CPU per message over rounds; latency over all messages."""
    names = rounds[0]["cpu_ms_per_message"] if rounds else {}
    cpu = {name: statistics.median(r["cpu_ms_per_message"][name] or 0.0 for r in rounds)
           for name in names}
    servers = [name for name in cpu if name != "client"]
    return {"rounds": len(rounds),
            "messages_per_second": statistics.median(r["messages_per_second"] for r in rounds)
            if rounds else float("nan"),
            "failed": sum(r["failed"] for r in rounds), **summary(latencies),
            "cpu_ms_per_message": cpu,
            "server_cpu_ms_per_message": sum(cpu[name] for name in servers),
            "cores_busy": statistics.median(r["cores_busy"] for r in rounds) if rounds else 0.0,
            "per_round": [{key: value for key, value in r.items() if key != "label"}
                          for r in rounds]}


def predict(two: Dict[str, Any], cores: int) -> Dict[str, Any]:
    """Messages per second that N machines of `cores` cores would serve, from CPU/message."""
    cpu = two["cpu_ms_per_message"]
    replica_ms = sum(cpu.get(name, 0.0) for name in REPLICA_SIDE)
    shared_ms = sum(cpu.get(name, 0.0) for name in SHARED_SIDE)
    nginx_ms = cpu.get("nginx", 0.0)
    per_machine = 1000 * cores / replica_ms if replica_ms else float("nan")
    return {"cores_per_machine": cores, "replica_side_cpu_ms": replica_ms,
            "shared_services_cpu_ms": shared_ms, "nginx_cpu_ms": nginx_ms,
            "per_replica_machine_messages_per_second": per_machine,
            "shared_services_ceiling_messages_per_second":
                1000 * cores / shared_ms if shared_ms else float("nan"),
            "nginx_ceiling_messages_per_second":
                1000 * cores / nginx_ms if nginx_ms else float("nan")}


def print_report(report: Dict[str, Any]) -> None:
    """The figures, as tables."""
    arms = report["arms"]
    names = ["rasa", "actions", "nginx", "postgres", "redis", "client"]
    print(f"\n{report['conversations']} conversations x {report['messages']} messages at once, "
          f"{report['rounds']} rounds (median of rounds; latency over all rounds):")
    for arm in ARMS:
        row = arms[arm]
        print(f"  {arm:<19} {row['messages_per_second']:6.1f} messages/s, p50 "
              f"{row['p50_ms']:5.0f} ms, p95 {row['p95_ms']:5.0f} ms, p99 {row['p99_ms']:5.0f} ms,"
              f" failed {row['failed']} (rounds: "
              f"{', '.join(format(r['messages_per_second'], '.1f') for r in row['per_round'])})")
    print("\nCPU milliseconds per message (median of rounds):")
    print(f"  {'':<19} " + " ".join(f"{name:>8}" for name in names)
          + f" {'servers':>8}   cores the servers kept busy")
    for arm in ARMS:
        cpu = arms[arm]["cpu_ms_per_message"]
        print(f"  {arm:<19} " + " ".join(f"{cpu.get(name, 0.0):8.1f}" for name in names)
              + f" {arms[arm]['server_cpu_ms_per_message']:8.1f}   "
              f"{arms[arm]['cores_busy']:.2f}")
    one, two = (arms["nginx, 1 replica"]["messages_per_second"],
                arms["nginx, 2 replicas"]["messages_per_second"])
    direct = arms["direct, 2 replicas"]["messages_per_second"]
    print(f"\n  2 replicas / 1 replica through nginx: {two / one:.2f}" if one else "")
    print(f"  nginx / direct, 2 replicas: {two / direct:.2f}" if direct else "")
    cores = report["machine"]["cpus"]
    load = report["machine"]["load_average_at_start"][0]
    print(f"\nOn {cores} cores the 1 -> 2 replica figure shows overhead, not the ceiling: the "
          f"second replica gets no core of its own, it shares the same {cores} with the first, "
          f"PostgreSQL, Redis, the action server, nginx and the load client (and here with "
          f"everything else on the machine: load average {load:.1f} at the start). Adding "
          f"machines adds cores; what carries over is the CPU each message costs.")
    p = report["prediction"]
    print(f"Per message, the replica side (Rasa + action server) costs "
          f"{p['replica_side_cpu_ms']:.1f} ms of CPU, PostgreSQL + Redis "
          f"{p['shared_services_cpu_ms']:.1f} ms, nginx {p['nginx_cpu_ms']:.2f} ms.")
    print(f"Prediction (cores x 1000 / CPU ms per message): each replica machine of {cores} "
          f"cores (one replica per core) serves about "
          f"{p['per_replica_machine_messages_per_second']:.0f} messages/s, N machines N times "
          f"that, until PostgreSQL + Redis on a {cores}-core machine reach about "
          f"{p['shared_services_ceiling_messages_per_second']:.0f} messages/s and one "
          f"{cores}-core nginx about {p['nginx_ceiling_messages_per_second']:.0f}.")


def run(args: argparse.Namespace, tmp: Path, deadline: Deadline) -> Dict[str, Any]:
    """Starts everything, runs the rounds, checks the conversations; returns the figures."""
    report: Dict[str, Any] = {"conversations": args.conversations, "messages": args.messages,
                              "rounds": args.rounds}
    with local_services(args.shared_services, SERVICES_DIR) as env:
        group = ServerGroup()
        try:
            action_port, proxy_one, proxy_two, *rasa_ports = distinct_ports(5)
            senv = load_env({**env, "ACTION_SERVER_URL":
                             f"http://127.0.0.1:{action_port}/webhook", "SANIC_WORKERS": "1",
                             "SQL_POOL_SIZE": "10", "SQL_MAX_OVERFLOW": "10"})
            credentials = tmp / "credentials.yml"
            write_active_credentials(ROOT / "credentials.yml", credentials, {})  # REST only
            token = secrets.token_hex(16)
            group.start(Server("actions", action_server_command(action_port),
                               f"http://127.0.0.1:{action_port}/health", senv, tmp))
            for number, port in enumerate(rasa_ports, start=1):
                group.start(Server(f"replica{number}",
                                   rasa_command(Path(args.model), port,
                                                ROOT / "endpoints.prod.yml", credentials, token),
                                   f"http://127.0.0.1:{port}/", senv, tmp))
            from nightcramps.content_store import default_store

            disclaimer = default_store().disclaimer
            root = os.geteuid() == 0
            replicas = [f"127.0.0.1:{port}" for port in rasa_ports]
            for name, port, upstream in (("nginx-1", proxy_one, replicas[:1]),
                                         ("nginx-2", proxy_two, replicas)):
                group.start(proxy_server(ProxySettings(upstream, port, run_as_root=root),
                                         tmp / name, disclaimer, name))
            print(f"Starting the action server, 2 replicas and 2 nginx (logs in {tmp})...",
                  flush=True)
            group.wait_up()
            direct = [f"http://127.0.0.1:{port}" for port in rasa_ports]
            bases = {"nginx, 1 replica": [f"http://127.0.0.1:{proxy_one}"],
                     "nginx, 2 replicas": [f"http://127.0.0.1:{proxy_two}"],
                     "direct, 2 replicas": direct}
            system = System("prod", direct, token,
                            postgres={"host": env["DB_HOST"], "port": env["DB_PORT"],
                                      "db": env["DB_NAME"], "user": env["DB_USER"],
                                      "password": env["DB_PASSWORD"]})
            asyncio.run(warm_up([system], load_stories(), deadline))
            groups = cpu_groups(group, env)
            report["pids"] = groups
            print(f"{args.rounds} rounds of {args.conversations} conversations x "
                  f"{args.messages} messages through each of: {', '.join(ARMS)}...", flush=True)
            rounds: Dict[str, List[Dict[str, Any]]] = {arm: [] for arm in ARMS}
            latencies: Dict[str, List[float]] = {arm: [] for arm in ARMS}
            for number in range(args.rounds):
                for arm in ARMS:
                    if deadline.left() <= 0:
                        break
                    before = len(system.exchanges)
                    rounds[arm].append(run_arm(system, bases[arm], args, groups,
                                               f"proxy-{number}-{arm.replace(' ', '')}",
                                               deadline))
                    latencies[arm].extend(e.latency_ms for e in system.exchanges[before:])
            report["arms"] = {arm: pooled(rounds[arm], latencies[arm]) for arm in ARMS}
            report["check"] = verify(system)
        finally:
            group.stop()
    return report


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the benchmark, prints the figures, writes the results file."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default=str(MODEL))
    parser.add_argument("--time-limit", type=float, default=1200,
                        help="wall-clock limit of the whole run, seconds (default 1200)")
    parser.add_argument("--shared-services", action="store_true",
                        help="use the project's PostgreSQL and Redis (build/services)")
    parser.add_argument("--output", default=str(ROOT / "results" / "proxy.json"))
    args = parser.parse_args(argv)
    for name in ("conversations", "messages", "rounds"):
        if not 1 <= getattr(args, name) <= 1000:
            parser.error(f"--{name} must be between 1 and 1000")
    if not Path(args.model).exists():
        print(f"{args.model} is missing: run `make train` first", file=sys.stderr)
        return 2
    deadline = Deadline(time.monotonic() + args.time_limit)
    started = machine()
    with tempfile.TemporaryDirectory(prefix="proxy-benchmark-") as tmp:
        report = run(args, Path(tmp), deadline)
    report["machine"] = {**started, "load_average_at_end": list(os.getloadavg())}
    report["prediction"] = predict(report["arms"]["nginx, 2 replicas"],
                                   int(report["machine"]["cpus"] or 1))
    report["command"] = " ".join(["python -m tools.proxy_benchmark", *(argv or sys.argv[1:])])
    print(f"\nMachine: {report['machine']['cpus']} cores, load average at start "
          f"{report['machine']['load_average_at_start'][0]:.1f}, at end "
          f"{report['machine']['load_average_at_end'][0]:.1f}")
    print_report(report)
    check = report["check"]
    print(f"\nCheck (PostgreSQL): {check['conversations']} conversations, {check['messages']} "
          f"messages: {'nothing lost or stored twice' if check['zero_lost'] else 'PROBLEMS'}")
    for sender, problems in check["problems"].items():
        print(f"  {sender}: {'; '.join(problems[:3])}")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    print(f"Results written to {output}")
    failed = sum(arm["failed"] for arm in report["arms"].values())
    return 0 if check["zero_lost"] and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
