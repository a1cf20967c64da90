"""Latency statistics shared by the benchmarks."""

from __future__ import annotations

import math
import statistics
from typing import Dict, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))  # 1-based: the smallest value with q% at or below
    return ordered[max(1, min(len(ordered), rank)) - 1]


def median(values: Sequence[float]) -> float:
    """The median; NaN for no values."""
    return statistics.median(values) if values else float("nan")


def summary(latencies_ms: Sequence[float]) -> Dict[str, float]:
    """Count, p50, p95, p99 and mean of latencies in milliseconds."""
    return {"count": len(latencies_ms), "p50_ms": median(latencies_ms),
            "p95_ms": percentile(latencies_ms, 95), "p99_ms": percentile(latencies_ms, 99),
            "mean_ms": statistics.fmean(latencies_ms) if latencies_ms else float("nan")}
