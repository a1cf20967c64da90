"""Events already read from the tracker store, kept per conversation so a read parses only new rows.

Reading a conversation back parses every stored event of its session: one JSON
document and one `Event` per row. In a conversation of 150 turns (about 900
events) that was most of the 6.5 ms by which reading grew (docs/performance.md).
A row is never changed once written, except by redaction or deletion; so the
event parsed from a row's text can be reused while the row's id and text are
the same.

- **Keyed by row id and text.** A row whose text differs from the cached one
  (redacted since) is parsed again.
- **Only what the last read returned.** Each read replaces the conversation's
  entry with exactly the rows it returned: rows deleted in the database (the
  user's "delete my data", retention) leave memory at the conversation's next
  read, or with `forget`.
- **Bounded.** At most `max_events` events in all; the conversations read least
  recently are dropped first.
- **Per process.** Each Rasa worker has its own; the database stays the truth,
  so workers and replicas need no coordination.

Rasa itself shares `Event` objects between a tracker and its copies (the
policies' truncated trackers replay the same objects); the events of a read are
shared in the same way between successive reads of one conversation.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from rasa.shared.core.events import Event

#: Events kept per Rasa process by default: 11 conversations of 150 turns, or 900 of
#: 11 events. Each takes about 2.2 kB (its row's text and the parsed event), so at
#: most about 22 MiB (`python -m tools.event_cache_benchmark`, docs/performance.md).
DEFAULT_MAX_EVENTS = 10_000

#: A stored row: its id and its JSON text.
Row = Tuple[int, str]
#: Parses rows' texts into events, `None` for a row that is skipped.
Parser = Callable[[List[str]], List[Optional[Event]]]


class EventCache:
    """Parsed events of recently read conversations, by row."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        """An empty cache holding at most `max_events` events (0 keeps none)."""
        if max_events < 0:
            raise ValueError(f"max_events must be 0 or more, not {max_events}")
        self.max_events = max_events
        self._conversations: OrderedDict[str, Dict[int, Tuple[str, Optional[Event]]]] = (
            OrderedDict())
        self._size = 0

    def __len__(self) -> int:
        """The number of events held."""
        return self._size

    def events(self, sender_id: str, rows: Iterable[Row], parse: Parser) -> List[Event]:
        """The events of `rows`, in order: cached ones reused, the others parsed by `parse`.

        Args:
            sender_id: The conversation the rows belong to.
            rows: The rows a read returned, in id order.
            parse: Parses the texts of the rows not cached (one call per read).

        Returns:
            The events, without the rows `parse` skipped.
        """
        rows = list(rows)
        known = self._conversations.pop(sender_id, {})
        self._size -= len(known)
        entry: Dict[int, Tuple[str, Optional[Event]]] = {}
        missing: List[Row] = []
        for row_id, text in rows:
            cached = known.get(row_id)
            if cached is not None and cached[0] == text:
                entry[row_id] = cached
            else:
                missing.append((row_id, text))
        if missing:
            parsed = parse([text for _, text in missing])
            for (row_id, text), event in zip(missing, parsed, strict=True):
                entry[row_id] = (text, event)
        self._keep(sender_id, entry)
        return [event for row_id, _ in rows
                if (event := entry[row_id][1]) is not None]

    def forget(self, sender_id: str) -> None:
        """Drops the conversation's events (it was deleted)."""
        self._size -= len(self._conversations.pop(sender_id, {}))

    def _keep(self, sender_id: str, entry: Dict[int, Tuple[str, Optional[Event]]]) -> None:
        if len(entry) > self.max_events:
            return
        self._conversations[sender_id] = entry
        self._size += len(entry)
        while self._size > self.max_events:
            _, dropped = self._conversations.popitem(last=False)
            self._size -= len(dropped)
