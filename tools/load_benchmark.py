"""Load benchmark: many conversations at once over the REST channel, with a lost-message check.

Usage:
    python -m tools.load_benchmark                              # default profile vs stock
    python -m tools.load_benchmark --profile prod               # PostgreSQL + Redis, 1 vs 2
    python -m tools.load_benchmark --profile both --output results/load.json

**Default profile** (endpoints.yml: SQLite tracker store and SQLite lock store,
Rasa with the workers `make run` gives it, `SANIC_WORKERS` (1), one action server).
Our assistant and Rasa's stock `rasa init` assistant (its own
data, domain, config and action server; its stock SQL tracker store on SQLite)
run side by side and are measured in the same run, interleaved so both see the
same background load:

1. one user at a time: `--users` short conversations (the stories of
   tests/test_conversations.yml, one per user, a new conversation each), every
   turn timed, and `/model/parse` of the same text timed after it;
2. one long conversation of `--long-turns` turns (one conversation, every turn
   loads a growing tracker);
3. `--conversations` conversations at once, each sending `--messages` messages
   one after the other (a conversation waits for each answer, as a user does),
   `--rounds` times per system: messages per second and p50/p95/p99 latency.

With `--before`, the same model also runs as configured before the latency
work (Rasa's stock SQL tracker store and REST channel), for a before/after
comparison in one run. `--also-workers N` adds ours with N workers, and
`--also-endpoints FILE` ours with another endpoints file (for example one
setting off), each beside the others in the same run.

**Production profile** (endpoints.prod.yml: PostgreSQL, the atomic Redis lock
store): PostgreSQL and Redis from scripts/services.sh (instances of the
benchmark's own in build/services-loadbench on free ports, so other test sessions
cannot stop them mid-run; `--shared-services` uses the project's), a fresh
database, one action server and two `rasa run` replicas. Phase 3 runs against
one replica, then against both (conversations spread round-robin), alternately
for `--rounds` rounds.

Afterwards every conversation is read back from the tracker store (SQLite or
PostgreSQL): each must hold every user message sent, in order, each followed
by exactly the bot messages its HTTP answer held. The result is printed, and
the script exits 1 if anything was lost or a request failed.

Everything is bounded: request timeouts, `--time-limit` for the whole run
(phases stop early and say so), and fixed numbers of users, turns and rounds.
Servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from tools.load.deadline import Deadline
from tools.load.lost import check_conversation
from tools.load.output import machine, print_check, print_default, print_prod
from tools.load.profiles import run_default, run_prod
from tools.load.servers import MODEL, ROOT, project_endpoints
from tools.load.traffic import Exchange, conversation_script, load_stories

#: Names other modules import from here (tools/turn_budget.py, tests/faults).
__all__ = ["MODEL", "Exchange", "check_conversation", "conversation_script", "load_stories",
           "main", "project_endpoints"]


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the chosen profiles, prints the figures, writes the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=["default", "prod", "both"], default="default")
    parser.add_argument("--conversations", type=int, default=20,
                        help="conversations at once in phase 3 (default 20)")
    parser.add_argument("--messages", type=int, default=10,
                        help="messages per conversation in phase 3 (default 10)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="phase 3 rounds per system, interleaved (default 3)")
    parser.add_argument("--users", type=int, default=40,
                        help="phase 1: short conversations, one at a time (default 40)")
    parser.add_argument("--long-turns", type=int, default=300,
                        help="phase 2: turns of the long conversation (0 skips; default 300)")
    parser.add_argument("--time-limit", type=float, default=1800,
                        help="wall-clock limit of the whole run, seconds (default 1800)")
    parser.add_argument("--before", action="store_true",
                        help="also run our model as configured before the latency work "
                             "(stock SQL tracker store and REST channel)")
    parser.add_argument("--also-workers", type=int, action="append", default=[],
                        metavar="N", help="also run ours with N Rasa workers, side by side "
                        "(repeatable; default profile)")
    parser.add_argument("--also-endpoints", action="append", default=[], metavar="FILE",
                        help="also run ours with this endpoints file (one worker), side by "
                        "side, as ours-<file name> (repeatable; default profile)")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock assistant")
    parser.add_argument("--endpoints", default=str(ROOT / "endpoints.yml"),
                        help="our default-profile endpoints file (default endpoints.yml)")
    parser.add_argument("--prod-endpoints", default=str(ROOT / "endpoints.prod.yml"))
    parser.add_argument("--shared-services", action="store_true",
                        help="production profile: use the project's PostgreSQL and Redis "
                             "(build/services) instead of instances of its own")
    parser.add_argument("--credentials", default=str(ROOT / "credentials.yml"),
                        help="our credentials file; only its REST channel is used")
    parser.add_argument("--tracker-store", default=None,
                        help="override our tracker store's `type` (default: the endpoints "
                             "file's)")
    parser.add_argument("--model", type=Path, default=MODEL,
                        help="our trained model (default: make run's)")
    parser.add_argument("--output", default=str(ROOT / "results" / "load.json"))
    args = parser.parse_args(argv)
    for name in ("conversations", "messages", "rounds", "users", "long_turns"):
        if getattr(args, name) < 0 or getattr(args, name) > 10_000:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 10000")
    if not args.model.exists():
        print(f"{args.model} is missing: run `make train` first", file=sys.stderr)
        return 2

    deadline = Deadline(time.monotonic() + args.time_limit)
    report: Dict[str, Any] = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                              "machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    ok = True
    with tempfile.TemporaryDirectory(prefix="load-benchmark-") as tmp_name:
        tmp = Path(tmp_name)
        for profile, run in (("default", run_default), ("prod", run_prod)):
            if args.profile not in (profile, "both"):
                continue
            (tmp / profile).mkdir()
            try:
                report[profile] = run(args, deadline, tmp / profile)
            except Exception as error:  # keep the other profile's figures
                print(f"The {profile} profile failed: {type(error).__name__}: {error}",
                      file=sys.stderr)
                report[f"{profile}_error"] = f"{type(error).__name__}: {error}"
                ok = False
    report["machine"]["load_average_at_end"] = list(os.getloadavg())
    report["out_of_time"] = deadline.left() <= 0
    print(f"\nMachine: {report['machine']['cpus']} cores, {report['machine']['platform']}, "
          f"Rasa {report['machine']['rasa']}; load average at start "
          f"{report['machine']['load_average_at_start'][0]:.1f}, at end "
          f"{report['machine']['load_average_at_end'][0]:.1f}")
    if "default" in report:
        print_default(report["default"])
        ok = print_check(report["default"]["check"]) and ok
    if "prod" in report:
        print_prod(report["prod"])
        ok = print_check(report["prod"]["check"]) and ok
    if report["out_of_time"]:
        print(f"\nThe time limit ({args.time_limit:.0f} s) was reached: some phases stopped "
              f"early (see `complete` in the results).")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    print(f"\nResults written to {output}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
