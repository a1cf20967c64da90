"""The preview of a draft: the answer as the chat widget shows it.

The widget (web/widget/chat.js) shows the message text with its line breaks,
`**bold**` parts in bold and never as HTML, and the small print (the disclaimer
and the sources line) under it. The same text is built here from the candidate
entry, so staff see what users will see; the template escapes every part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Mapping, Tuple

from nightcramps.content_store import KNOWN_GROUPS, Entry, Source

# chat.js's appendRichText: split() with a capture group, odd parts are bold.
_BOLD = re.compile(r"\*\*([^*\n]+?)\*\*")
#: How the console names each group.
GROUP_NAMES = {"pregnancy": "In pregnancy", "older_adults": "Older adults",
               "athletes": "Athletes"}


@dataclass(frozen=True)
class Bubble:
    """One answer as the widget shows it: (bold?, text) parts and the small print."""

    label: str
    parts: List[Tuple[bool, str]]
    small_print: List[str] = field(default_factory=list)


def rich_parts(text: str) -> List[Tuple[bool, str]]:
    """The text split as the widget splits it: (True, text) for the bold parts."""
    return [(index % 2 == 1, part) for index, part in enumerate(_BOLD.split(text)) if part]


def small_print(entry: Entry, disclaimer: str, sources: Mapping[str, Source]) -> List[str]:
    """The lines under the answer: the disclaimer and the sources line, as actions send them."""
    try:
        from nightcramps.small_print import SmallPrint
    except ImportError:  # before the sources line existed: the disclaimer alone
        return [disclaimer]
    return list(SmallPrint.for_entry(entry, disclaimer, sources).lines)


def bubbles(entry: Entry, disclaimer: str, sources: Mapping[str, Source]) -> List[Bubble]:
    """The entry's answer, and its answer for each group that has a variant.

    Args:
        entry: The candidate entry.
        disclaimer: The store's disclaimer.
        sources: The store's sources, named in the sources line.
    """
    small = small_print(entry, disclaimer, sources)
    shown = [Bubble("Answer", rich_parts(entry.text_for(None)), small)]
    for group in KNOWN_GROUPS:
        if group in entry.variants:
            shown.append(Bubble(GROUP_NAMES.get(group, group),
                                rich_parts(entry.text_for(group)), small))
    return shown
