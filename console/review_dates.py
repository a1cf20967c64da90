"""Review dates: the entries whose clinical review is overdue or due soon.

An entry's next review is its `next_review`, else 12 months after its last
review (`nightcramps.content_store.Entry.next_review`, as `make check` uses).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, List, Optional

from nightcramps.content_store import Entry

#: Entries due within this many days are listed as well as overdue ones.
DUE_SOON_DAYS = 30


@dataclass(frozen=True)
class ReviewDue:
    """One entry's review status."""

    topic_id: str
    title: str
    last_reviewed: dt.date
    reviewed_by: Optional[str]
    next_review: dt.date
    days_left: int

    @property
    def overdue(self) -> bool:
        """Whether the next review date has passed."""
        return self.days_left < 0


def due(entries: Iterable[Entry], today: dt.date, within_days: int = DUE_SOON_DAYS
        ) -> List[ReviewDue]:
    """Entries overdue or due within `within_days` of `today`, most urgent first."""
    found = []
    for entry in entries:
        when = entry.next_review
        days_left = (when - today).days
        if days_left <= within_days:
            found.append(ReviewDue(entry.id, entry.title, entry.last_reviewed,
                                   entry.reviewed_by, when, days_left))
    return sorted(found, key=lambda item: (item.days_left, item.topic_id))
