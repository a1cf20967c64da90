"""Times the worst inputs a client can send through redaction, text cleaning and safety.

    python -m tools.input_benchmark [--repeats N]

Each input (a 20,000-character token, 30,000 digits, 50,000- and
100,000-character tokens, 100 KB of metadata-like text, and a 256 KiB body of
punctuation) goes through `stores.redaction.redact`, the NLU's text cleaner
(`components.text_cleaner.clean_text`) and the safety net
(`nightcramps.safety.SafetyNet.red_flags`); the median wall time of a few runs is
printed in milliseconds. Every request under the body cap should be answered
within `BUDGET_MS`; the exit status is 1 when the slowest input, all steps together,
takes longer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

#: What one request may cost, all steps together, in milliseconds.
BUDGET_MS = 1000.0


def worst_inputs() -> Dict[str, str]:
    """The inputs measured, by name."""
    metadata = json.dumps({"fields": [{"name": f"field{i}", "value": "a.b@c 07700 900" * 4}
                                      for i in range(1000)]})[:100_000]
    return {
        "20k-char token": "a" * 20_000,
        "30k digits": "7" * 30_000,
        "50k-char token": "x1-" * (50_000 // 3),
        "100k-char token": "a" * 100_000,
        "100 KB metadata-like text": metadata,
        "256 KiB punctuation": "!" * 262_144,
        "256 KiB 'born' and spaces": "born" + " " * 262_140,
    }


def median_ms(step: Callable[[str], object], text: str, repeats: int) -> float:
    """Median wall time of `step(text)` in ms; each run's text differs (no cache answers)."""
    times: List[float] = []
    for run in range(repeats):
        varied = f"{run} {text}{run}"
        start = time.perf_counter()
        step(varied)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Prints one line per input and step; returns 1 if a step exceeds the budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement")
    args = parser.parse_args(argv)

    from components.text_cleaner import clean_text
    from nightcramps.content_store import content_dir
    from nightcramps.safety import SafetyNet
    from nightcramps.text_limits import MAX_MESSAGE_LENGTH
    from stores.redaction import redact

    net = SafetyNet.from_file(content_dir() / "safety.yml")
    steps: Dict[str, Callable[[str], object]] = {
        "redaction": redact,
        "text cleaner": lambda text: clean_text(text, MAX_MESSAGE_LENGTH),
        "safety net": net.red_flags,
    }
    print(f"{'input':28} " + " ".join(f"{name:>14}" for name in steps) + "   (median ms)")
    worst = 0.0
    for name, text in worst_inputs().items():
        figures = [median_ms(step, text, args.repeats) for step in steps.values()]
        worst = max(worst, sum(figures))
        print(f"{name:28} " + " ".join(f"{figure:14.1f}" for figure in figures))
    verdict = "within" if worst <= BUDGET_MS else "OVER"
    print(f"slowest input, all steps: {worst:.1f} ms ({verdict} the {BUDGET_MS:.0f} ms budget)")
    return 0 if worst <= BUDGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
