"""The inbox: messages from real conversations the assistant handled badly.

Usage:
    python -m tools.content.inbox [--endpoints endpoints.yml | --db tracker.db]
                                    [--threshold 0.6] [--similarity 0.5] [--json]
    python -m tools.content.inbox assign <id> <topic-id> [--heldout]
    python -m tools.content.inbox out-of-scope <id> [--heldout]
    python -m tools.content.inbox ignore <id>

It reads the tracker store's `events` table (Rasa's SQL tracker store: the SQLite
file of endpoints.yml by default, or PostgreSQL from an endpoints file) and lists
the user messages where the assistant

- fell back: the classifier said `nlu_fallback`, or `action_offer_topics` ran;
- was unsure: the top intent's confidence is below `--threshold`;
- got "Not really": the message that led to an answer rated negatively
  (actions/feedback.py sets `feedback_topic` and `feedback` in the tracker).

Only the text as stored is shown (the tracker store has already redacted e-mails,
phone numbers and other identifiers). Button clicks (`/intent` payloads) and the
feedback replies themselves are not listed. Similar messages are grouped
(normalised text, character-trigram Jaccard similarity of at least
`--similarity`), each group with the topic the model suggested most often.

Message ids are a short hash of the conversation id, time and text, so they are
stable; a group's id is `g` followed by its first message's id (a group may gain
members as new conversations come in). Triage:

- `assign` appends the text as a `    - text` line to the intent's block in the
  data/nlu/ file that holds most of that intent's examples (with `--heldout`, to
  tests/heldout/nlu.yml instead);
- `out-of-scope` does the same for the `out_of_scope` intent;
- `ignore` only records the decision.

A text already in the training data, the held-out tests or the safety net's red
flags (after `make check`'s normalisation) is refused. Every decision is recorded
in content/inbox_triage.yml (committed, so the team shares decisions; it holds
ids, decisions and targets, never message text) and the message leaves the inbox.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import yaml

from nightcramps import contract
from tools.content.check import trigram_similarities
from tools.content.nlu import Example, duplicate_key, examples_in, red_flag_messages, yaml_files
from tools.content.topics import topic_for_intent
from tools.content.yaml_lines import LocatedYaml, YamlFileError

ROOT = Path(__file__).resolve().parents[2]
TRIAGE_FILE = Path("content") / "inbox_triage.yml"
HELDOUT_FILE = Path(contract.HELDOUT_FILE)
RED_FLAGS_FILE = Path(contract.PHRASINGS_FILE)
OUT_OF_SCOPE = contract.OUT_OF_SCOPE_INTENT
FALLBACK_INTENT = contract.FALLBACK_INTENT
FALLBACK_ACTION = "action_offer_topics"
#: Replies to the feedback question: never listed themselves.
FEEDBACK_INTENTS = ("give_positive_feedback", "give_negative_feedback")
FALLBACK = "fallback"
UNSURE = "unsure"
NEGATIVE_FEEDBACK = "negative feedback"
DECISIONS = ("assigned", "out_of_scope", "ignored")


class InboxError(Exception):
    """A problem staff must fix (unknown id or topic, duplicate text, no store)."""


@dataclass
class Message:
    """One user message the inbox lists."""

    id: str
    sender_id: str
    timestamp: float
    text: str
    reasons: List[str] = field(default_factory=list)
    suggested_intent: Optional[str] = None
    suggested_topic: Optional[str] = None

    def add(self, reason: str) -> None:
        """Adds a reason once."""
        if reason not in self.reasons:
            self.reasons.append(reason)


@dataclass
class Group:
    """Similar messages, with the topic the model suggested most often."""

    id: str
    messages: List[Message]
    suggested_topic: Optional[str]


def message_id(sender_id: str, timestamp: float, text: str) -> str:
    """The stable id of a stored message: a short hash of sender, time and text."""
    digest = hashlib.sha256(f"{sender_id}\x00{timestamp!r}\x00{text}".encode())
    return digest.hexdigest()[:10]


# -- reading the tracker store ---------------------------------------------------------


def database_url(endpoints: Path, root: Path) -> str:
    """The SQLAlchemy URL of the tracker store an endpoints file configures.

    Raises:
        InboxError: the file has no SQL tracker store.
    """
    from sqlalchemy.engine.url import URL

    try:
        config = yaml.safe_load(endpoints.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise InboxError(f"cannot read {endpoints}: {error}") from None
    store = config.get("tracker_store") if isinstance(config, dict) else None
    if not isinstance(store, dict) or "dialect" not in store and "db" not in store:
        raise InboxError(f"{endpoints} has no SQL tracker store (tracker_store with "
                         f"dialect and db); pass --db tracker.db")

    def value(key: str) -> Optional[str]:
        raw = store.get(key)
        return os.path.expandvars(str(raw)) if raw is not None else None

    dialect = value("dialect") or "sqlite"
    db = value("db") or "rasa.db"
    if dialect == "sqlite":
        return f"sqlite:///{sqlite_path(db, root)}"
    port = value("port")
    url = URL.create(dialect, username=value("username"), password=value("password"),
                     host=value("url"), port=int(port) if port else None, database=db)
    return str(url.render_as_string(hide_password=False))


def sqlite_path(db: str, root: Path) -> Path:
    """An SQLite file named in an endpoints file or on the command line."""
    path = Path(db)
    return path if path.is_absolute() else root / path


def read_events(url: str) -> List[Dict[str, Any]]:
    """Every stored event, per conversation in the order stored.

    Raises:
        InboxError: the store cannot be read.
    """
    import sqlalchemy as sa

    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        raise InboxError(f"no tracker store at {url[len('sqlite:///'):]}: "
                         f"no conversation has been stored yet")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
                "FROM events ORDER BY sender_id, id")).fetchall()
    except sa.exc.SQLAlchemyError as error:
        raise InboxError(f"cannot read the tracker store: {error}") from None
    finally:
        engine.dispose()
    events = []
    for sender_id, type_name, timestamp, intent_name, action_name, data in rows:
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {}
        events.append({"sender_id": sender_id, "type_name": type_name,
                       "timestamp": float(timestamp or 0.0), "intent_name": intent_name,
                       "action_name": action_name, "data": parsed})
    return events


# -- finding the messages --------------------------------------------------------------


def _suggestion(parse_data: Mapping[str, Any]) -> Optional[str]:
    """The top intent of the ranking that is not the fallback."""
    for candidate in parse_data.get("intent_ranking") or []:
        name = candidate.get("name") if isinstance(candidate, dict) else None
        if name and name != FALLBACK_INTENT:
            return str(name)
    intent = (parse_data.get("intent") or {}).get("name")
    return str(intent) if intent and intent != FALLBACK_INTENT else None


def find_messages(events: Sequence[Mapping[str, Any]], topics: Mapping[str, str],
                  threshold: float = 0.6) -> List[Message]:
    """The user messages that fell back, were unsure or got negative feedback.

    Args:
        events: Rows of the `events` table (see `read_events`), per sender in order.
        topics: intent -> content topic id.
        threshold: Below this top-intent confidence a message counts as unsure.
    """
    found: Dict[str, Message] = {}
    sender: Optional[str] = None
    last_user: Optional[Message] = None
    answered_by: Dict[str, Message] = {}
    feedback_topic: Optional[str] = None
    for event in events:
        if event["sender_id"] != sender:
            sender, last_user, answered_by, feedback_topic = event["sender_id"], None, {}, None
        kind, data = event["type_name"], event["data"]
        if kind == "session_started":
            last_user, answered_by = None, {}
        elif kind == "user":
            last_user = _user_message(event, topics, threshold, found)
        elif kind == "action" and event.get("action_name") == FALLBACK_ACTION:
            if last_user is not None:
                found.setdefault(last_user.id, last_user).add(FALLBACK)
        elif kind == "slot":
            name, value = data.get("name"), data.get("value")
            if name == "topic" and isinstance(value, str):
                if last_user is not None:
                    answered_by[value] = last_user
                else:  # answered after a button click: no typed message to show
                    answered_by.pop(value, None)
            elif name == "feedback_topic":
                feedback_topic = value if isinstance(value, str) else None
            elif name == "feedback" and value == "negative" and feedback_topic:
                asked = answered_by.get(feedback_topic)
                if asked is not None:
                    found.setdefault(asked.id, asked).add(
                        f"{NEGATIVE_FEEDBACK} ({feedback_topic})")
    return sorted(found.values(), key=lambda m: (m.timestamp, m.id))


def _user_message(event: Mapping[str, Any], topics: Mapping[str, str], threshold: float,
                  found: Dict[str, Message]) -> Optional[Message]:
    """The `Message` of a user event (recorded in `found` if it fell back or was unsure)."""
    data = event["data"]
    text = " ".join(str(data.get("text") or "").split())
    parse_data = data.get("parse_data") or {}
    intent = parse_data.get("intent") or {}
    name = intent.get("name") or event.get("intent_name")
    if not text or text.startswith("/") or name in FEEDBACK_INTENTS:
        return None  # a button click, or a reply to the feedback question
    suggested = _suggestion(parse_data)
    message = Message(message_id(event["sender_id"], event["timestamp"], text),
                      event["sender_id"], event["timestamp"], text,
                      suggested_intent=suggested,
                      suggested_topic=topics.get(suggested or "") or (
                          OUT_OF_SCOPE if suggested == OUT_OF_SCOPE else None))
    confidence = intent.get("confidence")
    if name == FALLBACK_INTENT:
        found.setdefault(message.id, message).add(FALLBACK)
    elif isinstance(confidence, int | float) and confidence < threshold:
        found.setdefault(message.id, message).add(f"{UNSURE} ({confidence:.2f})")
    return message


def group_messages(messages: Sequence[Message], similarity: float = 0.5) -> List[Group]:
    """Groups messages whose normalised texts are the same or similar (single link)."""
    keys = [duplicate_key(m.text) for m in messages]
    parent = list(range(len(messages)))

    def root_of(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = root_of(i), root_of(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first: Dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in first:
            join(first[key], index)
        else:
            first[key] = index
    unique = list(first)
    for i, j, _ in trigram_similarities(unique, similarity):
        join(first[unique[i]], first[unique[j]])
    members: Dict[int, List[Message]] = {}
    for index, message in enumerate(messages):
        members.setdefault(root_of(index), []).append(message)
    groups = []
    for listed in members.values():
        votes = Counter(m.suggested_topic for m in listed if m.suggested_topic)
        topic = votes.most_common(1)[0][0] if votes else None
        groups.append(Group(f"g{listed[0].id}", listed, topic))
    return sorted(groups, key=lambda g: (-len(g.messages), g.messages[0].timestamp))


# -- triage ---------------------------------------------------------------------------


def read_triage(root: Path) -> List[Dict[str, Any]]:
    """The recorded decisions (content/inbox_triage.yml), oldest first."""
    path = root / TRIAGE_FILE
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    decisions = data.get("decisions") if isinstance(data, dict) else None
    return [d for d in decisions or [] if isinstance(d, dict)]


def write_triage(root: Path, decisions: Sequence[Mapping[str, Any]]) -> None:
    """Rewrites the triage file with `decisions` (the file is written by this tool only)."""
    path = root / TRIAGE_FILE
    header = ("# Inbox triage decisions, written by `python -m tools.content.inbox`\n"
              "# (assign / out-of-scope / ignore). Commit it: the team shares decisions.\n"
              "# Message ids only, never message text.\n")
    body = yaml.safe_dump({"decisions": [dict(d) for d in decisions]}, sort_keys=False,
                          allow_unicode=True)
    path.write_text(header + body, encoding="utf-8")


def inbox(root: Path, url: str, threshold: float = 0.6,
          similarity: float = 0.5) -> List[Group]:
    """The open inbox: grouped messages that have no triage decision yet."""
    decided = {str(d.get("id")) for d in read_triage(root)}
    topics = topic_for_intent(root / "content")
    messages = [m for m in find_messages(read_events(url), topics, threshold)
                if m.id not in decided]
    return group_messages(messages, similarity)


def resolve(groups: Sequence[Group], item_id: str) -> List[Message]:
    """The messages a message id or group id names.

    Raises:
        InboxError: no open message or group has that id.
    """
    for group in groups:
        if group.id == item_id:
            return list(group.messages)
        for message in group.messages:
            if message.id == item_id:
                return [message]
    raise InboxError(f"'{item_id}' is not an open message or group in the inbox "
                     f"(already decided, or mistyped?)")


def known_texts(root: Path) -> Dict[str, Tuple[str, str]]:
    """Maps each training, held-out and red-flag text (normalised) to (intent, where)."""
    known: Dict[str, Tuple[str, str]] = {}

    def add(examples: Sequence[Example], what: str) -> None:
        for example in examples:
            where = f"{what} {example.path.relative_to(root)}:{example.line}"
            known.setdefault(duplicate_key(example.text), (example.intent, where))

    for path in yaml_files(root / "data" / "nlu"):
        add(examples_in(LocatedYaml.read(path)), "training example")
    if (root / HELDOUT_FILE).exists():
        add(examples_in(LocatedYaml.read(root / HELDOUT_FILE)), "held-out test")
    if (root / RED_FLAGS_FILE).exists():
        red_flags = [e for e in red_flag_messages(LocatedYaml.read(root / RED_FLAGS_FILE))
                     if e.intent == "red_flags"]
        add(red_flags, "red-flag test")
    return known


def nlu_file_for(root: Path, intent: str) -> Path:
    """The data/nlu/ file holding most of an intent's examples.

    Raises:
        InboxError: no file holds the intent.
    """
    counts: Counter[Path] = Counter()
    for path in yaml_files(root / "data" / "nlu"):
        counts.update(e.path for e in examples_in(LocatedYaml.read(path)) if e.intent == intent)
    if not counts:
        raise InboxError(f"no file in data/nlu/ holds examples of '{intent}'")
    return counts.most_common(1)[0][0]


def append_example(path: Path, intent: str, text: str) -> int:
    """Appends `    - text` after the last example of the intent's block; returns its line.

    The file is edited as text, so its comments and layout are kept. A file without
    a block for the intent (the held-out file) gets a new block at its end.
    """
    doc = LocatedYaml.read(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    last = max((e.line for e in examples_in(doc) if e.intent == intent), default=0)
    if last == 0:
        tail = "" if not lines or lines[-1].endswith("\n") else "\n"
        block = f"\n- intent: {intent}\n  examples: |\n    - {text}\n"
        path.write_text("".join(lines) + tail + block, encoding="utf-8")
        return len(lines) + 4
    written = lines[last - 1]
    indent = written[:len(written) - len(written.lstrip())]
    lines.insert(last, f"{indent}- {text}\n")
    if not lines[last - 1].endswith("\n"):
        lines[last - 1] += "\n"
    path.write_text("".join(lines), encoding="utf-8")
    LocatedYaml.read(path)  # still valid YAML, or raise
    return last + 1


def example_text(text: str) -> str:
    """The message as one training line (brackets would read as entity annotations)."""
    return " ".join(text.replace("[", "(").replace("]", ")").split())


def decide(root: Path, groups: Sequence[Group], item_id: str, decision: str,
           topic: Optional[str] = None, heldout: bool = False) -> List[str]:
    """Applies a triage decision to a message or group; returns what was done.

    Args:
        root: The project folder.
        groups: The open inbox (`inbox`).
        item_id: A message id or group id from the listing.
        decision: `assigned`, `out_of_scope` or `ignored`.
        topic: The content topic id (for `assigned`).
        heldout: Add to tests/heldout/nlu.yml instead of data/nlu/.

    Raises:
        InboxError: unknown id or topic, or every text is already known.
    """
    messages = resolve(groups, item_id)
    record: Dict[str, Any] = {"decision": decision, "date": dt.date.today().isoformat()}
    done: List[str] = []
    if decision in ("assigned", "out_of_scope"):
        if decision == "assigned":
            intents = {t: i for i, t in topic_for_intent(root / "content").items()}
            if topic not in intents:
                raise InboxError(f"'{topic}' is not a topic id (see content/topics/)")
            intent = intents[topic]
            record["topic"] = topic
        else:
            intent = OUT_OF_SCOPE
        target = root / HELDOUT_FILE if heldout else nlu_file_for(root, intent)
        record.update(intent=intent, file=str(target.relative_to(root)))
        known = known_texts(root)
        added: Set[str] = set()
        for message in messages:
            text = example_text(message.text)
            key = duplicate_key(text)
            if key in known:
                known_intent, where = known[key]
                done.append(f"refused {message.id}: \"{text}\" is already a {where} "
                            f"({known_intent})")
                continue
            if key in added:
                continue
            line = append_example(target, intent, text)
            added.add(key)
            done.append(f"added {message.id}: \"{text}\" to "
                        f"{target.relative_to(root)}:{line} ({intent})")
        if not added:
            raise InboxError("\n".join(done) or "nothing to add")
    else:
        done.extend(f"ignored {m.id}" for m in messages)
    decisions = read_triage(root)
    decisions.extend({"id": m.id, **record} for m in messages)
    write_triage(root, decisions)
    return done


# -- the command line -----------------------------------------------------------------


def show(groups: Sequence[Group], where: str, as_json: bool = False) -> str:
    """The listing printed for staff (or JSON)."""
    if as_json:
        return json.dumps([{"id": g.id, "suggested_topic": g.suggested_topic,
                            "messages": [asdict(m) for m in g.messages]} for g in groups],
                          indent=2)
    count = sum(len(g.messages) for g in groups)
    lines = [f"Inbox ({where}): {count} message(s) in {len(groups)} group(s)"]
    for group in groups:
        lines.append("")
        lines.append(f"group {group.id}: {len(group.messages)} message(s), suggested topic: "
                     f"{group.suggested_topic or '-'}")
        for message in group.messages:
            lines.append(f"  {message.id}  [{', '.join(message.reasons)}]  {message.text}")
    if groups:
        lines += ["", "Triage: assign <id> <topic-id> [--heldout] | out-of-scope <id> | "
                      "ignore <id>  (an id is a message's or a group's)"]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=ROOT, help="the project folder")
    common.add_argument("--endpoints", type=Path, default=None,
                        help="endpoints file naming the tracker store (default: endpoints.yml)")
    common.add_argument("--db", default=None, help="an SQLite tracker store file instead")
    common.add_argument("--threshold", type=float, default=0.6,
                        help="below this confidence a message counts as unsure")
    common.add_argument("--similarity", type=float, default=0.5,
                        help="trigram similarity that puts two messages in one group")
    main_parser = argparse.ArgumentParser(prog="python -m tools.content.inbox",
                                          parents=[common], description=__doc__,
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
    main_parser.add_argument("--json", action="store_true", help="print the listing as JSON")
    commands = main_parser.add_subparsers(dest="command")
    assign = commands.add_parser("assign", parents=[common], help="add to a topic's examples")
    assign.add_argument("id")
    assign.add_argument("topic")
    assign.add_argument("--heldout", action="store_true",
                        help="add to tests/heldout/nlu.yml instead of data/nlu/")
    out = commands.add_parser("out-of-scope", parents=[common], help="add to out_of_scope")
    out.add_argument("id")
    out.add_argument("--heldout", action="store_true")
    ignore = commands.add_parser("ignore", parents=[common], help="drop from the inbox")
    ignore.add_argument("id")
    return main_parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Lists the inbox, or applies one triage decision; 1 on a refused decision."""
    args = parser().parse_args(argv)
    root: Path = args.root
    try:
        if args.db:
            url, where = f"sqlite:///{sqlite_path(args.db, root)}", str(args.db)
        else:
            endpoints = args.endpoints or root / "endpoints.yml"
            url, where = database_url(endpoints, root), f"tracker store of {endpoints}"
        groups = inbox(root, url, args.threshold, args.similarity)
        if args.command is None:
            print(show(groups, where, getattr(args, "json", False)))
            return 0
        decision = {"assign": "assigned", "out-of-scope": "out_of_scope",
                    "ignore": "ignored"}[args.command]
        done = decide(root, groups, args.id, decision, getattr(args, "topic", None),
                      getattr(args, "heldout", False))
    except (InboxError, YamlFileError) as error:
        print(f"inbox: {error}", file=sys.stderr)
        return 1
    print("\n".join(done))
    if decision != "ignored":
        print("Next: make check, make train, make evaluate, then make publish.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
