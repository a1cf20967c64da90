"""End-to-end evaluation: messages nobody trained on, sent to a running assistant.

Each message (or conversation) goes through the REST channel of a real assistant
(`tools/running_assistant.py`: the trained model, the action server, SQLite)
and is scored on the `topic` slot read back through the HTTP API, as a user
meets it. Sets are YAML files (see `EvalSet`); `tests/end_to_end.yml` says which
set is blind, which are dev sets, the targets and the ratchet that `make test`
gates on.

A blind set's individual errors are never printed: studying them makes it dev
data. Dev sets print theirs with `--show-errors`.

Usage:
    python -m tools.content.end_to_end                 # every set, figures and gates
    python -m tools.content.end_to_end --show-errors   # plus the dev sets' misses
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import yaml
from pydantic import BaseModel, Field, ValidationError, validator

from nightcramps.content_store import content_dir
from tools.content.topics import topic_for_intent

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tests" / "end_to_end.yml"
URGENT_TOPIC = "urgent_care"
OFFER_ACTION = "action_offer_topics"
#: The figures, in print order, each with its direction ("min": higher is better).
FIGURES = {
    "topic_accuracy": "min",
    "did_you_mean_rate": "max",
    "did_you_mean_right_topic": "min",
    "follow_up_accuracy": "min",
    "oos_rejection": "min",
    "near_miss_rejection": "min",
    "red_flag_recall": "min",
    "false_urgent_rate": "max",
}

#: Replays a conversation's user turns; returns the outcome after each.
Converse = Callable[[Sequence[str]], List["Outcome"]]


class SingleTurn(BaseModel):
    """An in-scope question and the topic that answers it."""

    text: str = Field(..., min_length=1)
    topic: str
    also_ok: List[str] = []
    kind: str = "plain"


class FollowUp(BaseModel):
    """A conversation whose last turn needs the earlier ones to be understood."""

    kind: str
    turns: List[str] = Field(..., min_items=2, max_items=6)
    topic: str
    also_ok: List[str] = []


class OutOfScope(BaseModel):
    """A message the assistant should decline; `near_miss` if it uses the domain's words."""

    text: str = Field(..., min_length=1)
    near_miss: bool = False


class RedFlag(BaseModel):
    """A message that needs the urgent-care answer."""

    text: str = Field(..., min_length=1)


class EvalSet(BaseModel):
    """One evaluation set file."""

    version: int = 1
    single_turn: List[SingleTurn] = []
    follow_ups: List[FollowUp] = []
    out_of_scope: List[OutOfScope] = []
    red_flags: List[RedFlag] = []

    @validator("follow_ups", each_item=True)
    def _turns_not_empty(cls, value: FollowUp) -> FollowUp:
        if not all(turn.strip() for turn in value.turns):
            raise ValueError("every turn needs text")
        return value


def merge(parts: Sequence[EvalSet]) -> EvalSet:
    """One set made of several files' sections (a blind set written in parts)."""
    return EvalSet(
        single_turn=[item for part in parts for item in part.single_turn],
        follow_ups=[item for part in parts for item in part.follow_ups],
        out_of_scope=[item for part in parts for item in part.out_of_scope],
        red_flags=[item for part in parts for item in part.red_flags],
    )


class SetError(ValueError):
    """An evaluation set file is unreadable or breaks the schema."""


def load_set(path: Path, topic_ids: Sequence[str]) -> EvalSet:
    """Reads and validates a set; every topic must be a topic id of the store.

    Raises:
        SetError: naming the file and the field at fault.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        evaluation_set = EvalSet.parse_obj(raw)
    except (OSError, yaml.YAMLError) as error:
        raise SetError(f"{path}: {error}") from error
    except ValidationError as error:
        raise SetError(f"{path}: {error}") from error
    known = set(topic_ids)
    labelled: List[tuple[str, SingleTurn | FollowUp]] = [
        *((f"single_turn[{i}]", item) for i, item in enumerate(evaluation_set.single_turn)),
        *((f"follow_ups[{i}]", item) for i, item in enumerate(evaluation_set.follow_ups)),
    ]
    for where, item in labelled:
        for topic in (item.topic, *item.also_ok):
            if topic not in known:
                raise SetError(f"{path}: {where}: unknown topic '{topic}'")
    return evaluation_set


@dataclass(frozen=True)
class Outcome:
    """What one user turn got: the topic slot after it and any topics offered."""

    topic: Optional[str]
    offered: Optional[List[str]] = None  # topics behind "did you mean" buttons, if asked

    @property
    def asked(self) -> bool:
        """Whether the assistant answered with "did you mean" buttons."""
        return self.offered is not None


def outcome_from_tracker(tracker: Mapping[str, Any],
                         topic_for_intent: Mapping[str, str]) -> Outcome:
    """Reads the outcome of the latest user turn from a tracker's JSON.

    Args:
        tracker: The tracker as the HTTP API returns it.
        topic_for_intent: Intent name -> topic id, for the buttons' payloads.
    """
    events = list(tracker.get("events") or [])
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    after = events[last_user + 1:]
    offered: Optional[List[str]] = None
    if any(e.get("event") == "action" and e.get("name") == OFFER_ACTION for e in after):
        offered = []
        for event in after:
            for button in ((event.get("data") or {}).get("buttons") or []
                           if event.get("event") == "bot" else []):
                intent = str(button.get("payload") or "").lstrip("/").split("{")[0]
                if intent in topic_for_intent:
                    offered.append(topic_for_intent[intent])
    return Outcome((tracker.get("slots") or {}).get("topic"), offered)


def rest_conversation(base: str, token: str, topic_for_intent: Mapping[str, str]) -> Converse:
    """A `Converse` that talks to the REST channel of the assistant at `base`."""
    import requests

    def converse(turns: Sequence[str]) -> List[Outcome]:
        sender = f"eval-{uuid.uuid4().hex}"
        outcomes = []
        with requests.Session() as session:
            for text in turns:
                reply = session.post(f"{base}/webhooks/rest/webhook",
                                     json={"sender": sender, "message": text}, timeout=60)
                reply.raise_for_status()
                tracker = session.get(f"{base}/conversations/{sender}/tracker",
                                      params={"token": token}, timeout=60)
                tracker.raise_for_status()
                outcomes.append(outcome_from_tracker(tracker.json(), topic_for_intent))
        return outcomes

    return converse


@dataclass
class SetResult:
    """One set's figures, per-kind breakdowns and misses."""

    name: str
    blind: bool
    counts: Dict[str, int]
    figures: Dict[str, float]
    by_kind: Dict[str, Dict[str, float]] = field(default_factory=dict)
    misses: List[Dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        """The result as JSON-ready data (a blind set's misses are left out)."""
        return {"name": self.name, "blind": self.blind, "counts": self.counts,
                "figures": self.figures, "by_kind": self.by_kind,
                "misses": [] if self.blind else self.misses}


def _share(hits: int, total: int) -> float:
    return hits / total if total else math.nan


def _kinds(rows: Sequence[tuple[str, bool]]) -> Dict[str, float]:
    totals: Dict[str, List[int]] = {}
    for kind, ok in rows:
        totals.setdefault(kind, [0, 0])
        totals[kind][0] += int(ok)
        totals[kind][1] += 1
    return {kind: round(hits / n, 3) for kind, (hits, n) in sorted(totals.items())}


def score_set(name: str, evaluation_set: EvalSet, converse: Converse, *, blind: bool,
              workers: int = 4) -> SetResult:
    """Sends every message and conversation of a set; returns its figures.

    Args:
        name: The set's name in reports (its path).
        evaluation_set: The set.
        converse: Replays user turns in a new conversation (e.g. `rest_conversation`).
        blind: Whether the set is blind (its misses are then never kept).
        workers: Conversations in flight at once.
    """
    singles = evaluation_set.single_turn
    jobs: List[Sequence[str]] = [
        *([item.text] for item in singles),
        *(item.turns for item in evaluation_set.follow_ups),
        *([item.text] for item in evaluation_set.out_of_scope),
        *([item.text] for item in evaluation_set.red_flags),
    ]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        finals = [outcomes[-1] for outcomes in pool.map(converse, jobs)]
    single_out = finals[: len(singles)]
    rest = finals[len(singles):]
    follow_out = rest[: len(evaluation_set.follow_ups)]
    rest = rest[len(evaluation_set.follow_ups):]
    oos_out = rest[: len(evaluation_set.out_of_scope)]
    flag_out = rest[len(evaluation_set.out_of_scope):]

    misses: List[Dict[str, Any]] = []
    single_ok = []
    for item, got in zip(singles, single_out, strict=True):
        ok = got.topic in (item.topic, *item.also_ok)
        single_ok.append((item.kind, ok))
        if not ok:
            misses.append({"section": "single_turn", "kind": item.kind, "text": item.text,
                           "expected": item.topic, "got": got.topic, "offered": got.offered})
    asked = [(item, got) for item, got in zip(singles, single_out, strict=True) if got.asked]
    follow_ok = []
    for conversation, got in zip(evaluation_set.follow_ups, follow_out, strict=True):
        ok = got.topic in (conversation.topic, *conversation.also_ok)
        follow_ok.append((conversation.kind, ok))
        if not ok:
            misses.append({"section": "follow_ups", "kind": conversation.kind,
                           "text": " | ".join(conversation.turns),
                           "expected": conversation.topic, "got": got.topic,
                           "offered": got.offered})
    rejected = []
    for declined, got in zip(evaluation_set.out_of_scope, oos_out, strict=True):
        ok = got.topic is None
        kind = "near_miss" if declined.near_miss else "unrelated"
        rejected.append((kind, ok))
        if not ok:
            misses.append({"section": "out_of_scope", "kind": kind, "text": declined.text,
                           "expected": None, "got": got.topic, "offered": got.offered})
    caught = []
    for flag, got in zip(evaluation_set.red_flags, flag_out, strict=True):
        caught.append(got.topic == URGENT_TOPIC)
        if got.topic != URGENT_TOPIC:
            misses.append({"section": "red_flags", "kind": "red_flag", "text": flag.text,
                           "expected": URGENT_TOPIC, "got": got.topic, "offered": got.offered})

    near = [ok for kind, ok in rejected if kind == "near_miss"]
    figures = {
        "topic_accuracy": _share(sum(ok for _, ok in single_ok), len(singles)),
        "did_you_mean_rate": _share(len(asked), len(singles)),
        "did_you_mean_right_topic": _share(
            sum(item.topic in (got.offered or []) or bool(set(item.also_ok)
                                                           & set(got.offered or []))
                for item, got in asked), len(asked)),
        "follow_up_accuracy": _share(sum(ok for _, ok in follow_ok), len(follow_ok)),
        "oos_rejection": _share(sum(ok for _, ok in rejected), len(rejected)),
        "near_miss_rejection": _share(sum(near), len(near)),
        "red_flag_recall": _share(sum(caught), len(caught)),
        "false_urgent_rate": _share(sum(got.topic == URGENT_TOPIC for got in single_out),
                                    len(singles)),
    }
    counts = {"single_turn": len(singles), "follow_ups": len(follow_ok),
              "out_of_scope": len(rejected), "near_misses": len(near),
              "red_flags": len(caught), "did_you_mean": len(asked)}
    by_kind = {"single_turn": _kinds(single_ok), "follow_ups": _kinds(follow_ok),
               "out_of_scope": _kinds(rejected)}
    return SetResult(name, blind, counts, {k: round(v, 4) for k, v in figures.items()},
                     by_kind, [] if blind else misses)


class Config(BaseModel):
    """`tests/end_to_end.yml`: the sets, the targets and the ratchet."""

    blind: List[str]
    dev: List[str] = []

    @validator("blind", pre=True)
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value
    targets: Dict[str, float]
    gates: Dict[str, float]

    @validator("targets", "gates")
    def _known_figures(cls, value: Dict[str, float]) -> Dict[str, float]:
        unknown = set(value) - set(FIGURES)
        if unknown:
            raise ValueError(f"unknown figures {sorted(unknown)}; use {list(FIGURES)}")
        return value


def load_config(path: Path = CONFIG) -> Config:
    """Reads the evaluation config."""
    try:
        return Config.parse_obj(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise SetError(f"{path}: {error}") from error


def meets(figure: str, value: float, bound: float) -> bool:
    """Whether `value` is on the right side of `bound` for this figure."""
    if math.isnan(value):
        return False
    return value >= bound if FIGURES[figure] == "min" else value <= bound


def gate_failures(result: SetResult, gates: Mapping[str, float]) -> List[str]:
    """The ratchet's failures for one (blind) set."""
    return [f"{result.name}: {figure} {result.figures[figure]:.3f} "
            f"{'<' if FIGURES[figure] == 'min' else '>'} gate {bound}"
            for figure, bound in gates.items() if not meets(figure, result.figures[figure],
                                                            bound)]


def print_results(results: Sequence[SetResult], config: Config, show_errors: bool) -> None:
    """Prints each set's figures beside the targets and the blind set's gates."""
    print("\nEnd-to-end evaluation (REST channel of a running assistant, `topic` slot)")
    names = ["BLIND" if r.blind else f"dev {Path(r.name).stem}" for r in results]
    header = f"{'figure':28}{'target':>9}{'gate':>9}" + "".join(f"{n:>22}" for n in names)
    print(header)
    print("-" * len(header))
    for figure, direction in FIGURES.items():
        sign = ">=" if direction == "min" else "<="
        target = config.targets.get(figure)
        gate = config.gates.get(figure)
        row = f"{figure:28}{(f'{sign}{target}' if target is not None else ''):>9}"
        row += f"{(f'{sign}{gate}' if gate is not None else ''):>9}"
        for result in results:
            value = result.figures[figure]
            if math.isnan(value):  # the set has no messages of that kind
                row += f"{'-':>20}  "
                continue
            mark = "" if target is None or meets(figure, value, target) else " *"
            row += f"{value:>20.3f}{mark:2}"
        print(row)
    print("(* misses its target)")
    for result in results:
        counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
        print(f"\n{'BLIND' if result.blind else 'dev'} {result.name}: {counts}")
        for section, kinds in result.by_kind.items():
            print(f"  {section} by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in kinds.items()))
        if show_errors and not result.blind:
            for miss in result.misses:
                offered = "" if miss["offered"] is None else f" offered {miss['offered']}"
                print(f"  [{miss['section']}/{miss['kind']}] expected {miss['expected']}, "
                      f"got {miss['got']}{offered}: {miss['text']}")


def evaluate(config: Optional[Config] = None, model: Optional[Path] = None,
             dev_only: bool = False) -> List[SetResult]:
    """Starts an assistant on a temporary SQLite file and scores every set on it.

    Args:
        config: The sets, targets and gates; `tests/end_to_end.yml` if None.
        model: The model to serve; the trained `models/night-cramps.tar.gz` if None.
        dev_only: Leave the blind set out.
    """
    from tools.running_assistant import MODEL, TOKEN, running_assistant

    config = config or load_config()
    topics = topic_for_intent(content_dir())
    topic_ids = sorted(topics.values())
    sets = [(path, False, load_set(ROOT / path, topic_ids)) for path in config.dev]
    if not dev_only:
        parts = [load_set(ROOT / path, topic_ids) for path in config.blind]
        sets.insert(0, (" + ".join(config.blind), True, merge(parts)))
    with tempfile.TemporaryDirectory() as tmp, running_assistant(
            Path(tmp), model=model or MODEL) as assistant:
        converse = rest_conversation(assistant.base, TOKEN, topics)
        return [score_set(path, evaluation_set, converse, blind=blind)
                for path, blind, evaluation_set in sets]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Scores every set end to end; exits 1 when the blind set falls below a gate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-errors", action="store_true",
                        help="print the dev sets' misses (never the blind set's)")
    parser.add_argument("--model", type=Path, default=None,
                        help="the model to score (default: models/night-cramps.tar.gz)")
    parser.add_argument("--dev-only", action="store_true",
                        help="score the dev sets only, e.g. while comparing configurations")
    args = parser.parse_args(argv)
    config = load_config()
    results = evaluate(config, args.model, dev_only=args.dev_only)
    print_results(results, config, args.show_errors)
    if args.dev_only:
        return 0
    failures = gate_failures(results[0], config.gates)
    print("\nBlind-set gates: " + ("all met" if not failures else "MISSED: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
