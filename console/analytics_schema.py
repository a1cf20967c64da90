"""What the analytics queries need in the tracker store's database: indexes and a facts table.

Two things make the queries of `console.analytics` fast (2 s on 100,000
conversations; `python -m tools.analytics_benchmark`):

- **Indexes on Rasa's `events` table** (`EVENT_INDEXES`): messages,
  conversations and fallbacks per day, and "did you mean" offers, come from the
  table's own columns (`type_name`, `timestamp`, `sender_id`, `intent_name`,
  `action_name`), read from the indexes alone.
- **`analytics_facts`**, one small row per event whose JSON holds a figure: the
  channel of each user message (`input_channel`) and the value of each `topic`,
  `feedback_topic` and `feedback` slot. Reading these from `events.data` meant
  parsing JSON at read time, which cost 1.1-1.7 s per query on 100,000
  conversations (SQLite 3.40 recomputes expression and generated-column values
  from the row; PostgreSQL cannot answer from an expression index alone).
  Database triggers keep the table exact: each row inserted into `events` adds
  its fact in the same transaction, and each row deleted ("delete my data",
  `make purge`) removes it, so the figures never count a deleted conversation.
  Rasa and the project's tracker store are unchanged; nothing but the triggers
  writes the table. No text is copied: channel names and slot values only.

`create_analytics_schema(connection)` creates whatever is missing (idempotent) and
fills the facts of the events already stored; `migration_step` is the same as a
step of `console.migrate.STEPS`. It holds the write lock on `events` until it
commits: on a new or small database that is a moment, but filling the facts of
100,000 stored conversations took 35-50 s (docs/performance.md), during which
Rasa's saves wait (SQLite gives up after its 10 s busy timeout and the store's
retries). Upgrade a large store with the assistant stopped or at a quiet time.
"""

from __future__ import annotations

from typing import List, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nightcramps.contract import FEEDBACK_SLOT, FEEDBACK_TOPIC_SLOT, TOPIC_SLOT

FACTS = "analytics_facts"
#: The facts' `name` for a user message's channel (the others are slot names).
CHANNEL = "input_channel"
#: The slots whose values are kept as facts.
SLOTS = (TOPIC_SLOT, FEEDBACK_TOPIC_SLOT, FEEDBACK_SLOT)

#: (name, columns) of the indexes on Rasa's `events` table.
EVENT_INDEXES: List[Tuple[str, str]] = [
    ("ix_events_analytics_user", "type_name, timestamp, sender_id, intent_name"),
    ("ix_events_analytics_action", "action_name, type_name, timestamp"),
]
#: (name, columns) of the indexes on `analytics_facts`.
FACT_INDEXES: List[Tuple[str, str]] = [
    ("ix_analytics_facts_name", "name, timestamp, value, sender_id, event_id"),
]
TRIGGERS = ("analytics_facts_insert", "analytics_facts_delete")

facts_table = sa.Table(
    FACTS, sa.MetaData(),
    sa.Column("event_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("sender_id", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("value", sa.Text),
)

_SLOT_LIST = ", ".join(f"'{slot}'" for slot in SLOTS)
#: Which events have a fact, for a row alias (`NEW`, `OLD`, a table name).
_HAS_FACT = ("({row}.type_name = 'user' OR ({row}.type_name = 'slot' "
             "AND {row}.action_name IN (" + _SLOT_LIST + ")))")


def _sqlite_fact(row: str) -> str:
    """SQLite: the fact's columns for an events row (invalid JSON gives a NULL value)."""
    return (f"{row}.id, {row}.sender_id, {row}.timestamp, "
            f"CASE WHEN {row}.type_name = 'user' THEN '{CHANNEL}' ELSE {row}.action_name END, "
            f"CASE WHEN json_valid({row}.data) THEN json_extract({row}.data, "
            f"CASE WHEN {row}.type_name = 'user' THEN '$.{CHANNEL}' ELSE '$.value' END) END")


def _postgres_fact(row: str) -> str:
    """PostgreSQL: the fact's columns for an events row."""
    return (f"{row}.id, {row}.sender_id, {row}.timestamp, "
            f"CASE WHEN {row}.type_name = 'user' THEN '{CHANNEL}' ELSE {row}.action_name END, "
            f"analytics_json_text({row}.data, "
            f"CASE WHEN {row}.type_name = 'user' THEN '{CHANNEL}' ELSE 'value' END)")


def _sqlite_statements() -> List[str]:
    columns = "event_id, sender_id, timestamp, name, value"
    return [
        f"CREATE TRIGGER IF NOT EXISTS analytics_facts_insert AFTER INSERT ON events "
        f"WHEN {_HAS_FACT.format(row='NEW')} BEGIN "
        f"INSERT OR REPLACE INTO {FACTS} ({columns}) SELECT {_sqlite_fact('NEW')}; END",
        f"CREATE TRIGGER IF NOT EXISTS analytics_facts_delete AFTER DELETE ON events "
        f"WHEN {_HAS_FACT.format(row='OLD')} BEGIN "
        f"DELETE FROM {FACTS} WHERE event_id = OLD.id; END",
        f"INSERT OR IGNORE INTO {FACTS} ({columns}) SELECT {_sqlite_fact('events')} "
        f"FROM events WHERE {_HAS_FACT.format(row='events')}",
    ]


def _postgres_statements() -> List[str]:
    columns = "event_id, sender_id, timestamp, name, value"
    return [
        # The text of a top-level JSON key; NULL (not an error) for invalid JSON, so a
        # malformed row can never make Rasa's insert fail.
        "CREATE OR REPLACE FUNCTION analytics_json_text(document text, key text) "
        "RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN "
        "RETURN document::json ->> key; "
        "EXCEPTION WHEN others THEN RETURN NULL; END $$",
        # Statement-level triggers: one INSERT ... SELECT per save or purge.
        f"CREATE OR REPLACE FUNCTION analytics_facts_on_insert() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN "
        f"INSERT INTO {FACTS} ({columns}) SELECT {_postgres_fact('added')} FROM added "
        f"WHERE {_HAS_FACT.format(row='added')} ON CONFLICT (event_id) DO NOTHING; "
        f"RETURN NULL; END $$",
        "CREATE OR REPLACE FUNCTION analytics_facts_on_delete() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN "
        f"DELETE FROM {FACTS} WHERE event_id IN (SELECT id FROM removed); "
        f"RETURN NULL; END $$",
        "CREATE OR REPLACE TRIGGER analytics_facts_insert AFTER INSERT ON events "
        "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
        "EXECUTE FUNCTION analytics_facts_on_insert()",
        "CREATE OR REPLACE TRIGGER analytics_facts_delete AFTER DELETE ON events "
        "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT "
        "EXECUTE FUNCTION analytics_facts_on_delete()",
        f"INSERT INTO {FACTS} ({columns}) SELECT {_postgres_fact('events')} FROM events "
        f"WHERE {_HAS_FACT.format(row='events')} ON CONFLICT (event_id) DO NOTHING",
    ]


def create_analytics_schema(connection: Connection) -> List[str]:
    """Creates the indexes, facts table and triggers that are missing; fills the facts.

    Creates Rasa's `events` table first if the tracker store has not yet (Rasa's
    own definition, so Rasa later finds it in place). Idempotent.

    Args:
        connection: A connection in a transaction, on the tracker store's database.

    Returns:
        The names of the tables, indexes and triggers created now.
    """
    from rasa.core.tracker_store import SQLTrackerStore

    SQLTrackerStore.SQLEvent.__table__.create(connection, checkfirst=True)
    inspector = sa.inspect(connection)
    created: List[str] = []
    if not inspector.has_table(FACTS):
        facts_table.create(connection)
        created.append(FACTS)
    for table, indexes in (("events", EVENT_INDEXES), (FACTS, FACT_INDEXES)):
        existing = {index["name"] for index in sa.inspect(connection).get_indexes(table)}
        for name, columns in indexes:
            if name not in existing:
                connection.execute(sa.text(
                    f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"))
                created.append(name)
    missing = [name for name in TRIGGERS if name not in triggers(connection)]
    if missing or FACTS in created:
        statements = (_sqlite_statements() if connection.dialect.name == "sqlite"
                      else _postgres_statements())
        for statement in statements:  # the triggers, then the facts of stored events
            connection.execute(sa.text(statement))
        created += missing
    if created:
        connection.execute(sa.text(f"ANALYZE {FACTS}"))  # the planner picks by statistics
        connection.execute(sa.text("ANALYZE events"))
    return created


def triggers(connection: Connection) -> List[str]:
    """The analytics triggers present on `events`."""
    if connection.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'"
    else:
        sql = ("SELECT DISTINCT trigger_name FROM information_schema.triggers "
               "WHERE event_object_table = 'events'")
    found = {str(row[0]) for row in connection.execute(sa.text(sql))}
    return [name for name in TRIGGERS if name in found]


def migration_step(connection: Connection) -> None:
    """`create_analytics_schema`, as a step of `console.migrate.STEPS`."""
    create_analytics_schema(connection)


def ensure_analytics_schema(engine: Engine) -> List[str]:
    """`create_analytics_schema` in a transaction of its own; returns what it created."""
    with engine.begin() as connection:
        return create_analytics_schema(connection)
