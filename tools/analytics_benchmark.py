"""Times the console's analytics queries on generated conversations, against the 2 s target.

Usage:
    python -m tools.analytics_benchmark [--conversations 100000] [--days 90] [--runs 5]
                                        [--postgres] [--seed 7] [--keep]

Generates `--conversations` conversations spread over the `--days` days before
now, as Rasa's SQL tracker store writes them (one `events` row per event: the
session start, user messages with their parse data and channel, the actions,
the bot's answers from the content store with the disclaimer, the `topic` slot,
"did you mean" offers after `nlu_fallback`, urgent-care answers, feedback
replies), into a fresh SQLite file in build/ (`build/analytics_benchmark.db`,
deleted afterwards unless `--keep`), and with `--postgres` also into a fresh
database on the local PostgreSQL of `scripts/services.sh` (started if needed,
dropped afterwards). Rows go in with bulk inserts (SQLite `executemany`,
PostgreSQL `COPY`).

Then, per database: `console.analytics_schema.ensure_analytics_schema` (what
the console's migration runs: indexes, the facts of the stored events,
triggers; timed), the cost of a bulk insert per event before and after it (the
triggers' share of every save), then each query of `console.analytics.Analytics`
`--runs` times over the whole period; printed: the median and the slowest run,
against the 2 s target. Exits 1 if a median misses it.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console.analytics import QUERIES, Analytics, Period
from console.analytics_schema import ensure_analytics_schema
from nightcramps.content_store import YamlContentStore
from tools.stats import median

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 2.0
COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")
Row = Tuple[str, str, float, Optional[str], Optional[str], str]

#: input_channel -> share of conversations.
CHANNELS = {"rest": 0.62, "telegram": 0.12, "facebook": 0.1, "slack": 0.06, "twilio": 0.1}
#: Turns per conversation -> share.
TURNS = {1: 0.25, 2: 0.3, 3: 0.2, 4: 0.12, 5: 0.08, 6: 0.05}
FALLBACK_SHARE = 0.08  # of messages: nlu_fallback, answered with "did you mean" buttons
URGENT_SHARE = 0.015  # of messages: a red flag, answered with urgent care
SMALL_TALK_SHARE = 0.07  # greet / thank / goodbye
FEEDBACK_REPLY_SHARE = 0.45  # of feedback questions answered
NEGATIVE_SHARE = 0.3  # of feedback replies
SMALL_TALK = {"greet": ("hello", "utter_greet", "Hi! I answer questions about night-time "
                        "leg cramps."),
              "thank": ("thanks", "utter_you_are_welcome", "You're welcome."),
              "goodbye": ("bye", "utter_goodbye", "Take care.")}
PHRASINGS = ("why do I get {t} at night", "tell me about {t}", "{t}?", "what about {t}",
             "can you explain {t} please", "I keep waking up, {t}")


@dataclass(frozen=True)
class Topic:
    """A content entry as the generator uses it."""

    id: str
    intent: str
    answer: str  # with the disclaimer, as the action sends it


def topics_from(content: Path) -> List[Topic]:
    """The content store's answerable topics (urgent care separately)."""
    store = YamlContentStore(content)
    return [Topic(e.id, e.intent, f"{e.answer}\n\n{store.disclaimer}")
            for e in store.entries()]


class Generator:
    """Builds the `events` rows of realistic conversations, as Rasa's store writes them."""

    def __init__(self, topics: Sequence[Topic], seed: int) -> None:
        """Takes the content store's topics and a random seed."""
        self.random = random.Random(seed)
        self.urgent = next(t for t in topics if t.id == "urgent_care")
        self.topics = [t for t in topics if t.id != "urgent_care"]
        self.intents = [t.intent for t in topics]
        self.model_id = uuid.UUID(int=seed).hex

    def _pick(self, weights: Dict[Any, float]) -> Any:
        return self.random.choices(list(weights), list(weights.values()))[0]

    @staticmethod
    def _row(sender: str, data: Dict[str, Any], intent: Optional[str] = None) -> Row:
        return (sender, data["event"], data["timestamp"], intent, data.get("name"),
                json.dumps(data))

    def _action(self, sender: str, name: str, at: float) -> Row:
        policy = None if name in ("action_listen", "action_session_start") else \
            "policy_1_LeanRulePolicy"
        return self._row(sender, {"event": "action", "timestamp": at, "name": name,
                                  "policy": policy, "confidence": 1.0 if policy else None,
                                  "action_text": None, "hide_rule_turn": False})

    def _bot(self, sender: str, text: str, at: float,
             buttons: Optional[List[Dict[str, str]]] = None,
             utter_action: Optional[str] = None) -> Row:
        return self._row(sender, {
            "event": "bot", "timestamp": at,
            "metadata": {"utter_action": utter_action, "model_id": self.model_id,
                         "assistant_id": "night-cramps"},
            "text": text, "data": {"elements": None, "quick_replies": None,
                                   "buttons": buttons, "attachment": None, "image": None,
                                   "custom": None}})

    def _slot(self, sender: str, name: str, value: Optional[str], at: float) -> Row:
        return self._row(sender, {"event": "slot", "timestamp": at, "name": name,
                                  "value": value})

    def _user(self, sender: str, text: str, intent: str, confidence: float, channel: str,
              at: float) -> Row:
        message_id = uuid.UUID(int=self.random.getrandbits(128)).hex
        others = self.random.sample(self.intents, 9)
        ranking = [{"name": intent, "confidence": confidence}] + [
            {"name": name, "confidence": round((1 - confidence) / 10, 4)}
            for name in others if name != intent][:9]
        parse_data = {"intent": {"name": intent, "confidence": confidence}, "entities": [],
                      "text": text, "message_id": message_id, "metadata": {},
                      "intent_ranking": ranking}
        return self._row(sender, {"event": "user", "timestamp": at, "text": text,
                                  "parse_data": parse_data, "input_channel": channel,
                                  "message_id": message_id, "metadata": {}}, intent)

    def conversation(self, sender: str, start: float) -> List[Row]:
        """The rows of one conversation starting at `start` (a Unix time)."""
        rows = [self._action(sender, "action_session_start", start),
                self._row(sender, {"event": "session_started", "timestamp": start}),
                self._action(sender, "action_listen", start)]
        channel = self._pick(CHANNELS)
        at, answers = start, 0
        for _ in range(self._pick(TURNS)):
            at += self.random.uniform(8, 90)
            draw = self.random.random()
            if draw < FALLBACK_SHARE:
                rows.append(self._user(sender, "cramp thing again hmm", "nlu_fallback", 0.3,
                                       channel, at))
                rows.append(self._action(sender, "action_offer_topics", at + 0.05))
                offered = self.random.sample(self.topics, 3)
                rows.append(self._bot(sender, "I'm not sure I understood. Did you mean one of "
                                      "these? You can also rephrase your question.", at + 0.06,
                                      [{"title": t.id, "payload": f"/{t.intent}"}
                                       for t in offered]))
            elif draw < FALLBACK_SHARE + URGENT_SHARE:
                rows.append(self._user(sender, "my leg is swollen, red and hot",
                                       "report_urgent_symptoms", 0.97, channel, at))
                rows.append(self._action(sender, "action_answer_question", at + 0.05))
                rows.append(self._bot(sender, self.urgent.answer, at + 0.06))
                rows.append(self._slot(sender, "topic", self.urgent.id, at + 0.07))
            elif draw < FALLBACK_SHARE + URGENT_SHARE + SMALL_TALK_SHARE:
                intent = self.random.choice(list(SMALL_TALK))
                text, response, reply = SMALL_TALK[intent]
                rows.append(self._user(sender, text, intent, 0.99, channel, at))
                rows.append(self._action(sender, response, at + 0.05))
                rows.append(self._bot(sender, reply, at + 0.06, utter_action=response))
            else:
                topic = self.random.choice(self.topics)
                text = self.random.choice(PHRASINGS).format(t=topic.id.replace("_", " "))
                rows.append(self._user(sender, text, topic.intent,
                                       round(self.random.uniform(0.6, 0.99), 4), channel, at))
                rows.append(self._action(sender, "action_answer_question", at + 0.05))
                rows.append(self._bot(sender, topic.answer, at + 0.06))
                rows.append(self._slot(sender, "topic", topic.id, at + 0.07))
                answers += 1
                if answers == 2:  # actions/feedback.py: asked after the second answer
                    rows.append(self._bot(sender, "Did that answer help?", at + 0.08, [
                        {"title": "Yes, it helped", "payload": "/give_positive_feedback"},
                        {"title": "Not really", "payload": "/give_negative_feedback"}]))
                    rows.append(self._action(sender, "action_listen", at + 0.09))
                    if self.random.random() < FEEDBACK_REPLY_SHARE:
                        at += self.random.uniform(3, 20)
                        negative = self.random.random() < NEGATIVE_SHARE
                        intent = "give_negative_feedback" if negative else \
                            "give_positive_feedback"
                        rows.append(self._user(sender, f"/{intent}", intent, 1.0, channel, at))
                        rows.append(self._action(sender, "action_record_feedback", at + 0.05))
                        rows.append(self._bot(sender, "Thank you.", at + 0.06))
                        rows.append(self._slot(sender, "feedback_topic", topic.id, at + 0.07))
                        rows.append(self._slot(sender, "feedback",
                                               "negative" if negative else "positive",
                                               at + 0.08))
                    continue
            rows.append(self._action(sender, "action_listen", at + 0.1))
        return rows

    def rows(self, conversations: int, first: float, last: float, prefix: str = "bench-"
             ) -> Iterator[Row]:
        """The rows of `conversations` conversations starting between two Unix times."""
        for number in range(conversations):
            start = self.random.uniform(first, last)
            yield from self.conversation(f"{prefix}{number:07d}", start)


def batches(rows: Iterator[Row], size: int = 20000) -> Iterator[List[Row]]:
    """Rows in lists of `size`."""
    batch: List[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def create_events_table(engine: Engine) -> None:
    """Rasa's `events` table, as `SQLTrackerStore` creates it."""
    from rasa.core.tracker_store import SQLTrackerStore

    SQLTrackerStore.SQLEvent.__table__.create(engine, checkfirst=True)


def load(engine: Engine, rows: Iterator[Row]) -> int:
    """Bulk-inserts rows into `events` (executemany on SQLite, COPY on PostgreSQL)."""
    create_events_table(engine)
    count = 0
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        for batch in batches(rows):
            if engine.dialect.name == "sqlite":
                cursor.executemany(f"INSERT INTO events ({', '.join(COLUMNS)}) "
                                   f"VALUES (?, ?, ?, ?, ?, ?)", batch)
            else:
                buffer = io.StringIO()
                csv.writer(buffer).writerows(
                    tuple("\\N" if value is None else value for value in row)
                    for row in batch)
                buffer.seek(0)
                cursor.copy_expert(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN "
                                   f"WITH (FORMAT csv, NULL '\\N')", buffer)
            count += len(batch)
        connection.commit()
    finally:
        connection.close()
    return count


def time_queries(analytics: Analytics, period: Period, runs: int
                 ) -> Dict[str, List[float]]:
    """Seconds each query took, `runs` times each (round-robin)."""
    timings: Dict[str, List[float]] = {name: [] for name in QUERIES}
    for _ in range(runs):
        for name in QUERIES:
            query: Callable[[Period], Any] = getattr(analytics, name)
            began = time.perf_counter()
            query(period)
            timings[name].append(time.perf_counter() - began)
    return timings


def insert_cost(engine: Engine, generator: Generator, now: float, label: str) -> float:
    """Microseconds per event to bulk-insert 1,000 more conversations (then deleted)."""
    rows = list(generator.rows(1000, now - 3600, now - 600, prefix=f"cost-{label}-"))
    began = time.perf_counter()
    load(engine, iter(rows))
    seconds = time.perf_counter() - began
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM events WHERE sender_id LIKE :prefix"),
                           {"prefix": f"cost-{label}-%"})
    return 1e6 * seconds / len(rows)


def measure(label: str, engine: Engine, generator: Generator, period: Period, runs: int,
            now: float) -> bool:
    """Migrates, times the queries; prints; True if every median meets the target."""
    before = insert_cost(engine, generator, now, "before")
    began = time.perf_counter()
    ensure_analytics_schema(engine)
    migration = time.perf_counter() - began
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))  # as autovacuum would
    after = insert_cost(engine, generator, now, "after")
    analytics = Analytics(engine)
    timings = time_queries(analytics, period, runs)
    print(f"\n{label}: migration (indexes, facts of the stored events, triggers) "
          f"{migration:.1f} s; bulk insert {before:.0f} us/event before it, {after:.0f} after "
          f"(the triggers)")
    print(f"  period {period.start} to {period.end} ({period.days} days), {runs} runs")
    print(f"  {'query':<12} {'median':>9} {'slowest':>9}  target {TARGET_SECONDS:.0f} s")
    ok = True
    for name in QUERIES:
        middle = median(timings[name])
        ok = ok and middle < TARGET_SECONDS
        verdict = "ok" if middle < TARGET_SECONDS else "MISSED"
        print(f"  {name:<12} {middle:>8.3f}s {max(timings[name]):>8.3f}s  {verdict}")
    report = analytics.report(period)
    print(f"  ({report.volume.conversations} conversations, {report.volume.messages} messages "
          f"in the period; fallback rate {report.fallbacks.fallback_rate:.1%}, "
          f"\"did you mean\" {report.fallbacks.offer_rate:.1%})")
    return ok


def generate(engine: Engine, conversations: int, days: int, seed: int, now: float
             ) -> Generator:
    """Fills `engine`'s `events` table; prints how long it took; returns the generator."""
    generator = Generator(topics_from(ROOT / "content"), seed)
    began = time.perf_counter()
    count = load(engine, generator.rows(conversations, now - days * 86400, now - 600))
    print(f"generated {conversations} conversations ({count} events) in "
          f"{time.perf_counter() - began:.1f} s")
    return generator


SERVICES_SH = ROOT / "scripts" / "services.sh"


def start_services() -> bool:
    """Starts the local services unless they run; True if started here."""
    if subprocess.run(["bash", str(SERVICES_SH), "status"], capture_output=True,
                      check=False).returncode == 0:
        return False
    subprocess.run(["bash", str(SERVICES_SH), "start"], check=True, timeout=300)
    return True


def services_env() -> Dict[str, str]:
    """The local services' `export` variables (`services.sh env`)."""
    script = SERVICES_SH
    output = subprocess.run(["bash", str(script), "env"], capture_output=True, text=True,
                            check=True).stdout
    env = {}
    for line in output.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export "):].partition("=")
            env[name] = value.strip("'\"")
    return env


def postgres_url(env: Dict[str, str], database: str) -> sa.engine.URL:
    """The URL of a database on the local PostgreSQL."""
    return sa.engine.URL.create("postgresql", username=env["DB_USER"],
                                password=env["DB_PASSWORD"], host=env["DB_HOST"],
                                port=int(env["DB_PORT"]), database=database)


def run_postgres(args: argparse.Namespace, period: Period, now: float) -> bool:
    """Generates and measures in a fresh PostgreSQL database, dropped afterwards.

    Stops the local services afterwards if it started them (as the tests do).
    """
    started = start_services()
    try:
        return _run_postgres(args, period, now, services_env())
    finally:
        if started:
            subprocess.run(["bash", str(SERVICES_SH), "stop"], check=False, timeout=120)


def _run_postgres(args: argparse.Namespace, period: Period, now: float,
                  env: Dict[str, str]) -> bool:
    database = f"analytics_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url(env, env["DB_NAME"]), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    engine = sa.create_engine(postgres_url(env, database))
    try:
        generator = generate(engine, args.conversations, args.days, args.seed, now)
        return measure("PostgreSQL", engine, generator, period, args.runs, now)
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Generates the data, times the queries, prints the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", action="store_true",
                        help="also on the local PostgreSQL (scripts/services.sh)")
    parser.add_argument("--keep", action="store_true", help="keep the generated databases")
    parser.add_argument("--db", type=Path, default=ROOT / "build" / "analytics_benchmark.db")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    args = parser.parse_args(argv)
    if not 0 < args.conversations <= 1000000 or not 0 < args.days <= 366 or args.runs < 1:
        parser.error("--conversations 1..1000000, --days 1..366, --runs >= 1")
    now = time.time()
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    period = Period.last_days(args.days + 1, today)  # the generated days, whole
    from stores.sql_tracker_store import tuned_engine

    ok = True
    if not args.no_sqlite:
        args.db.parent.mkdir(parents=True, exist_ok=True)
        for path in (args.db, Path(f"{args.db}-wal"), Path(f"{args.db}-shm")):
            path.unlink(missing_ok=True)
        engine = tuned_engine(sa.engine.make_url(f"sqlite:///{args.db}"))
        try:
            generator = generate(engine, args.conversations, args.days, args.seed, now)
            ok = measure("SQLite", engine, generator, period, args.runs, now)
        finally:
            engine.dispose()
            if not args.keep:
                for path in (args.db, Path(f"{args.db}-wal"), Path(f"{args.db}-shm")):
                    path.unlink(missing_ok=True)
    if args.postgres:
        ok = run_postgres(args, period, now) and ok
    print("\nevery query within the target" if ok else "\nsome query missed the target")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
