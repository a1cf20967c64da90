"""The topic files of the content folder: reading them and replacing them atomically."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import List

#: A topic id as the store's files are named (no path separators, no dots).
_TOPIC_ID = re.compile(r"^[a-z0-9_]{1,100}$")


class UnknownTopic(LookupError):
    """No topic file has this id."""


class TopicFiles:
    """The `topics/*.yml` files of one content folder."""

    def __init__(self, content_dir: Path) -> None:
        """Reads and writes under `content_dir` (the action server's $CONTENT_DIR)."""
        self.content_dir = Path(content_dir)

    def ids(self) -> List[str]:
        """Every topic id, sorted."""
        return sorted(path.stem for path in (self.content_dir / "topics").glob("*.yml"))

    def path(self, topic_id: str) -> Path:
        """The file of a topic.

        Raises:
            UnknownTopic: No such topic (or not a topic id at all).
        """
        if not _TOPIC_ID.match(topic_id):
            raise UnknownTopic(topic_id)
        path = self.content_dir / "topics" / f"{topic_id}.yml"
        if not path.is_file():
            raise UnknownTopic(topic_id)
        return path

    def read(self, topic_id: str) -> str:
        """The text of a topic's file."""
        return self.path(topic_id).read_text(encoding="utf-8")

    def write(self, topic_id: str, text: str) -> None:
        """Replaces a topic's file atomically: readers see the old file or the new, never half.

        The new text goes to a temporary file in the same folder, is flushed to
        disk, and is renamed over the old file; the store's hot reload (which
        watches size and modification time) picks it up.
        """
        path = self.path(topic_id)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.",
                                                 suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, path.stat().st_mode & 0o777)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
