"""Deleting conversations from Rasa's SQL tracker store (SQLite or PostgreSQL).

Used by the tracker store for "delete my data" and by
tools/purge_conversations.py for the retention period. Every function works on
the `events` table of Rasa's `SQLTrackerStore` through an SQLAlchemy engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.utils.common import class_from_module_path
from rasa.utils.endpoints import EndpointConfig

EVENTS = SQLTrackerStore.SQLEvent.__table__
#: Seconds a PostgreSQL connection attempt may take before the script gives up.
CONNECT_TIMEOUT = 10
#: Rasa's tracker store types that are not SQL (None: in memory).
NOT_SQL = frozenset({"", "in_memory", "redis", "mongod", "dynamo"})


@dataclass(frozen=True)
class PurgeResult:
    """How many conversations, and events in them, were (or would be) deleted."""

    conversations: int
    events: int


def delete_conversation(engine: sa.engine.Engine, sender_id: str) -> int:
    """Deletes every stored event of one conversation, in all its sessions.

    Args:
        engine: The tracker store's engine.
        sender_id: The conversation id.

    Returns:
        The number of events deleted.
    """
    with engine.begin() as connection:
        result = connection.execute(sa.delete(EVENTS).where(EVENTS.c.sender_id == sender_id))
        return int(result.rowcount or 0)


def purge_older_than(engine: sa.engine.Engine, cutoff: float, dry_run: bool = False
                     ) -> PurgeResult:
    """Deletes the conversations whose last event is older than `cutoff`.

    One DELETE statement with a sub-query, so a conversation is removed whole or not
    at all. Events without a timestamp are ignored when finding the last event.

    Args:
        engine: The tracker store's engine.
        cutoff: A Unix time; conversations whose newest event is older are deleted.
        dry_run: Only count what would be deleted.

    Returns:
        The conversations and events deleted (or that would be).
    """
    if not sa.inspect(engine).has_table(EVENTS.name):
        return PurgeResult(0, 0)
    old = (sa.select(EVENTS.c.sender_id).group_by(EVENTS.c.sender_id)
           .having(sa.func.max(EVENTS.c.timestamp) < cutoff))
    with engine.begin() as connection:
        conversations = connection.execute(
            sa.select(sa.func.count()).select_from(old.subquery())).scalar_one()
        if dry_run:
            events = connection.execute(
                sa.select(sa.func.count()).select_from(EVENTS)
                .where(EVENTS.c.sender_id.in_(old))).scalar_one()
            return PurgeResult(int(conversations), int(events))
        result = connection.execute(sa.delete(EVENTS).where(EVENTS.c.sender_id.in_(old)))
        return PurgeResult(int(conversations), int(result.rowcount or 0))


def database_url(config: EndpointConfig) -> str:
    """The database URL of the SQL tracker store an endpoints file's `tracker_store` names.

    Accepts `type: SQL` and any subclass of `SQLTrackerStore` given by module path,
    with the same keys (`url`, `dialect`, `db`, `port`, `username`, `password`,
    `login_db`, `query`).

    Raises:
        ValueError: The tracker store is not an SQL one.
    """
    store_type = str(config.type or "")
    if store_type.lower() in NOT_SQL:
        raise ValueError(f"'{store_type or 'in memory'}' is not an SQL tracker store")
    if store_type.lower() != "sql":
        try:
            store_class = class_from_module_path(store_type)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"unknown tracker store type '{store_type}'") from error
        if not (isinstance(store_class, type) and issubclass(store_class, SQLTrackerStore)):
            raise ValueError(f"'{store_type}' is not an SQL tracker store")
    settings: Dict[str, Any] = dict(config.kwargs)
    port = str(settings.get("port") or "")
    return str(SQLTrackerStore.get_db_url(
        dialect=settings.get("dialect", "sqlite"), host=config.url,
        port=int(port) if port else None, db=settings.get("db", "rasa.db"),
        username=settings.get("username"), password=settings.get("password"),
        login_db=None, query=settings.get("query")))


def engine_for(config: EndpointConfig) -> sa.engine.Engine:
    """An engine for the SQL tracker store an endpoints file's `tracker_store` names.

    Raises:
        ValueError: As `database_url`, or its SQLite file is missing.
    """
    url = database_url(config)
    kwargs = create_engine_kwargs(url)
    backend = sa.engine.make_url(url)
    if backend.get_backend_name() == "sqlite" and not Path(backend.database or "").is_file():
        raise ValueError(f"the SQLite file '{backend.database}' does not exist")
    if backend.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {**kwargs.get("connect_args", {}),
                                  "connect_timeout": CONNECT_TIMEOUT}
    return sa.create_engine(url, **kwargs)
