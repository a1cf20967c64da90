"""The console's database: the tracker store the endpoints file names.

The console keeps its tables beside the conversations (SQLite `tracker.db` by
default, PostgreSQL in endpoints.prod.yml, whose `${VAR}`s are substituted as
Rasa does). The engine is the tracker store's own (`stores.sql_tracker_store.
tuned_engine`: write-ahead logging and a busy timeout on SQLite, so the console
and Rasa write to the same file side by side).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: Tracker store types that keep no SQL database.
NOT_SQL = {"", "in_memory", "redis", "mongod", "mongo", "dynamo"}


class DatabaseError(ValueError):
    """The endpoints file names no SQL tracker store, or cannot be read."""


def database_url(endpoints: Path) -> sa.engine.URL:
    """The SQLAlchemy URL of the tracker store an endpoints file configures.

    Raises:
        DatabaseError: The file cannot be read, has an unset `${VAR}`, or its
            tracker store keeps no SQL database.
    """
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import read_endpoint_config

    if not endpoints.is_file():
        raise DatabaseError(f"{endpoints} does not exist")
    try:
        config = read_endpoint_config(str(endpoints), "tracker_store")
    except RasaException as error:  # e.g. a ${VAR} that is not set
        raise DatabaseError(f"cannot read {endpoints}: {error}") from None
    if config is None or str(config.type or "").lower() in NOT_SQL - {""}:
        raise DatabaseError(f"{endpoints} has no SQL tracker store")
    settings: Dict[str, Any] = dict(config.kwargs)
    port = str(settings.get("port") or "")
    url = SQLTrackerStore.get_db_url(
        dialect=settings.get("dialect", "sqlite"), host=config.url,
        port=int(port) if port else None, db=settings.get("db", "rasa.db"),
        username=settings.get("username"), password=settings.get("password"),
        login_db=None, query=settings.get("query"))
    return sa.engine.make_url(url)


def engine_for(endpoints: Path) -> Engine:
    """An engine on the tracker store's database (see the module docstring).

    Raises:
        DatabaseError: As `database_url`.
    """
    from stores.sql_tracker_store import tuned_engine

    return tuned_engine(database_url(endpoints))
