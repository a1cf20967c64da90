"""Limits on what a client may send: message text, sender id and metadata.

Every helper here runs in time linear in its input (most stop reading after a
prefix a few times the limit), so a 256 KiB request body cannot stall a worker:

- `clean_text(text, limit)`: control characters out, whitespace collapsed, length
  capped. The REST channel, the NLU pipeline (components/text_cleaner.py) and the
  safety net (nightcramps/safety.py) all read text through it.
- `strip_markup(text)`: HTML/XML tags, `script`/`style` elements and terminal
  escapes out (for the NLU pipeline, before `clean_text`).
- `cap_sender(sender)` and `cap_metadata(metadata)`: the REST request's
  `sender` and `metadata` fields, made safe to store.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Dict, Mapping, Optional

#: Longest message text the assistant reads, in characters (what the NLU pipeline's
#: `components.text_cleaner.TextCleaner` keeps by default, config.yml `max_length`).
MAX_MESSAGE_LENGTH = 2000
#: Longest sender id kept, in characters.
MAX_SENDER_LENGTH = 128
#: Largest metadata kept, in bytes of compact UTF-8 JSON.
MAX_METADATA_BYTES = 4096

# Control characters (Unicode category Cc) become spaces; lone surrogates (Cs, which
# JSON allows but UTF-8 cannot store) become U+FFFD.
_CONTROL_TABLE: Dict[int, str] = {
    **{code: " " for code in (*range(0x00, 0x20), *range(0x7F, 0xA0))},
    **{code: "\ufffd" for code in range(0xD800, 0xE000)},
}
# Bounded or single-pass patterns only: each can be tried at a position in time
# proportional to what it consumes, and no two branches match the same text.
_SCRIPT = re.compile(r"<(script|style)\b.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[a-zA-Z!][^<>]*>")
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _clean_all(text: str) -> str:
    return " ".join(text.translate(_CONTROL_TABLE).split())


def clean_text(text: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """The text as the assistant reads it.

    Control characters become spaces and lone surrogates U+FFFD; runs of
    whitespace become one space; leading and trailing whitespace goes; the
    result is cut to `limit` characters (and a space left at the cut dropped).
    Idempotent. Only a prefix of the input
    a few times `limit` long is read unless it is mostly whitespace.

    Args:
        text: What the client sent.
        limit: Most characters kept.

    Returns:
        The cleaned text (possibly empty).
    """
    if limit <= 0:
        return ""
    # Cleaning a prefix gives a prefix of the cleaned text (words are never joined,
    # only separated), so a long enough cleaned prefix is the answer.
    cleaned = _clean_all(text[: 4 * limit + 64])
    if len(cleaned) < limit and len(text) > 4 * limit + 64:
        cleaned = _clean_all(text)
    return cleaned[:limit].rstrip()


def strip_markup(text: str) -> str:
    """The text without HTML/XML tags, `script`/`style` elements or terminal escapes.

    Each piece removed becomes a space (so words either side stay apart); a
    lone `<` or `>` ("a < b") is kept.
    """
    text = _SCRIPT.sub(" ", text)
    text = _TAG.sub(" ", text)
    return _ESCAPE.sub(" ", text)


def cap_sender(sender: Any, limit: int = MAX_SENDER_LENGTH) -> str:
    """The conversation id a client sent, made safe to store and log.

    Contract: text or a whole number (as Rasa's REST channel accepts) is turned
    into text; characters that are not printable (`str.isprintable`) are
    dropped and surrounding whitespace trimmed. An id longer than `limit` keeps
    its beginning and ends with `~` and a hash of the whole id, so two long ids
    stay two conversations. Only the first `4 * limit` characters are scanned.

    Args:
        sender: The request's `sender` field (None when it was missing).
        limit: Most characters kept (at least 32).

    Returns:
        A non-empty, printable id of at most `limit` characters.

    Raises:
        ValueError: the sender is missing, not text or a whole number (booleans
            included), or empty once cleaned. The channel answers 400.
    """
    if limit < 32:
        raise ValueError("a sender limit must leave room for the hash (32 or more)")
    if isinstance(sender, bool) or not isinstance(sender, str | int):
        raise ValueError("'sender' must be text or a whole number")
    raw = str(sender)
    scanned = raw[: 4 * limit]
    kept = "".join(char for char in scanned if char.isprintable()).strip()
    if not kept:
        raise ValueError("'sender' must not be empty")
    if len(scanned) == len(raw) and len(kept) <= limit:
        return kept
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{kept[: limit - len(digest) - 1]}~{digest}"


def _json_bytes(value: Any) -> Optional[bytes]:
    """Compact UTF-8 JSON of a value; None when it is not JSON (or holds lone surrogates)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None


def cap_metadata(metadata: Any, limit: int = MAX_METADATA_BYTES) -> Dict[str, Any]:
    """The request's `metadata`, cut to what may be stored.

    Contract: a mapping's items are kept in order while the kept mapping, as
    compact UTF-8 JSON, stays within `limit` bytes; an item whose key is not
    text, whose value is not JSON (NaN, sets, objects, nesting too deep) or
    that does not fit is dropped, and later items that fit are still kept.
    Anything that is not a mapping (None included) gives `{}`. Values are
    returned as fresh JSON data (tuples become lists). Never raises.

    Args:
        metadata: The request's `metadata` field.
        limit: Most bytes of JSON kept.

    Returns:
        A JSON-serialisable dict whose compact JSON is at most `limit` bytes.
    """
    if not isinstance(metadata, Mapping):
        return {}
    kept: Dict[str, Any] = {}
    used = 2  # the braces
    for key, value in metadata.items():
        if used + len('"":0') > limit:  # not even the smallest item fits any more
            break
        if not isinstance(key, str):
            continue
        encoded_key, encoded = _json_bytes(key), _json_bytes(value)
        if encoded_key is None or encoded is None:
            continue
        size = len(encoded_key) + 1 + len(encoded) + (1 if kept else 0)  # "key":value,
        if used + size > limit:
            continue
        kept[key] = json.loads(encoded)
        used += size
    return kept
