"""The small print under a store answer: the disclaimer and one sources line.

    Sources: Mayo Clinic, NINDS, Sleep blog +2 more · Reviewed Dec 2026

`sources_line` builds that line from an entry: the sources' short names in the
entry's order, each once, at most `MAX_NAMES` then "+N more", and the month of
the last review. `SmallPrint` carries the disclaimer and that line with an
answer, in two forms at once:

- as text: `SmallPrint.append_to(answer)` ends the answer with a blank line, the
  disclaimer and the sources line, so every channel (and the stored
  conversation) has the disclaimer whether it knows about small print or not;
- as data: `SmallPrint.as_metadata()` goes in the same bot message, so a channel
  that shows small print (the web widget's REST channel, connectors/rest_output.py)
  can take it off the text (`SmallPrint.body_of`) and show it in its own style.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

from nightcramps.content_store import Entry, Source

#: The key of the small print in a bot message's metadata (and the REST message's `custom`).
SMALL_PRINT_KEY = "small_print"
#: At most this many source names are listed; the rest are counted ("+2 more").
MAX_NAMES = 3
#: Between the sources and the review date.
SEPARATOR = " · "
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def reviewed_label(day: dt.date) -> str:
    """The review month as shown: "Reviewed Nov 2026" (English, whatever the locale)."""
    return f"Reviewed {_MONTHS[day.month - 1]} {day.year}"


def sources_line(entry: Entry, sources: Mapping[str, Source], max_names: int = MAX_NAMES) -> str:
    """The line naming an entry's sources and its review month.

    Args:
        entry: The store entry.
        sources: The store's sources by id (an id missing here shows as itself).
        max_names: How many names are listed before "+N more".

    Returns:
        e.g. "Sources: NHS, Mayo Clinic · Reviewed Nov 2026"; "Source: ..." for one.
    """
    names: List[str] = []
    for source_id in entry.sources:
        source = sources.get(source_id)
        name = source.short_name if source is not None else source_id
        if name not in names:
            names.append(name)
    shown = ", ".join(names[:max_names])
    if len(names) > max_names:
        shown += f" +{len(names) - max_names} more"
    label = "Source" if len(names) == 1 else "Sources"
    return f"{label}: {shown}{SEPARATOR}{reviewed_label(entry.last_reviewed)}"


@dataclass(frozen=True)
class SmallPrint:
    """The disclaimer and, for an entry's answer, its sources line."""

    disclaimer: str
    sources: Optional[str] = None

    @classmethod
    def for_entry(cls, entry: Entry, disclaimer: str,
                  sources: Mapping[str, Source]) -> SmallPrint:
        """The small print of an entry's answer."""
        return cls(disclaimer, sources_line(entry, sources))

    @property
    def lines(self) -> List[str]:
        """The disclaimer, then the sources line if there is one."""
        return [self.disclaimer, *([self.sources] if self.sources else [])]

    @property
    def text(self) -> str:
        """The small print as one paragraph: a line each."""
        return "\n".join(self.lines)

    def append_to(self, body: str) -> str:
        """`body`, a blank line, then the small print."""
        return f"{body}\n\n{self.text}"

    def body_of(self, text: str) -> Optional[str]:
        """The answer of a text that `append_to` made (None if `text` does not end so)."""
        ending = f"\n\n{self.text}"
        return text[:-len(ending)] if text.endswith(ending) else None

    def as_metadata(self) -> Dict[str, Any]:
        """`{"small_print": {...}}`, for the bot message that carries the answer."""
        data: Dict[str, str] = {"disclaimer": self.disclaimer}
        if self.sources:
            data["sources"] = self.sources
        return {SMALL_PRINT_KEY: data}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Optional[SmallPrint]:
        """The small print a bot message's metadata carries (None if none, or malformed)."""
        data = metadata.get(SMALL_PRINT_KEY)
        if not isinstance(data, Mapping):
            return None
        disclaimer, sources = data.get("disclaimer"), data.get("sources")
        if not isinstance(disclaimer, str) or not disclaimer.strip():
            return None
        if sources is not None and not isinstance(sources, str):
            return None
        return cls(disclaimer, sources or None)
