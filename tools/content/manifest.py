"""The record of published models: `models/published/manifest.json`.

`make publish` copies each model it serves into `models/published/` under a name
that never changes (`<UTC time>-<sha256 prefix>.tar.gz`) and records it here:

    {
      "current": "20261121T201500Z-3f2a9c1b0d4e.tar.gz",
      "stack": ["20261101T...tar.gz", "20261121T...tar.gz"],
      "models": {"<file>": {"file", "sha256", "model_id", "trained_at", "source",
                            "published_at", "evaluation": {headline figures}}},
      "history": [{"time", "action": "publish" | "rollback", "file", "previous",
                   "forced", "served": {what GET /status answered}}]
    }

`stack` lists the models published one after another, the current one last;
`make rollback` serves the one before it and removes the current one from the
stack (it stays in `models` and `history`, and on disk).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional


def published_dir(root: Path) -> Path:
    """The folder of published models (git-ignored, as all of models/ is)."""
    return root / "models" / "published"


def now() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Manifest:
    """What has been published, in order, and what happened when."""

    path: Path
    stack: List[str] = field(default_factory=list)
    models: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    history: List[Dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, root: Path) -> Manifest:
        """Reads the manifest of the project at `root` (empty if none yet)."""
        path = published_dir(root) / "manifest.json"
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text())
        return cls(path, list(data.get("stack", [])), dict(data.get("models", {})),
                   list(data.get("history", [])))

    def save(self) -> None:
        """Writes the manifest atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"current": self.current, "stack": self.stack, "models": self.models,
                "history": self.history}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.path)

    @property
    def current(self) -> Optional[str]:
        """The file name of the model published now, if any."""
        return self.stack[-1] if self.stack else None

    @property
    def previous(self) -> Optional[str]:
        """The file name of the model a rollback would serve, if any."""
        return self.stack[-2] if len(self.stack) > 1 else None

    def current_entry(self) -> Optional[Dict[str, Any]]:
        """The current model's record (file, sha256, evaluation, ...), if any."""
        return self.models.get(self.current) if self.current else None

    def model_path(self, name: str) -> Path:
        """Where a published model file lives."""
        return self.path.parent / name
