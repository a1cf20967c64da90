"""What the console's routes work with, built once from the database and the content folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from sqlalchemy.engine import Engine

from console.accounts import Accounts
from console.audit import AuditLog
from console.content_files import TopicFiles
from console.drafts import Drafts, Publisher
from console.inbox_page import Inbox
from console.jobs import Jobs
from console.ratelimit import DEFAULT_LIMITS, Limits, LoginLimiter
from console.sessions import DEFAULT_IDLE_SECONDS, Sessions
from nightcramps.content_store import YamlContentStore


@dataclass
class Services:
    """The console's parts, sharing one database and one content folder."""

    engine: Engine
    content_dir: Path
    accounts: Accounts
    sessions: Sessions
    limiter: LoginLimiter
    audit: AuditLog
    files: TopicFiles
    drafts: Drafts
    store: YamlContentStore
    inbox: Inbox
    jobs: Jobs


def build_services(engine: Engine, content_dir: Path, *,
                   idle_seconds: float = DEFAULT_IDLE_SECONDS, limits: Limits = DEFAULT_LIMITS,
                   publisher: Optional[Publisher] = None,
                   project_root: Optional[Path] = None,
                   bcrypt_rounds: Optional[int] = None,
                   clock: Optional[Callable[[], float]] = None) -> Services:
    """Builds every part on `engine` (migrated beforehand) and `content_dir`.

    Args:
        engine: The tracker store's database.
        content_dir: The content folder the action servers serve.
        idle_seconds: Sessions end after this long without a request.
        limits: The login rate limit.
        publisher: Records approved files as store versions (None: files only).
        project_root: The folder holding data/nlu/ and content/inbox_triage.yml for
            the inbox (default: the content folder's parent).
        bcrypt_rounds: bcrypt's cost for new passwords (None: the default).
        clock: The current time (None: `time.time`).
    """
    import time

    now = clock or time.time
    root = Path(project_root) if project_root else Path(content_dir).resolve().parent
    audit = AuditLog(engine, now)
    files = TopicFiles(content_dir)
    accounts = (Accounts(engine, now, bcrypt_rounds) if bcrypt_rounds
                else Accounts(engine, now))
    return Services(
        engine=engine, content_dir=Path(content_dir), accounts=accounts,
        sessions=Sessions(engine, idle_seconds, now), limiter=LoginLimiter(engine, limits, now),
        audit=audit, files=files, drafts=Drafts(engine, files, audit, publisher, now),
        store=YamlContentStore(Path(content_dir), reload_interval=0.0),
        inbox=Inbox(engine, root),
        jobs=Jobs(root, root / "build" / "console-jobs"))
