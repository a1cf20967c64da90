"""Follows the approved content versions and writes them into an action server's content folder.

A background thread asks the database every `interval` seconds (1 s) for versions
newer than the last it applied, and writes the newest version of each changed file
into the content folder, atomically; the content store's hot reload (at most a
second later) then serves it. The first poll applies the newest version of every
published file, so an action server started later catches up at once.

A database outage never stops the action server: the error is logged once, the
follower keeps the files it has, and it retries with a growing pause (up to
`MAX_RETRY_PAUSE` seconds), logging when the database is back.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import List, Optional

import sqlalchemy as sa

from stores.content_versions import ContentVersions, write_versions

logger = logging.getLogger(__name__)

#: Seconds between polls.
POLL_INTERVAL = 1.0
#: Longest pause between retries while the database is unreachable.
MAX_RETRY_PAUSE = 10.0


class ContentFollower:
    """Applies new content versions to one content folder."""

    def __init__(self, versions: ContentVersions, directory: Path,
                 interval: float = POLL_INTERVAL) -> None:
        """Nothing applied yet; no thread runs until `start`.

        Args:
            versions: The content versions to follow.
            directory: The content folder the action server's store reads.
            interval: Seconds between polls.
        """
        self.versions = versions
        self.directory = Path(directory)
        self.interval = interval
        #: The newest version applied (0: none yet).
        self.version = 0
        self.failing = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def poll_once(self) -> List[str]:
        """Applies the versions newer than `self.version`; returns the files written.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: The database failed (nothing is applied).
        """
        latest = self.versions.latest_files(self.version)
        if not latest:
            return []
        written = write_versions(latest, self.directory)
        self.version = max(version.version for version in latest.values())
        if written:
            logger.info("Content version %d applied: %s", self.version, ", ".join(written))
        return written

    def run(self) -> None:
        """Polls until `stop`; logs database errors and retries, never raises them."""
        pause = self.interval
        while not self._stop.is_set():
            try:
                self.poll_once()
            except (sa.exc.SQLAlchemyError, OSError) as error:
                if not self.failing:
                    detail = str(getattr(error, "orig", None) or error).strip().splitlines()
                    logger.error("Cannot read the approved content versions (%s: %s); "
                                 "serving the files in %s and retrying.", type(error).__name__,
                                 detail[0][:200] if detail else "", self.directory)
                    self.failing = True
                pause = min(pause * 2, MAX_RETRY_PAUSE)
            except Exception:  # a bug must not end the thread silently
                logger.exception("Following the content versions failed; retrying.")
                pause = min(pause * 2, MAX_RETRY_PAUSE)
            else:
                if self.failing:
                    logger.info("The content versions can be read again (version %d).",
                                self.version)
                    self.failing = False
                pause = self.interval
            self._stop.wait(pause)

    def start(self) -> None:
        """Starts polling in a daemon thread (once)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="content-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops polling and waits up to `timeout` seconds for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
