"""Rasa's SQL tracker store, with lean queries and retries across database restarts.

`ResilientSQLTrackerStore` keeps Rasa's table, rows and semantics (`type: SQL`,
`rasa/core/tracker_store.py` in Rasa 3.6.21: one `events` row per event, the
latest session read back, new events found by counting the stored ones) and
changes three things:

- **Lean queries.** Rasa builds its "events of the latest session" query with the
  ORM on every call, twice per message (once to read the tracker, once to count
  the stored events before appending), and inserts through ORM objects. With
  SQLAlchemy's statement-cache key generation that came to about 40% of a
  message's time outside NLU. Here the same queries are prepared once, as plain
  SQL, and new events go in with one multi-row INSERT. Saving a tracker with no
  events (Rasa saves a new conversation's before its first turn) stores nothing,
  as in Rasa, and now skips the transaction that found that out.
- **SQLite tuned for a server** (the default profile): a small pool of
  connections kept open (SQLAlchemy 1.4 opens a new file connection per query
  with SQLite), write-ahead logging and `synchronous=NORMAL` (no fsync on every
  commit; a committed turn survives a crash of the process, only a power cut can
  lose the last turns). This took saving a turn from about 35 ms to 3 ms here.
- **Reading a tracker back** skips Rasa's per-event search through every `Event`
  subclass (`Event.resolve_by_type`), which dominated reading long conversations,
  and parses only the rows it has not parsed before (`stores.event_cache`: the
  events of the rows a conversation's last read returned, by row id and text;
  `cached_events` in the endpoints file bounds them, 0 turns it off).
- **Database restarts are ridden out** (the production profile): PostgreSQL
  connections are checked before use (`pool_pre_ping`), and a read or a save
  that fails on a lost or refused connection is retried with backoff for up to
  `retry_seconds` (default 15 s) before giving up. Rasa would otherwise hand the
  error to `FailSafeTrackerStore`, which turns a failed read into a brand-new,
  empty conversation and a failed save into a copy kept in the process's memory,
  so the turn vanishes from the database while the user saw an answer. Retrying
  a save is safe: each attempt is one transaction that counts what is stored and
  appends the rest, so a repeated attempt never duplicates events.

If the database stays unreachable past `retry_seconds`, the read raises
`StorageUnavailable`, and the conversation is marked for the rest of the
request (`storage_failed`): the save of that turn is refused too, so the empty
conversation Rasa then works on is never written over the real one. The REST
channel of `connectors.resilience` reads the mark and answers 503 with a
"please try again" message: nothing of that message was stored, so a retry is
safe.

Configure it in the endpoints file with the same keys as `type: SQL`:

    tracker_store:
      type: stores.sql_tracker_store.ResilientSQLTrackerStore
      dialect: sqlite          # or postgresql, with url, port, db, username, password
      db: tracker.db
      retry_seconds: 15        # optional; or $TRACKER_STORE_RETRY_SECONDS
      cached_events: 10000     # optional; parsed events this process reuses (0 = none)

Subclasses that change which events are stored override `_additional_events`
(as in Rasa; `session` is then a SQLAlchemy Connection or Session: both have
`execute`), and those that change saving override `save` and call
`super().save(tracker)`.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import logging
import os
import time
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
    Type,
    TypeVar,
)

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from rasa.shared.utils.common import all_subclasses
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from stores.event_cache import DEFAULT_MAX_EVENTS, EventCache
from stores.sqlite_file import enable_wal

logger = logging.getLogger(__name__)

#: Seconds a read or save keeps retrying while the database is unreachable, unless the
#: endpoints file (`retry_seconds`) or this environment variable says otherwise.
DEFAULT_RETRY_SECONDS = 15.0
RETRY_SECONDS_ENV = "TRACKER_STORE_RETRY_SECONDS"
#: Pause before the first retry; doubled after each failed attempt, up to the maximum.
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 2.0
#: Connections kept open to an SQLite file (one process serves one message at a time
#: on its event loop; the API can read while a message is processed).
SQLITE_POOL_SIZE = 2
#: How long an SQLite statement waits for another process's write lock.
SQLITE_BUSY_TIMEOUT_MS = 10000

T = TypeVar("T")

# The latest session's events, as Rasa's `SQLTrackerStore._event_query` selects them
# (events from the last `session_started` on, or all when there is none), in id order.
_LATEST_SESSION = (
    "FROM events WHERE sender_id = :sender_id AND ("
    " (SELECT max(timestamp) FROM events WHERE sender_id = :sender_id"
    "  AND type_name = :session_started) IS NULL"
    " OR timestamp >= (SELECT max(timestamp) FROM events WHERE sender_id = :sender_id"
    "  AND type_name = :session_started))")
_SELECT_LATEST_SESSION = sa.text(f"SELECT id, data {_LATEST_SESSION} ORDER BY id")
_COUNT_LATEST_SESSION = sa.text(f"SELECT count(*) {_LATEST_SESSION}")
_SELECT_ALL_SESSIONS = sa.text(
    "SELECT id, data FROM events WHERE sender_id = :sender_id ORDER BY id")


class StorageUnavailable(RasaException):
    """The database could not be reached within the retry time."""


# Conversations whose tracker could not be read during the current request (a
# context variable: each request runs in its own asyncio task context).
_failed_reads: contextvars.ContextVar[Optional[Dict[str, bool]]] = contextvars.ContextVar(
    "failed_tracker_reads", default=None)


def begin_request() -> None:
    """Starts a fresh record of failed reads for the request being handled.

    Channels call it before handing a message to Rasa; without it, the record is
    kept per conversation and overwritten by each read, which is also correct.
    """
    _failed_reads.set({})


def storage_failed(sender_id: str) -> bool:
    """Whether this request could not read or save the conversation's tracker."""
    record = _failed_reads.get()
    return bool(record and record.get(sender_id))


def _mark(sender_id: str, failed: bool) -> None:
    record = _failed_reads.get()
    if record is None:
        record = {}
        _failed_reads.set(record)
    record[sender_id] = failed


def is_connection_error(error: BaseException) -> bool:
    """Whether `error` means the database was unreachable (worth retrying).

    A lost, refused or reset connection, or a server shutting down or starting up,
    surfaces as `OperationalError` (or `InterfaceError`), or as any DBAPI error
    SQLAlchemy flags as a disconnect. Constraint and SQL errors are not retried.
    """
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError)


def _enable_sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    enable_wal(dbapi_connection, SQLITE_BUSY_TIMEOUT_MS / 1000)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def tuned_engine(url: sa.engine.URL) -> Engine:
    """An engine for the tracker store's database, tuned as described above.

    Args:
        url: The database URL Rasa built from the endpoints file.

    Returns:
        For SQLite, a pooled engine with write-ahead logging; for other databases,
        Rasa's engine settings (pool size from `SQL_POOL_SIZE`/`SQL_MAX_OVERFLOW`,
        `POSTGRESQL_SCHEMA`) plus `pool_pre_ping`.
    """
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, poolclass=QueuePool, pool_size=SQLITE_POOL_SIZE,
                                  max_overflow=4, connect_args={"check_same_thread": False})
        sa_event.listen(engine, "connect", _enable_sqlite_wal)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))


_event_classes: Dict[str, Type[Event]] = {}
#: Rasa's `Event.resolve_by_type`, for names not in the cache.
_RASA_RESOLVE_BY_TYPE: Callable[..., Optional[Type[Event]]] = Event.resolve_by_type


def resolve_by_type(type_name: str, default: Optional[Type[Event]] = None
                    ) -> Optional[Type[Event]]:
    """`Event.resolve_by_type`, with its answers for Rasa's event classes cached.

    Rasa's `resolve_by_type` walks every subclass of `Event` for each event it reads
    (`all_subclasses`, with an `inspect.isabstract` check per class): for a tracker of
    a thousand events that was over 40% of a turn. The answer is cached here; names
    not in the cache (events defined after the first lookup) still go through Rasa.
    Only this store's reads use it: putting it in Rasa's place for every lookup
    was measured and did not pay (docs/performance.md).
    """
    if not _event_classes:
        for subclass in all_subclasses(Event):  # Rasa's order: the first match wins
            _event_classes.setdefault(subclass.type_name, subclass)
    found = _event_classes.get(type_name)
    if found is not None:
        return found
    return _RASA_RESOLVE_BY_TYPE(type_name, default)


def deserialise_event(parameters: Dict[str, Any]) -> Optional[Event]:
    """One event as `rasa.shared.core.events.deserialise_events` reads it, or None if skipped."""
    name = parameters.get("event")
    if name is None or name == "topic":  # Rasa skips these old events too
        return None
    cls = resolve_by_type(name)
    event = cls._from_parameters(parameters) if cls is not None else None
    if event is None:
        logger.warning("Could not read a stored event of type %r.", name)
    return event


def deserialise_events(serialised: Iterable[Dict[str, Any]]) -> List[Event]:
    """`rasa.shared.core.events.deserialise_events` with the class lookup cached."""
    return [event for parameters in serialised
            if (event := deserialise_event(parameters)) is not None]


def parse_rows(texts: List[str]) -> List[Optional[Event]]:
    """The events of stored rows' JSON texts, one per text (None where Rasa skips one)."""
    return [deserialise_event(json.loads(text)) for text in texts]


def event_row(sender_id: str, event: Event) -> Dict[str, Any]:
    """The `events` row of one event, exactly as Rasa's `SQLTrackerStore.save` writes it."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


class ResilientSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` with lean queries, a tuned SQLite and database retries."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        dialect: str = "sqlite",
        host: Optional[str] = None,
        port: Optional[int] = None,
        db: str = "rasa.db",
        username: Optional[str] = None,
        password: Optional[str] = None,
        event_broker: Optional[EventBroker] = None,
        login_db: Optional[str] = None,
        query: Optional[Dict[str, Any]] = None,
        retry_seconds: Optional[float] = None,
        cached_events: int = DEFAULT_MAX_EVENTS,
        event_cache: Optional[EventCache] = None,
        **kwargs: Any,
    ) -> None:
        """Connects as `SQLTrackerStore` does (creating the table), then tunes the engine.

        Args:
            domain: The assistant's domain.
            dialect: `sqlite` or `postgresql` (any SQLAlchemy dialect Rasa accepts).
            host: The database host (`url` in the endpoints file).
            port: Its port.
            db: The database name, or the SQLite file.
            username: The database role.
            password: Its password.
            event_broker: Rasa's event broker, if any.
            login_db: As for `SQLTrackerStore`: a database to log in to first.
            query: Extra URL query parameters.
            retry_seconds: How long a read or save keeps retrying while the database
                is unreachable (default: `$TRACKER_STORE_RETRY_SECONDS`, else 15).
            cached_events: How many parsed events this process keeps to reuse on
                the next reads (`stores.event_cache`; 0 parses every row each time).
            event_cache: The cache to use instead of a new one of `cached_events`.
            kwargs: Further keys of the endpoints section, as for `SQLTrackerStore`.
        """
        super().__init__(domain, dialect, host, port, db, username,  # type: ignore[arg-type]
                         password, event_broker, login_db, query, **kwargs)
        stock_engine: Engine = self.engine
        url = stock_engine.url
        stock_engine.dispose()
        self.engine: Engine = tuned_engine(url)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self.retry_seconds = float(retry_seconds if retry_seconds is not None else
                                   os.environ.get(RETRY_SECONDS_ENV) or DEFAULT_RETRY_SECONDS)
        self._insert = self.SQLEvent.__table__.insert()
        self.event_cache = event_cache if event_cache is not None else EventCache(
            int(cached_events))
        if os.environ.get("POSTGRESQL_SCHEMA"):
            with self.session_scope():  # Rasa's check that the schema exists
                pass

    # --- retries ---------------------------------------------------------------------

    async def _with_retries(self, what: str, operation: Callable[[], T]) -> T:
        """Runs `operation`, retrying on connection errors for up to `retry_seconds`."""
        deadline = time.monotonic() + self.retry_seconds
        backoff = FIRST_BACKOFF_SECONDS
        attempt = 1
        while True:
            try:
                return operation()
            except sa.exc.SQLAlchemyError as error:
                if not is_connection_error(error):
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StorageUnavailable(
                        f"The tracker store's database was unreachable for "
                        f"{self.retry_seconds:.0f} s ({what}): {error}") from error
                logger.warning("Tracker store: %s failed (attempt %d, database unreachable: "
                               "%s); retrying in %.1f s.", what, attempt,
                               str(error).splitlines()[0], min(backoff, remaining))
                await asyncio.sleep(min(backoff, remaining))
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                attempt += 1

    @staticmethod
    async def _marking_failure(sender_id: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Awaits `operation`; if the database stayed unreachable, marks the request."""
        try:
            return await operation()
        except StorageUnavailable:
            _mark(sender_id, True)
            raise

    # --- reading ---------------------------------------------------------------------

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool
                        ) -> Optional[DialogueStateTracker]:
        """Reads the conversation's events (the latest session, or all of them)."""
        statement = (_SELECT_ALL_SESSIONS if fetch_events_from_all_sessions
                     else _SELECT_LATEST_SESSION)
        parameters = {"sender_id": sender_id, "session_started": SessionStarted.type_name}

        def read() -> List[Tuple[int, str]]:
            with self.engine.connect() as connection:
                return [(row[0], row[1]) for row in connection.execute(statement, parameters)]

        async def read_with_retries() -> List[Tuple[int, str]]:
            return await self._with_retries(f"reading conversation {sender_id!r}", read)

        rows = await self._marking_failure(sender_id, read_with_retries)
        _mark(sender_id, False)
        if not rows or not self.domain:
            self.event_cache.forget(sender_id)
            return None
        events = self.event_cache.events(sender_id, rows, parse_rows)
        return DialogueStateTracker.from_events(sender_id, events, self.domain.slots)

    # --- saving ----------------------------------------------------------------------

    def _additional_events(self, session: Any, tracker: DialogueStateTracker
                           ) -> Iterator[Event]:
        """The tracker's events beyond those already stored for its latest session.

        Args:
            session: A SQLAlchemy Connection (or Session) inside the save's transaction.
            tracker: The tracker being saved.
        """
        stored = session.execute(_COUNT_LATEST_SESSION, {
            "sender_id": tracker.sender_id,
            "session_started": SessionStarted.type_name}).scalar() or 0
        return itertools.islice(tracker.events, stored, len(tracker.events))

    def _save_once(self, tracker: DialogueStateTracker) -> int:
        """One transaction: count what is stored, append the rest. Returns rows added."""
        connection: Connection
        with self.engine.begin() as connection:
            rows = [event_row(tracker.sender_id, event)
                    for event in self._additional_events(connection, tracker)]
            if rows:
                connection.execute(self._insert, rows)
        return len(rows)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Appends the tracker's new events, retrying while the database is unreachable.

        Raises:
            StorageUnavailable: If the database stayed unreachable, or if this
                request could not read the conversation (the tracker Rasa then
                built is empty, and saving it would corrupt the stored one).
        """
        sender_id = tracker.sender_id
        if storage_failed(sender_id):
            raise StorageUnavailable(
                f"Not saving conversation {sender_id!r}: it could not be read in this "
                f"request, so this tracker does not continue the stored one.")
        if not tracker.events:
            # Nothing to append (Rasa saves a new conversation's empty tracker before
            # its first turn): skip the transaction that would find that out.
            return
        await self.stream_events(tracker)

        async def save_with_retries() -> int:
            return await self._with_retries(f"saving conversation {sender_id!r}",
                                            lambda: self._save_once(tracker))

        added = await self._marking_failure(sender_id, save_with_retries)
        logger.debug("Stored %d new events of conversation %r.", added, sender_id)
