"""The audit log: every draft saved, approved or rejected, and every account created."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from console import tables

#: The CSV export's columns, in order.
CSV_COLUMNS = ("id", "time_utc", "actor", "action", "topic_id", "draft_id", "author",
               "approved_by", "comment", "before", "after")
# A spreadsheet runs cells that start with these as formulas.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditRecord:
    """One line of the log."""

    id: int
    at: float
    actor: str
    action: str
    topic_id: Optional[str]
    draft_id: Optional[int]
    author: Optional[str]
    approved_by: Optional[str]
    comment: Optional[str]
    before_text: Optional[str]
    after_text: Optional[str]

    @property
    def time_utc(self) -> str:
        """When, as `YYYY-MM-DD HH:MM:SS` UTC."""
        return dt.datetime.fromtimestamp(self.at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def spreadsheet_safe(value: object) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


class AuditLog:
    """The audit log of one database."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        """Works on `engine`'s `console_audit_log` table."""
        self.engine = engine
        self.clock = clock

    def record(self, connection: Connection, actor: str, action: str, *,
               topic_id: Optional[str] = None, draft_id: Optional[int] = None,
               before_text: Optional[str] = None, after_text: Optional[str] = None,
               author: Optional[str] = None, approved_by: Optional[str] = None,
               comment: Optional[str] = None) -> None:
        """Adds a line, inside the caller's transaction (it stands or falls with the change)."""
        connection.execute(sa.insert(tables.audit_log).values(
            at=self.clock(), actor=actor, action=action, topic_id=topic_id, draft_id=draft_id,
            before_text=before_text, after_text=after_text, author=author,
            approved_by=approved_by, comment=comment))

    def records(self, limit: Optional[int] = None) -> List[AuditRecord]:
        """The newest lines first (all of them, or the newest `limit`)."""
        query = sa.select(tables.audit_log).order_by(tables.audit_log.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [AuditRecord(row.id, row.at, row.actor, row.action, row.topic_id, row.draft_id,
                            row.author, row.approved_by, row.comment, row.before_text,
                            row.after_text) for row in rows]

    def csv_text(self) -> str:
        """The whole log as CSV (oldest first), with formula-like cells defused."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for record in reversed(self.records()):
            writer.writerow([spreadsheet_safe(value) for value in (
                record.id, record.time_utc, record.actor, record.action, record.topic_id,
                record.draft_id, record.author, record.approved_by, record.comment,
                record.before_text, record.after_text)])
        return out.getvalue()
