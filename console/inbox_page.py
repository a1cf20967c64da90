"""The inbox in the browser: `make inbox` (tools/content/inbox.py) behind the console's login.

The groups of fallback, unsure and "Not really" messages come from the tracker
store as stored, so only redacted text is ever shown (the tracker store redacts
before it saves). A decision (assign to a topic, out of scope, ignore) goes
through `tools.content.inbox.decide`, exactly as on the command line: an
assignment adds a training example under the topic's intent in data/nlu/, and
every decision is recorded in content/inbox_triage.yml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from sqlalchemy.engine import Engine

from tools.content import inbox

#: The decisions staff can take, as the form sends them.
DECISIONS = {"assign": "assigned", "out_of_scope": "out_of_scope", "ignore": "ignored"}


@dataclass(frozen=True)
class InboxView:
    """What the inbox page shows: the open groups, or why there are none."""

    groups: List[inbox.Group]
    problem: Optional[str] = None


class Inbox:
    """The inbox of one project folder and one tracker store."""

    def __init__(self, engine: Engine, project_root: Path) -> None:
        """Reads `engine`'s events; triages into `project_root` (data/nlu, content/)."""
        self.url = engine.url.render_as_string(hide_password=False)
        self.root = Path(project_root)

    def view(self) -> InboxView:
        """The open groups (an empty inbox with the reason when the store cannot be read)."""
        try:
            return InboxView(inbox.inbox(self.root, self.url))
        except inbox.InboxError as problem:
            return InboxView([], str(problem))

    def decide(self, item_id: str, decision: str, topic: Optional[str]) -> List[str]:
        """Applies a decision to a group or message; returns what was done.

        Raises:
            inbox.InboxError: Unknown id, topic or decision, or nothing left to add.
        """
        if decision not in DECISIONS:
            raise inbox.InboxError(f"unknown decision {decision!r}")
        groups = inbox.inbox(self.root, self.url)
        return inbox.decide(self.root, groups, item_id, DECISIONS[decision],
                            topic if decision == "assign" else None)
