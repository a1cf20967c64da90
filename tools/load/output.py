"""The load run's figures, printed as tables, and where they were measured."""

from __future__ import annotations

import os
import platform
from typing import Any, Dict


def machine() -> Dict[str, Any]:
    """Where the figures were measured."""
    import rasa

    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "rasa": rasa.__version__,
            "load_average_at_start": list(os.getloadavg())}


def _fmt(value: Any, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float | int) else str(value)


def print_default(report: Dict[str, Any]) -> None:
    """The default profile's figures, as tables."""
    single = report.get("single_user", {})
    names = [name for name in single if isinstance(single[name], dict)]
    print(f"\nOne user at a time ({single.get('users')} short conversations, "
          f"stories of tests/test_conversations.yml):")
    print(f"  {'system':<12} {'turn p50':>9} {'p95':>8} {'p99':>8} {'parse p50':>10} "
          f"{'turn/parse':>10}   first turn p50, later turns p50")
    for name in names:
        row = single[name]
        print(f"  {name:<12} {_fmt(row['turn']['p50_ms']):>9} {_fmt(row['turn']['p95_ms']):>8} "
              f"{_fmt(row['turn']['p99_ms']):>8} {_fmt(row['parse']['p50_ms']):>10} "
              f"{_fmt(row['turn_to_parse_p50'], 2):>10}   "
              f"{_fmt(row['first_turn']['p50_ms'])}, {_fmt(row['later_turns']['p50_ms'])} ms")
        for kind, values in (row.get("by_kind") or {}).items():
            print(f"    {kind + ':':<16} {values['count']:>4} turns, p50 "
                  f"{_fmt(values['p50_ms'])} ms, ratio to parse p50 "
                  f"{_fmt(values['turn_to_parse_p50'], 2)}")
    long = report.get("long_conversation")
    if long:
        print(f"\nOne long conversation ({long['turns']} turns):")
        for name in names:
            row = long[name]
            print(f"  {name:<12} turn p50 {_fmt(row['turn']['p50_ms'])} ms (first 50: "
                  f"{_fmt(row['first_50_turns']['p50_ms'])}, last 50: "
                  f"{_fmt(row['last_50_turns']['p50_ms'])}), parse p50 "
                  f"{_fmt(row['parse']['p50_ms'])} ms, ratio {_fmt(row['turn_to_parse_p50'], 2)}")
    load = report.get("concurrent", {})
    print(f"\n{load.get('conversations')} conversations x {load.get('messages')} messages at "
          f"once (median of rounds; latency over all rounds):")
    for name in names:
        row = load[name]
        print(f"  {name:<12} {_fmt(row['messages_per_second'])} messages/s, p50 "
              f"{_fmt(row['p50_ms'], 0)} ms, p95 {_fmt(row['p95_ms'], 0)} ms, p99 "
              f"{_fmt(row['p99_ms'], 0)} ms, failed {row['failed']} "
              f"(rounds: {', '.join(_fmt(r['messages_per_second']) for r in row['per_round'])})")
    stock = load.get("stock", {}).get("messages_per_second")
    for name in names:
        if name.startswith("ours") and name in load and stock:
            print(f"  {name} / stock messages per second: "
                  f"{load[name]['messages_per_second'] / stock:.2f}")


def print_prod(report: Dict[str, Any]) -> None:
    """The production profile's figures."""
    print(f"\nProduction profile, {report.get('conversations')} conversations x "
          f"{report.get('messages')} messages at once:")
    for key in ("replicas_1", "replicas_2"):
        row = report[key]
        print(f"  {key.replace('_', ' '):<11} {_fmt(row['messages_per_second'])} messages/s, "
              f"p50 {_fmt(row['p50_ms'], 0)} ms, p95 {_fmt(row['p95_ms'], 0)} ms, p99 "
              f"{_fmt(row['p99_ms'], 0)} ms, failed {row['failed']} (rounds: "
              f"{', '.join(_fmt(r['messages_per_second']) for r in row['per_round'])})")
    print(f"  2 replicas / 1 replica: {_fmt(report.get('scaling_2_over_1'), 2)}")


def print_check(checks: Dict[str, Any]) -> bool:
    """The lost-message check's result; True if nothing was lost anywhere."""
    ok = True
    for name, check in checks.items():
        verdict = "zero lost" if check["zero_lost"] else "PROBLEMS"
        print(f"  check {name:<12} ({check['store']}): {check['conversations']} conversations, "
              f"{check['messages']} user messages, {check['bot_messages']} bot messages: "
              f"{verdict}")
        for sender, problems in check["problems"].items():
            print(f"    {sender}: {'; '.join(problems[:3])}")
        ok = ok and check["zero_lost"]
    return ok
