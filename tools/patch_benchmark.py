"""Does each change to Rasa's internals pay? Side-by-side figures, one run.

Usage:
    python -m tools.patch_benchmark [--rounds 5] [--conversations 20] [--turns 10]
                                    [--long-turns 60] [--stock-rule-model PATH]
                                    [--only VARIANT ...] [--extra NAME=PATCHES[@MODEL] ...]
                                    [--model PATH] [--parse-rounds N [--parse-patches NAME ...]]

Starts one assistant per variant, all at once (same model, same machine, same
background load), and then takes turns between them:

- `all`: every change of `runtime.rasa_patches` (what `make run` runs);
- `none`: stock Rasa code everywhere (`RASA_PATCHES=none`);
- `without <name>`: every change but one, for each change.

With `--stock-rule-model` (a model trained from config.yml with stock
`RulePolicy` in place of `LeanRulePolicy`), a variant `stock RulePolicy` serves
that model with every patch, so the policy class is measured the same way.

Each round sends, to each variant in a shuffled order, `--conversations`
conversations at once of `--turns` messages each (a conversation waits for each
answer), then one long conversation of `--long-turns` messages. Printed per
variant: the median round's messages per second with the rounds' range, and the
long conversation's turn p50. A change pays when the variant without it is
slower than `all` by more than the spread of `all`'s own rounds.

`--parse-rounds N` measures instead, in this one process, the CPU time of an
NLU parse (`Agent.parse_message` on the same messages) with stock Rasa and with
each change named by `--parse-patches` (default `direct_predict`) alone,
alternating every round: CPU time, not wall time, so that other processes on a
shared machine sway it less. Printed: median, first quartile and minimum per
parse, and their ratios to stock.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import requests

from runtime.rasa_patches import PATCHES
from tools.running_assistant import MODEL, Assistant, running_assistant

#: What users ask, in the order a conversation asks them (cycled).
MESSAGES = (
    "why do I get leg cramps at night?", "what about in pregnancy?",
    "does magnesium help?", "how do I stretch my calf?", "when should I see a doctor?",
    "could my statins cause it?", "thanks", "what can I do to prevent them?",
    "is tonic water any good?", "my calf is swollen, hot and red",
)


@dataclass
class Variant:
    """One assistant set up for comparison."""

    name: str
    patches: str
    model: Path
    assistant: Optional[Assistant] = None
    rates: List[float] = field(default_factory=list)
    long_turns_ms: List[float] = field(default_factory=list)
    #: The long conversation's turn p50 of each round.
    long_p50s: List[float] = field(default_factory=list)


def converse(url: str, turns: int, session: requests.Session) -> List[float]:
    """One conversation of `turns` messages; each answer's time in ms."""
    sender = uuid.uuid4().hex
    times = []
    for turn in range(turns):
        start = time.perf_counter()
        answer = session.post(f"{url}/webhooks/rest/webhook", timeout=60,
                              json={"sender": sender, "message": MESSAGES[turn % len(MESSAGES)]})
        answer.raise_for_status()
        if not answer.json():
            raise RuntimeError(f"{url}: empty answer")
        times.append((time.perf_counter() - start) * 1000)
    return times


def load_round(url: str, conversations: int, turns: int) -> float:
    """Messages per second for `conversations` conversations at once."""
    sessions = [requests.Session() for _ in range(conversations)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=conversations) as pool:
        done = list(pool.map(lambda s: converse(url, turns, s), sessions))
    elapsed = time.perf_counter() - start
    for session in sessions:
        session.close()
    return sum(len(times) for times in done) / elapsed


def variants(stock_rule_model: Optional[Path], model: Path = MODEL) -> List[Variant]:
    """`all`, `none`, one without each change, and optionally stock RulePolicy."""
    names = [patch.name for patch in PATCHES]
    found = [Variant("all", "all", model), Variant("none", "none", model)]
    for name in names:
        others = ",".join(n for n in names if n != name) or "none"
        found.append(Variant(f"without {name}", others, model))
    if stock_rule_model is not None:
        found.append(Variant("stock RulePolicy", "all", stock_rule_model))
    return found


@contextlib.contextmanager
def started(all_variants: Sequence[Variant], tmp: Path) -> Iterator[None]:
    """Every variant's assistant, up at the same time."""
    with contextlib.ExitStack() as stack:
        for number, variant in enumerate(all_variants):
            folder = tmp / f"variant-{number}"
            folder.mkdir()
            variant.assistant = stack.enter_context(running_assistant(
                folder, env={"RASA_PATCHES": variant.patches}, model=variant.model))
        yield


def parse_cpu(model: Path, rounds: int, names: Sequence[str], calls: int = 50) -> None:
    """Prints the CPU time per NLU parse: stock Rasa against each named change alone."""
    import asyncio
    import os

    from rasa.core.agent import Agent

    from runtime import rasa_patches

    os.environ[rasa_patches.SELECTION_VARIABLE] = "none"  # the model loads with stock code
    agent = Agent.load(str(model))
    loop = asyncio.new_event_loop()
    chosen = {name: [p for p in PATCHES if p.name == name] for name in names}
    times: dict[str, List[float]] = {"stock": [], **{name: [] for name in names}}
    for number in range(rounds):
        order = ["stock", *names]
        for name in order if number % 2 == 0 else order[::-1]:
            rasa_patches.uninstall()
            rasa_patches.install(chosen.get(name, []))
            loop.run_until_complete(agent.parse_message(MESSAGES[0]))  # first call: set-up
            started = time.process_time()
            for call in range(calls):
                loop.run_until_complete(agent.parse_message(MESSAGES[call % len(MESSAGES)]))
            times[name].append((time.process_time() - started) / calls * 1000)
    rasa_patches.uninstall()
    loop.close()
    base = times["stock"]
    print(f"\nCPU ms per NLU parse, {rounds} rounds of {calls} parses (median / q1 / min; "
          "ratio to stock):")
    for name, values in times.items():
        q1 = sorted(values)[len(values) // 4]
        print(f"  {name:<24} {statistics.median(values):6.2f} / {q1:6.2f} / {min(values):6.2f}"
              f"   ({statistics.median(values) / statistics.median(base):.3f} / "
              f"{q1 / sorted(base)[len(base) // 4]:.3f} / {min(values) / min(base):.3f})")


def spread(values: Sequence[float]) -> float:
    """Highest minus lowest."""
    return max(values) - min(values) if values else 0.0


def main(argv: Optional[List[str]] = None) -> int:
    """Measures every variant and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--long-turns", type=int, default=60)
    parser.add_argument("--model", type=Path, default=MODEL,
                        help="the trained model every variant serves (default: make run's)")
    parser.add_argument("--stock-rule-model", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", nargs="+", default=None, metavar="VARIANT",
                        help="measure only these variants (besides `all`), e.g. "
                             "'without graph_runner' 'stock RulePolicy'")
    parser.add_argument("--extra", nargs="+", default=[], metavar="NAME=PATCHES[@MODEL]",
                        help="more variants: a name, the $RASA_PATCHES value, and "
                             "optionally another model, e.g. 'kept=a,b@build/m.tar.gz'")
    parser.add_argument("--parse-rounds", type=int, default=0,
                        help="measure the CPU time per NLU parse instead (see above)")
    parser.add_argument("--parse-patches", nargs="+", default=["direct_predict"])
    args = parser.parse_args(argv)
    if args.parse_rounds:
        parse_cpu(args.model, args.parse_rounds, args.parse_patches)
        return 0
    order = random.Random(args.seed)
    chosen = [variant for variant in variants(args.stock_rule_model, args.model)
              if args.only is None or variant.name == "all" or variant.name in args.only]
    for extra in args.extra:
        name, _, rest = extra.partition("=")
        patches, _, model = rest.partition("@")
        chosen.append(Variant(name, patches or "none", Path(model) if model else args.model))
    with tempfile.TemporaryDirectory(prefix="patch-benchmark-") as tmp, \
            started(chosen, Path(tmp)):
        for variant in chosen:  # warm up: first calls load lazily
            assert variant.assistant is not None
            load_round(variant.assistant.base, 4, 3)
        for number in range(args.rounds):
            for variant in order.sample(chosen, len(chosen)):
                assert variant.assistant is not None
                variant.rates.append(load_round(variant.assistant.base, args.conversations,
                                                args.turns))
                with requests.Session() as session:
                    turns_ms = converse(variant.assistant.base, args.long_turns, session)
                variant.long_turns_ms.extend(turns_ms)
                variant.long_p50s.append(statistics.median(turns_ms))
            print(f"round {number + 1} of {args.rounds} done", flush=True)
    baseline = chosen[0]
    base_rate = statistics.median(baseline.rates)
    print(f"\n{args.conversations} conversations x {args.turns} messages at once, "
          f"{args.rounds} rounds; one conversation of {args.long_turns} turns per round.")
    print(f"Run-to-run spread of `all`: {spread(baseline.rates):.1f} messages/s, "
          f"{spread(baseline.long_p50s):.1f} ms of long-conversation p50.\n")
    print("| variant | messages/s (median) | rounds' range | vs all | long-conversation "
          "turn p50 | rounds' range | pays? |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for variant in chosen:
        rate = statistics.median(variant.rates)
        long_p50 = statistics.median(variant.long_turns_ms)
        pays = ""
        if variant.name != "all" and variant.name != "none":
            faster = base_rate - rate > spread(baseline.rates)
            shorter = (statistics.median(variant.long_p50s) - statistics.median(baseline.long_p50s)
                       > spread(baseline.long_p50s))
            pays = ("yes: " + " and ".join(
                what for what, shown in (("throughput", faster), ("long conversation", shorter))
                if shown)) if faster or shorter else "not shown"
        print(f"| {variant.name} | {rate:.1f} | {min(variant.rates):.1f}-"
              f"{max(variant.rates):.1f} | {rate / base_rate:.2f} | {long_p50:.1f} ms | "
              f"{min(variant.long_p50s):.1f}-{max(variant.long_p50s):.1f} ms | {pays} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
