"""The console's analytics queries on PostgreSQL: the same known counts as on SQLite.

The conversations of tests/unit/test_analytics.py are saved through the project's
tracker store on the local PostgreSQL (scripts/services.sh), in a database of
their own (dropped afterwards), then queried without and with the analytics
indexes.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from rasa.shared.core.domain import Domain

from console.analytics import ANALYTICS_INDEXES, Analytics, ensure_indexes
from stores.privacy_tracker_store import PrivacySQLTrackerStore
from tests.prod.conftest import Services
from tests.unit.test_analytics import check_known, save_known


def test_known_counts_on_postgresql(services: Services) -> None:
    env, database = services.env, f"analytics_{uuid.uuid4().hex[:12]}"
    admin = services.pg()
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    store = PrivacySQLTrackerStore(
        Domain.empty(), dialect="postgresql", host=env["DB_HOST"], port=int(env["DB_PORT"]),
        db=database, username=env["DB_USER"], password=env["DB_PASSWORD"])
    try:
        save_known(store)
        check_known(Analytics(store.engine))
        assert ensure_indexes(store.engine) == [name for name, _ in ANALYTICS_INDEXES]
        assert ensure_indexes(store.engine) == []
        indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("events")}
        assert indexes >= {name for name, _ in ANALYTICS_INDEXES}
        check_known(Analytics(store.engine))
    finally:
        store.engine.dispose()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
