"""Drafts and clinical sign-off.

Saving a topic's form creates a draft; the live file is untouched, so users keep
getting the approved text. A clinical reviewer or an admin approves or rejects
it with a comment, never their own. Approval writes the topic file (atomically;
the action servers' hot reload serves it within a second, no retraining),
records a store version through `publisher` when one is given (the versioned
store followed by action servers on other machines), a publish record and the
audit line with the text before and after.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console import tables
from console.accounts import User
from console.audit import AuditLog
from console.content_files import TopicFiles

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
#: Publishes an approved file: (file name under content/, text, approver) -> version.
Publisher = Callable[[str, str, str], int]


class DraftError(ValueError):
    """A draft cannot be approved or rejected now (gone, decided, or out of date)."""


class NotAllowed(PermissionError):
    """The user's role, or authorship, rules the action out."""


@dataclass(frozen=True)
class Draft:
    """A proposed topic file and its review."""

    id: int
    topic_id: str
    author_id: int
    author: str
    created_at: float
    status: str
    base_text: str
    text: str
    reviewer: Optional[str]
    comment: Optional[str]


class Drafts:
    """The drafts of one database, for the topic files of one content folder."""

    def __init__(self, engine: Engine, files: TopicFiles, audit: AuditLog,
                 publisher: Optional[Publisher] = None,
                 clock: Callable[[], float] = time.time) -> None:
        """Builds the service.

        Args:
            engine: The database.
            files: The live topic files.
            audit: Where every change is logged.
            publisher: Records an approved file as a store version (None: files only).
            clock: The current time in seconds since the epoch.
        """
        self.engine = engine
        self.files = files
        self.audit = audit
        self.publisher = publisher
        self.clock = clock

    def _query(self) -> sa.sql.Select:
        author = tables.users.alias("author")
        reviewer = tables.users.alias("reviewer")
        drafts = tables.drafts
        return (sa.select(drafts, author.c.email.label("author_email"),
                          reviewer.c.email.label("reviewer_email"))
                .join(author, author.c.id == drafts.c.author_id)
                .outerjoin(reviewer, reviewer.c.id == drafts.c.reviewer_id))

    @staticmethod
    def _draft(row: sa.engine.Row) -> Draft:
        return Draft(row.id, row.topic_id, row.author_id, row.author_email, row.created_at,
                     row.status, row.base_text, row.text, row.reviewer_email, row.comment)

    def save(self, author: User, topic_id: str, text: str) -> Draft:
        """Saves a (validated) topic file as a pending draft of `author`'s."""
        base = self.files.read(topic_id)
        with self.engine.begin() as connection:
            result = connection.execute(sa.insert(tables.drafts).values(
                topic_id=topic_id, author_id=author.id, created_at=self.clock(),
                status=PENDING, base_text=base, text=text))
            draft_id = int(result.inserted_primary_key[0])
            self.audit.record(connection, author.email, "draft saved", topic_id=topic_id,
                              draft_id=draft_id, before_text=base, after_text=text,
                              author=author.email)
        draft = self.get(draft_id)
        assert draft is not None
        return draft

    def get(self, draft_id: int) -> Optional[Draft]:
        """The draft with this id, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(self._query().where(tables.drafts.c.id == draft_id)).first()
        return None if row is None else self._draft(row)

    def listed(self, status: Optional[str] = None, topic_id: Optional[str] = None
               ) -> List[Draft]:
        """Drafts, newest first, optionally only of a status or a topic."""
        query = self._query().order_by(tables.drafts.c.id.desc())
        if status:
            query = query.where(tables.drafts.c.status == status)
        if topic_id:
            query = query.where(tables.drafts.c.topic_id == topic_id)
        with self.engine.connect() as connection:
            return [self._draft(row) for row in connection.execute(query).all()]

    @staticmethod
    def check_sign_off(user: User, draft: Draft) -> None:
        """Raises `NotAllowed` unless `user` may approve `draft`."""
        if user.id == draft.author_id:
            raise NotAllowed("nobody can approve or reject their own draft")
        if not user.can_sign_off:
            raise NotAllowed("only a clinical reviewer or an admin can approve or reject drafts")

    def _claim(self, draft_id: int, reviewer: User, status: str, comment: str) -> Draft:
        """Moves a pending draft to `status` (once: a second attempt finds it decided)."""
        draft = self.get(draft_id)
        if draft is None:
            raise DraftError(f"there is no draft {draft_id}")
        self.check_sign_off(reviewer, draft)
        if draft.status != PENDING:
            raise DraftError(f"draft {draft_id} is {draft.status} already")
        with self.engine.begin() as connection:
            claimed = connection.execute(
                sa.update(tables.drafts)
                .where(tables.drafts.c.id == draft_id, tables.drafts.c.status == PENDING)
                .values(status=status, reviewer_id=reviewer.id, reviewed_at=self.clock(),
                        comment=comment))
        if claimed.rowcount != 1:
            raise DraftError(f"draft {draft_id} was decided meanwhile")
        return draft

    def _release(self, draft_id: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.update(tables.drafts).where(tables.drafts.c.id == draft_id)
                               .values(status=PENDING, reviewer_id=None, reviewed_at=None,
                                       comment=None))

    def approve(self, draft_id: int, reviewer: User, comment: str,
                still_valid: Callable[[Draft], Optional[str]] = lambda draft: None) -> int:
        """Approves a draft and makes it live.

        Args:
            draft_id: The draft.
            reviewer: Who approves (a clinical reviewer or admin, not the author).
            comment: The reviewer's comment.
            still_valid: Returns why the draft can no longer be published, or None.

        Returns:
            The store version recorded by the publisher (0 without one).

        Raises:
            NotAllowed: The reviewer may not approve this draft.
            DraftError: The draft is gone, decided, out of date or no longer valid.
        """
        draft = self._claim(draft_id, reviewer, APPROVED, comment)
        file_name = f"topics/{draft.topic_id}.yml"
        try:
            current = self.files.read(draft.topic_id)
            if current != draft.base_text:
                raise DraftError("the topic changed after this draft was saved; open the "
                                 "topic and save the change again")
            problem = still_valid(draft)
            if problem:
                raise DraftError(f"the draft no longer passes the store's checks: {problem}")
            version = self._publish(file_name, draft.text, reviewer.email)
            self.files.write(draft.topic_id, draft.text)
        except BaseException:
            self._release(draft_id)
            raise
        with self.engine.begin() as connection:
            connection.execute(sa.insert(tables.publishes).values(
                at=self.clock(), draft_id=draft_id, file_name=file_name,
                version=version or None, approved_by=reviewer.email))
            self.audit.record(connection, reviewer.email, "draft approved",
                              topic_id=draft.topic_id, draft_id=draft_id,
                              before_text=current, after_text=draft.text, author=draft.author,
                              approved_by=reviewer.email, comment=comment)
        return int(version or 0)

    def _publish(self, file_name: str, text: str, approved_by: str) -> int:
        """Records the file as the next store version (0 without a publisher).

        Raises:
            DraftError: The versioned store refused the file.
        """
        if self.publisher is None:
            return 0
        try:
            return int(self.publisher(file_name, text, approved_by))
        except ValueError as refused:  # ContentError is a ValueError
            raise DraftError(f"the versioned store refused the file: {refused}") from None

    def reject(self, draft_id: int, reviewer: User, comment: str) -> None:
        """Rejects a draft with a comment (the live file is untouched).

        Raises:
            NotAllowed: The reviewer may not decide this draft.
            DraftError: The draft is gone or decided already.
        """
        draft = self._claim(draft_id, reviewer, REJECTED, comment)
        with self.engine.begin() as connection:
            self.audit.record(connection, reviewer.email, "draft rejected",
                              topic_id=draft.topic_id, draft_id=draft_id,
                              before_text=draft.base_text, after_text=draft.text,
                              author=draft.author, comment=comment)
