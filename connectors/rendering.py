"""Turns the assistant's text into each platform's markup, in parts under its limit.

The answers in content/topics are plain paragraphs; the topic list uses "- "
bullets; nothing uses links. So the source "markdown" understood here is small:
paragraphs (blank lines), line breaks, "- " or "* " bullets and `**bold**`.
Everything else is text, escaped for the target markup, so a "<", "&" or "*"
in an answer can never be read as markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Callable, List, Sequence

#: Longest message text each platform accepts.
TELEGRAM_LIMIT = 4096
SLACK_LIMIT = 3000  # per section block
MESSENGER_LIMIT = 2000
WHATSAPP_LIMIT = 1600  # Twilio's limit for one WhatsApp message body

#: What replaces a cut-off end of a button title.
ELLIPSIS = "…"

_BULLET = re.compile(r"^(\s*)[-*•]\s+")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
# From paragraphs down to words: the first separator that makes pieces fit wins.
_SEPARATORS = (
    (re.compile(r"\n[ \t]*\n\s*"), "\n\n"),
    (re.compile(r"\n"), "\n"),
    (re.compile(r"(?<=[.!?…])\s+"), " "),
    (re.compile(r"\s+"), " "),
)


def _escape_entities(text: str) -> str:
    """Escapes `&`, `<` and `>` (what Telegram HTML and Slack mrkdwn need)."""
    return html.escape(text, quote=False)


def _unchanged(text: str) -> str:
    """Returns `text` as it is."""
    return text


@dataclass(frozen=True)
class Markup:
    """A platform's text markup.

    Attributes:
        name: A name for logs and tests.
        escape: Makes plain text safe to embed in this markup.
        bold: Wraps already escaped text in bold.
        bullet: What a list item starts with.
    """

    name: str
    escape: Callable[[str], str]
    bold: Callable[[str], str]
    bullet: str = "• "


TELEGRAM_HTML = Markup("telegram-html", _escape_entities, lambda text: f"<b>{text}</b>")
SLACK_MRKDWN = Markup("slack-mrkdwn", _escape_entities, lambda text: f"*{text}*")
WHATSAPP = Markup("whatsapp", _unchanged, lambda text: f"*{text}*")
PLAIN = Markup("plain", _unchanged, _unchanged)


def render(text: str, markup: Markup) -> str:
    """Renders bullets and `**bold**` in `markup`, escaping all other text.

    Args:
        text: The assistant's text.
        markup: The target platform's markup.

    Returns:
        The text in the platform's markup.
    """
    lines = []
    for line in text.split("\n"):
        prefix = ""
        bullet = _BULLET.match(line)
        if bullet:
            prefix, line = bullet.group(1) + markup.bullet, line[bullet.end():]
        lines.append(prefix + _render_inline(line, markup))
    return "\n".join(lines)


def _render_inline(line: str, markup: Markup) -> str:
    """Renders the bold spans of one line and escapes the rest."""
    out, position = [], 0
    for match in _BOLD.finditer(line):
        out.append(markup.escape(line[position:match.start()]))
        out.append(markup.bold(markup.escape(match.group(1))))
        position = match.end()
    out.append(markup.escape(line[position:]))
    return "".join(out)


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> List[str]:
    """Splits `text` into parts that each measure at most `limit`.

    Cuts between paragraphs if it can, else between lines, then sentences, then
    words; a word is cut only when it is longer than the limit by itself. Every
    word is kept, in order, so the disclaimer (the last paragraph of an answer)
    always ends the last part.

    Args:
        text: The text to split.
        limit: The most each part may measure.
        measure: How a part is measured (e.g. the length once rendered).

    Returns:
        The parts, stripped of surrounding whitespace; none is empty.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    text = text.strip()
    if not text:
        return []
    return _split(text, limit, measure, 0)


def _split(text: str, limit: int, measure: Callable[[str], int], level: int) -> List[str]:
    """Splits at separator `level` (and finer ones for pieces still too long)."""
    if measure(text) <= limit:
        return [text]
    if level == len(_SEPARATORS):
        return _cut_word(text, limit, measure)
    pattern, joiner = _SEPARATORS[level]
    parts: List[str] = []
    current = ""
    for piece in (p.strip() for p in pattern.split(text)):
        if not piece:
            continue
        if measure(piece) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.extend(_split(piece, limit, measure, level + 1))
            continue
        candidate = f"{current}{joiner}{piece}" if current else piece
        if measure(candidate) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts


def _cut_word(word: str, limit: int, measure: Callable[[str], int]) -> List[str]:
    """Cuts a word longer than the limit into the longest pieces that fit."""
    parts = []
    while word:
        end = min(len(word), limit)
        while end > 1 and measure(word[:end]) > limit:
            end -= 1
        parts.append(word[:end])
        word = word[end:]
    return parts


def render_parts(text: str, markup: Markup, limit: int) -> List[str]:
    """Splits `text` so that each part, once rendered, fits `limit`; renders them.

    Args:
        text: The assistant's text.
        markup: The target platform's markup.
        limit: The platform's longest message.

    Returns:
        The rendered parts, in order.
    """
    parts = split_text(text, limit, lambda part: len(render(part, markup)))
    return [render(part, markup) for part in parts]


def shorten(text: str, limit: int) -> str:
    """Shortens `text` to at most `limit` characters at a word boundary, adding "…".

    Args:
        text: A button title or similar one-line text.
        limit: The most characters allowed (at least 2).

    Returns:
        `text` (whitespace collapsed) if it fits, else its start and an ellipsis.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = max(1, limit - len(ELLIPSIS))
    head = text[:room + 1]
    cut = head[:head.rfind(" ")] if " " in head else text[:room]
    cut = cut.rstrip(" ,;:.-\u2013\u2014")
    return (cut or text[:room]) + ELLIPSIS


def numbered_list(titles: Sequence[str], start: int = 1) -> str:
    """One line per title: "1. Causes", "2. Relief", ...

    Args:
        titles: The titles, in order.
        start: The first number.

    Returns:
        The lines joined with newlines.
    """
    return "\n".join(f"{number}. {title}" for number, title in enumerate(titles, start))
