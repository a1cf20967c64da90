"""The limits on message text, sender ids and metadata (nightcramps/text_limits.py)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nightcramps.text_limits import (
    MAX_MESSAGE_LENGTH,
    MAX_METADATA_BYTES,
    MAX_SENDER_LENGTH,
    cap_metadata,
    cap_sender,
    clean_text,
    strip_markup,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  calf\tcramp\n\nat night ", "calf cramp at night"),
        ("\x00\x01\x07\x1b[31m\x7f", "[31m"),
        ("a\x85b\u2028c", "a b c"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("<b>kept</b>", "<b>kept</b>"),
        ("", ""),
    ],
)
def test_clean_text_drops_control_characters_and_extra_whitespace(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_clean_text_caps_the_length() -> None:
    assert MAX_MESSAGE_LENGTH == 2000
    assert clean_text("cramp " * 2000) == ("cramp " * 2000)[:2000]
    assert clean_text("ab " * 10, limit=5) == "ab ab"
    assert clean_text(" " * 100_000 + "late words") == "late words"
    assert clean_text("anything", limit=0) == ""


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(), st.integers(min_value=1, max_value=50))
def test_clean_text_is_a_prefix_of_the_cleaned_whole(text: str, limit: int) -> None:
    cleaned = clean_text(text, limit)
    whole = " ".join(text.translate({c: " " for c in range(32)}).split())
    assert len(cleaned) <= limit
    assert clean_text(cleaned, limit) == cleaned
    if all(ord(c) >= 32 and not 0x7F <= ord(c) < 0xA0 and not 0xD800 <= ord(c) < 0xE000
           for c in text):
        assert cleaned == whole[:limit].rstrip()


def test_strip_markup_removes_tags_scripts_and_escapes() -> None:
    assert strip_markup("<script>alert(1)</script>hi <i>there</i>").split() == ["hi", "there"]
    assert strip_markup("\x1b[31mred").strip() == "red"
    assert strip_markup("a < b and c > d") == "a < b and c > d"
    assert strip_markup("<style>unclosed").strip() == ""


@pytest.mark.parametrize(("sender", "kept"), [("user-1", "user-1"), (42, "42"),
                                              ("  spaced \x00id\n", "spaced id"),
                                              ("x" * MAX_SENDER_LENGTH, "x" * MAX_SENDER_LENGTH)])
def test_cap_sender_keeps_a_printable_id(sender: object, kept: str) -> None:
    assert cap_sender(sender) == kept


@pytest.mark.parametrize("sender", [None, "", "   ", "\x00\x07", True, 1.5, ["a"], {"a": 1}])
def test_cap_sender_refuses_a_missing_or_empty_id(sender: object) -> None:
    with pytest.raises(ValueError, match="sender"):
        cap_sender(sender)


def test_long_senders_are_capped_and_stay_distinct() -> None:
    first, second = "a" * 500 + "1", "a" * 500 + "2"
    capped = cap_sender(first)
    assert len(capped) <= MAX_SENDER_LENGTH and capped.isprintable()
    assert capped.startswith("a" * 100) and capped != cap_sender(second)
    assert cap_sender(first) == capped  # the same id always maps to the same conversation
    assert cap_sender("b" * 1_000_000) != cap_sender("b" * 1_000_001)


def test_cap_metadata_keeps_what_fits_and_drops_the_rest() -> None:
    metadata = {"small": 1, "big": "x" * 10_000, "after": [1, "two"], 3: "int key",
                "nan": math.nan, "object": object(), "nested": {"a": (1, 2)}}
    capped = cap_metadata(metadata)
    assert capped == {"small": 1, "after": [1, "two"], "nested": {"a": [1, 2]}}
    assert len(json.dumps(capped, separators=(",", ":")).encode()) <= MAX_METADATA_BYTES


@pytest.mark.parametrize("metadata", [None, "text", [1, 2], 3])
def test_cap_metadata_of_anything_but_a_mapping_is_empty(metadata: object) -> None:
    assert cap_metadata(metadata) == {}


@settings(max_examples=100, deadline=None, database=None)
@given(st.dictionaries(st.text(max_size=20),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                                    lambda inner: st.lists(inner) | st.dictionaries(
                                        st.text(max_size=5), inner), max_leaves=30)),
       st.integers(min_value=2, max_value=600))
def test_capped_metadata_is_json_within_the_limit(metadata: dict, limit: int) -> None:
    capped = cap_metadata(metadata, limit)
    encoded = json.dumps(capped, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(encoded) <= limit
    assert all(metadata[key] == value for key, value in capped.items())
    assert list(capped) == [key for key in metadata if key in capped]
