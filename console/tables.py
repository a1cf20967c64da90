"""The console's tables, kept in the same database as the conversations.

Times are seconds since the epoch (floats), as Rasa stores event timestamps, so
the tables mean the same on SQLite and PostgreSQL. Every name starts with
`console_`, beside Rasa's `events` table.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: The schema version the migrations have reached (one row).
schema_version = sa.Table(
    "console_schema_version", metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

#: Staff accounts; `role` is one of `console.accounts.ROLES`.
users = sa.Table(
    "console_users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.String(100), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
)

#: Logged-in sessions: the SHA-256 of the cookie's token, never the token itself.
sessions = sa.Table(
    "console_sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("console_users.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False, index=True),
)

#: Failed logins, counted per account and per client address for the rate limit.
login_failures = sa.Table(
    "console_login_failures", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(254), nullable=False, index=True),
    sa.Column("address", sa.String(64), nullable=False, index=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
)

#: Drafts of topic files: `base_text` is the file when the draft was saved,
#: `text` the proposed file; status pending, approved, rejected or withdrawn.
drafts = sa.Table(
    "console_drafts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic_id", sa.String(100), nullable=False, index=True),
    sa.Column("author_id", sa.Integer, sa.ForeignKey("console_users.id"), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("base_text", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("reviewer_id", sa.Integer, sa.ForeignKey("console_users.id"), nullable=True),
    sa.Column("reviewed_at", sa.Float, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
)

#: Every change: who, when, what, before and after, and who approved it.
audit_log = sa.Table(
    "console_audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("actor", sa.String(254), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("topic_id", sa.String(100), nullable=True),
    sa.Column("draft_id", sa.Integer, nullable=True),
    sa.Column("before_text", sa.Text, nullable=True),
    sa.Column("after_text", sa.Text, nullable=True),
    sa.Column("author", sa.String(254), nullable=True),
    sa.Column("approved_by", sa.String(254), nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
)

#: Each approved draft written to content/: the file, and the store version if any.
publishes = sa.Table(
    "console_publishes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("draft_id", sa.Integer, sa.ForeignKey("console_drafts.id"), nullable=False),
    sa.Column("file_name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("approved_by", sa.String(254), nullable=False),
)
