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

from console.analytics import Analytics
from console.analytics_schema import EVENT_INDEXES, FACTS, ensure_analytics_schema
from stores.privacy_tracker_store import PrivacySQLTrackerStore
from stores.retention import delete_conversation
from tests.prod.conftest import Services
from tests.unit.test_analytics import (
    CREATED,
    DAY2,
    EXPECTED_FEEDBACK,
    PERIOD,
    at,
    check_known,
    save_known,
)


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
        assert ensure_analytics_schema(store.engine) == CREATED  # fills the stored events' facts
        assert ensure_analytics_schema(store.engine) == []
        indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("events")}
        assert indexes >= {name for name, _ in EVENT_INDEXES}
        check_known(Analytics(store.engine))
        with store.engine.begin() as connection:  # the delete trigger empties the facts
            connection.execute(sa.text("DELETE FROM events"))
            assert connection.execute(sa.text(f"SELECT count(*) FROM {FACTS}")).scalar() == 0
        save_known(store)  # the insert trigger fills them again
        check_known(Analytics(store.engine))
        with store.engine.begin() as connection:  # malformed JSON never blocks a save
            connection.execute(sa.text(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) "
                "VALUES ('Z', 'user', :at, 'greet', 'not json {')"), {"at": at(DAY2, 12)})
        assert ("(unknown)", 1) in Analytics(store.engine).channels(PERIOD)
        delete_conversation(store.engine, "C")
        assert Analytics(store.engine).feedback(PERIOD) == EXPECTED_FEEDBACK[:1]
    finally:
        store.engine.dispose()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
