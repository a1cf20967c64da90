"""The console's database: the tracker store the endpoints file names.

The console keeps its tables beside the conversations (SQLite `tracker.db` by
default, PostgreSQL in endpoints.prod.yml, whose `${VAR}`s are substituted as
Rasa does). The engine is the tracker store's own (`stores.sql_tracker_store.
tuned_engine`: write-ahead logging and a busy timeout on SQLite, so the console
and Rasa write to the same file side by side).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine


class DatabaseError(ValueError):
    """The endpoints file names no SQL tracker store, or cannot be read."""


def database_url(endpoints: Path) -> sa.engine.URL:
    """The SQLAlchemy URL of the tracker store an endpoints file configures.

    Raises:
        DatabaseError: The file cannot be read, has an unset `${VAR}`, or its
            tracker store keeps no SQL database.
    """
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import read_endpoint_config

    from stores.retention import database_url as database_url_of

    if not endpoints.is_file():
        raise DatabaseError(f"{endpoints} does not exist")
    try:
        config = read_endpoint_config(str(endpoints), "tracker_store")
    except RasaException as error:  # e.g. a ${VAR} that is not set
        raise DatabaseError(f"cannot read {endpoints}: {error}") from None
    if config is None:
        raise DatabaseError(f"{endpoints} has no SQL tracker store")
    try:
        url = database_url_of(config)  # the one reading, shared with `make purge`
    except ValueError as error:
        raise DatabaseError(f"{endpoints}: {error}") from None
    return sa.engine.make_url(url)


def engine_for(endpoints: Path) -> Engine:
    """An engine on the tracker store's database (see the module docstring).

    Raises:
        DatabaseError: As `database_url`.
    """
    from stores.sql_tracker_store import tuned_engine

    return tuned_engine(database_url(endpoints))
