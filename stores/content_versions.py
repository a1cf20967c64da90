"""Approved content, versioned in the conversations' database, for every action server.

`content/` stays the record for git, but in the production profile the action
servers may run on several machines, each with its own copy of `content/`. An
approved file is therefore also stored here, as a new row of `content_versions`
(its id is the version: it only grows), in the same SQL database as the
conversations (SQLite by default, PostgreSQL in the production profile). Every
action server follows the table (`stores.content_follower`) and writes new
versions into its own content folder, where the content store's hot reload picks
them up; `python -m tools.export_content` writes the latest versions into
`content/` for git.

Only the files the content store reloads can be published: `store.yml`,
`vocabulary.yml` and `topics/<id>.yml`. A file is validated before it is stored,
by the store's own schema and cross-checks (`load_snapshot`), on the whole store
as the action servers will see it: the content folder given, with the latest
approved versions and then this file laid over it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nightcramps.content_store import content_dir, load_snapshot
from nightcramps.schema import ContentError

logger = logging.getLogger(__name__)

#: Environment variable with the SQLAlchemy URL of the database to follow.
CONTENT_DB_ENV = "CONTENT_DB_URL"
#: Seconds a PostgreSQL connection attempt may take.
CONNECT_TIMEOUT = 5
#: Files that can be published (relative to the content folder).
_PUBLISHABLE = re.compile(r"(?:store|vocabulary)\.yml|topics/[A-Za-z0-9][A-Za-z0-9_-]*\.yml")
#: Longest stored file name (a topic id is a short slug).
MAX_FILE_NAME = 200
#: Longest stored approver (a user name or e-mail address).
MAX_APPROVER = 255

METADATA = sa.MetaData()
CONTENT_VERSIONS = sa.Table(
    "content_versions", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("file_name", sa.String(MAX_FILE_NAME), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("approved_by", sa.String(MAX_APPROVER), nullable=False),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class ContentVersion:
    """One approved file: its version, name (relative to content/), text and approval."""

    version: int
    file_name: str
    text: str
    approved_by: str
    approved_at: dt.datetime


def checked_file_name(file_name: str) -> str:
    """The file name, normalised, if it is one that can be published.

    Args:
        file_name: Relative to the content folder, e.g. `topics/causes.yml`.

    Raises:
        ValueError: It is not `store.yml`, `vocabulary.yml` or `topics/<id>.yml`.
    """
    name = str(PurePosixPath(str(file_name).replace("\\", "/")))
    if len(name) > MAX_FILE_NAME or not _PUBLISHABLE.fullmatch(name):
        raise ValueError(f"'{file_name}' cannot be published: only store.yml, vocabulary.yml "
                         "and topics/<id>.yml are served from the database")
    return name


def engine_for_url(url: str) -> Engine:
    """An engine for a database URL (`sqlite:///tracker.db`, `postgresql://...`).

    Creating it connects to nothing; a PostgreSQL connection attempt gives up
    after `CONNECT_TIMEOUT` seconds, an SQLite one waits up to 10 s for a lock.
    """
    backend = sa.engine.make_url(url).get_backend_name()
    connect_args: Dict[str, Any] = {}
    if backend == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    elif backend == "sqlite":
        connect_args["timeout"] = 10
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def engine_from(url: Optional[str], endpoints: Optional[str]) -> Optional[Engine]:
    """The engine of the content versions: a URL, else an endpoints file's tracker store.

    Args:
        url: An SQLAlchemy URL (e.g. `$CONTENT_DB_URL`), or None.
        endpoints: An endpoints file whose `tracker_store` is an SQL one (built as
            `stores.retention.engine_for` builds it, `${VAR}`s substituted), or None.

    Returns:
        The engine, or None when neither is given.

    Raises:
        ValueError: The endpoints file cannot be read or names no SQL tracker store.
    """
    if url:
        return engine_for_url(url)
    if not endpoints:
        return None
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import read_endpoint_config

    from stores.retention import engine_for

    try:
        config = read_endpoint_config(endpoints, "tracker_store")
    except RasaException as error:
        raise ValueError(f"cannot read {endpoints}: {error}") from error
    if config is None:
        raise ValueError(f"{endpoints} has no tracker_store section")
    return engine_for(config)


def _as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes: they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


class ContentVersions:
    """The `content_versions` table: publish approved files, read what changed.

    The table is created on first use (by whichever process comes first), so a
    database that is down when this object is built is no error.
    """

    def __init__(self, engine: Engine, content: Optional[Path] = None) -> None:
        """Keeps the engine; touches no database yet.

        Args:
            engine: The conversations' database (SQLAlchemy 1.4).
            content: The content folder that completes the store when a file is
                validated before publishing (default: `CONTENT_DIR`, else content/).
        """
        self.engine = engine
        self.content = Path(content) if content is not None else content_dir()
        self._table_ready = False

    def ensure_table(self) -> None:
        """Creates the table if it does not exist yet (once per object)."""
        if self._table_ready:
            return
        try:
            METADATA.create_all(self.engine, tables=[CONTENT_VERSIONS], checkfirst=True)
        except sa.exc.DatabaseError:
            # Another process created it at the same moment; anything else fails below.
            if not sa.inspect(self.engine).has_table(CONTENT_VERSIONS.name):
                raise
        self._table_ready = True

    def validate(self, file_name: str, text: str) -> str:
        """Checks a file as the action servers will load it; returns its checked name.

        Raises:
            ValueError: The file name cannot be published.
            ContentError: The text breaks the store's schema or cross-checks; names
                the file (relative to content/), the line and the field.
        """
        name = checked_file_name(file_name)
        if not isinstance(text, str) or not text.strip():
            raise ContentError(Path(name), "-", "is empty")
        latest = self.latest_files()
        with tempfile.TemporaryDirectory(prefix="content-check-") as folder:
            root = Path(folder)
            (root / "topics").mkdir()
            for part in ("store.yml", "vocabulary.yml"):
                if (self.content / part).is_file():
                    shutil.copyfile(self.content / part, root / part)
            for topic in (self.content / "topics").glob("*.yml"):
                shutil.copyfile(topic, root / "topics" / topic.name)
            for version in latest.values():
                (root / version.file_name).write_text(version.text, encoding="utf-8")
            (root / name).write_text(text, encoding="utf-8")
            try:
                load_snapshot(root)
            except ContentError as error:
                try:
                    where = Path(error.path).resolve().relative_to(root.resolve())
                except ValueError:
                    where = Path(name)
                raise ContentError(where, error.field, error.problem, error.line) from None
        return name

    def publish(self, file_name: str, text: str, approved_by: str) -> int:
        """Stores an approved file as the next version, once it validates.

        Args:
            file_name: Relative to content/: `topics/<id>.yml`, `store.yml` or
                `vocabulary.yml`.
            text: The file's whole YAML text.
            approved_by: Who approved it (the clinical reviewer's user name).

        Returns:
            The new version (the row's id).

        Raises:
            ValueError: The file name cannot be published, or `approved_by` is empty.
            ContentError: The text is invalid (file, line and field named).
            sqlalchemy.exc.SQLAlchemyError: The database failed.
        """
        if not approved_by or not approved_by.strip():
            raise ValueError("approved_by must name who approved the change")
        if len(approved_by.strip()) > MAX_APPROVER:
            raise ValueError(f"approved_by is longer than {MAX_APPROVER} characters")
        self.ensure_table()
        name = self.validate(file_name, text)
        with self.engine.begin() as connection:
            result = connection.execute(CONTENT_VERSIONS.insert().values(
                file_name=name, text=text, approved_by=approved_by.strip(),
                approved_at=dt.datetime.now(dt.timezone.utc)))
            version = int(result.inserted_primary_key[0])
        logger.info("Published %s as content version %d.", name, version)
        return version

    def latest_version(self) -> int:
        """The newest version (0 when nothing was published)."""
        self.ensure_table()
        with self.engine.connect() as connection:
            latest = connection.execute(sa.select(sa.func.max(CONTENT_VERSIONS.c.id))).scalar()
        return int(latest or 0)

    def changes_since(self, version: int) -> List[ContentVersion]:
        """Every version newer than `version`, oldest first."""
        return self._versions(CONTENT_VERSIONS.c.id > version)

    def latest_files(self, since: int = 0) -> Dict[str, ContentVersion]:
        """File name -> its newest version, among the versions newer than `since`."""
        newest = (sa.select(sa.func.max(CONTENT_VERSIONS.c.id))
                  .where(CONTENT_VERSIONS.c.id > since)
                  .group_by(CONTENT_VERSIONS.c.file_name))
        return {version.file_name: version
                for version in self._versions(CONTENT_VERSIONS.c.id.in_(newest.scalar_subquery()))}

    def _versions(self, condition: Any) -> List[ContentVersion]:
        """The rows that meet `condition`, oldest first."""
        self.ensure_table()
        query = sa.select(CONTENT_VERSIONS).where(condition).order_by(CONTENT_VERSIONS.c.id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).fetchall()
        return [ContentVersion(int(row.id), str(row.file_name), str(row.text),
                               str(row.approved_by), _as_utc(row.approved_at)) for row in rows]


def write_atomically(path: Path, text: str) -> bool:
    """Writes `text` to `path` through a temporary file and a rename.

    A reader sees the old file or the new one, never a part. The temporary file's
    name does not end in `.yml`, so the content store never reads it.

    Returns:
        Whether the file changed (False when it held this text already).
    """
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def write_versions(versions: Dict[str, ContentVersion], directory: Path) -> List[str]:
    """Writes each version into `directory` (atomically); returns the files changed.

    A file name that cannot be published (a row written by hand) is skipped and logged.
    """
    written = []
    for name, version in sorted(versions.items()):
        try:
            checked = checked_file_name(name)
        except ValueError as error:
            logger.error("Content version %d skipped: %s", version.version, error)
            continue
        if write_atomically(directory / checked, version.text):
            written.append(checked)
    return written
