"""`make evaluate` and `make check` agree on what counts as a held-out message trained on."""

from __future__ import annotations

from tools.benchmark import leaked
from tools.content.nlu import duplicate_key


def test_punctuation_case_apostrophes_and_spacing_do_not_hide_a_leak() -> None:
    heldout = [("What's the  best STRETCH?", "ask_stretches"), ("new message", "ask_diet")]
    train = [("whats the best stretch", "ask_stretches"), ("another", "ask_diet")]
    assert leaked(heldout, train) == ["whats the best stretch"]


def test_the_same_key_as_make_check() -> None:
    assert duplicate_key("Cramps... at NIGHT!") == duplicate_key("cramps at night")
    assert duplicate_key("🙂") == "🙂"  # only emoji: the text itself
    assert leaked([("different words", "a")], [("other words", "a")]) == []
