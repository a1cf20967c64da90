"""CPU seconds used by process trees, read from /proc (for tools/proxy_benchmark.py).

A tree is a process and everything below it (Sanic workers, PostgreSQL backends,
nginx workers). Its CPU time is the user and system time of every live process in
it plus the time of children it already reaped (`cutime`, `cstime`), so a backend
that exits between two readings still counts. The difference of two readings is
the CPU the tree spent in between.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional

from tools.processes import descendants, process_table

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def process_seconds(pid: int) -> float:
    """The utime + stime + cutime + cstime of one process, in seconds (0 if it is gone)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
    return sum(int(value) for value in fields[11:15]) / TICKS


def tree(root: int) -> List[int]:
    """`root` and its descendants."""
    return [root, *descendants(root, process_table())]


def tree_seconds(roots: Iterable[int]) -> float:
    """CPU seconds of the trees below `roots` (each process counted once)."""
    table = process_table()
    pids = set()
    for root in roots:
        if root in table:
            pids.add(root)
            pids.update(descendants(root, table))
    return sum(process_seconds(pid) for pid in pids)


def own_seconds() -> float:
    """CPU seconds of this process (all its threads), without its children."""
    times = os.times()
    return times.user + times.system


def listening_pid(port: int) -> Optional[int]:
    """The process listening on TCP `port` on IPv4 (None if none, or not ours to see).

    Reads the socket's inode in /proc/net/tcp, then finds the process holding it
    among /proc/*/fd (only processes this user may inspect: root sees all).
    """
    inodes = set()
    for line in (PROC / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(fields[9])
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    found: List[int] = []
    for entry in PROC.glob("[0-9]*"):
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if links & targets:
            found.append(int(entry.name))
    # Forked servers share the socket: the parent (lowest pid in the tree) is the root.
    table = process_table()
    roots = [pid for pid in found if table.get(pid) is None or table[pid].ppid not in found]
    return min(roots) if roots else None


def snapshot(groups: Mapping[str, Iterable[int]]) -> Dict[str, float]:
    """CPU seconds of each named group of trees, and of this process (`client`)."""
    reading = {name: tree_seconds(roots) for name, roots in groups.items()}
    reading["client"] = own_seconds()
    return reading


def spent(before: Mapping[str, float], after: Mapping[str, float]) -> Dict[str, float]:
    """CPU seconds spent per group between two snapshots."""
    return {name: max(0.0, after[name] - before.get(name, 0.0)) for name in after}
