"""Markup per platform, escaping, splitting under the limits, numbered lists."""

from __future__ import annotations

import re
from typing import List

import pytest

from connectors.rendering import (
    MESSENGER_LIMIT,
    PLAIN,
    SLACK_LIMIT,
    SLACK_MRKDWN,
    TELEGRAM_HTML,
    TELEGRAM_LIMIT,
    WHATSAPP,
    WHATSAPP_LIMIT,
    Markup,
    numbered_list,
    render,
    render_parts,
    shorten,
    split_text,
)
from tests.channels.conftest import DISCLAIMER, STORE, small_print_of

ALL = [TELEGRAM_HTML, SLACK_MRKDWN, WHATSAPP, PLAIN]
LIMITS = [(TELEGRAM_HTML, TELEGRAM_LIMIT), (SLACK_MRKDWN, SLACK_LIMIT),
          (PLAIN, MESSENGER_LIMIT), (WHATSAPP, WHATSAPP_LIMIT)]


@pytest.mark.parametrize(("markup", "expected"), [
    (TELEGRAM_HTML, "<b>Note</b>: stretch &amp; rest"),
    (SLACK_MRKDWN, "*Note*: stretch &amp; rest"),
    (WHATSAPP, "*Note*: stretch & rest"),
    (PLAIN, "Note: stretch & rest"),
])
def test_bold_per_dialect(markup: Markup, expected: str) -> None:
    assert render("**Note**: stretch & rest", markup) == expected


@pytest.mark.parametrize("markup", [TELEGRAM_HTML, SLACK_MRKDWN])
def test_markup_characters_are_escaped(markup: Markup) -> None:
    rendered = render("<script>alert(1)</script> & <b>x</b> 1 < 2 > 0", markup)
    assert "<" not in rendered and ">" not in rendered
    assert rendered == ("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;x&lt;/b&gt; "
                        "1 &lt; 2 &gt; 0")


def test_text_inside_bold_is_escaped_too() -> None:
    assert render("**<i>&**", TELEGRAM_HTML) == "<b>&lt;i&gt;&amp;</b>"
    assert render("**a<b**", SLACK_MRKDWN) == "*a&lt;b*"


def test_unmatched_or_spaced_stars_stay_text() -> None:
    assert render("2 ** 3 and **open", PLAIN) == "2 ** 3 and **open"
    assert render("** spaced **", TELEGRAM_HTML) == "** spaced **"


@pytest.mark.parametrize("markup", ALL)
def test_bullets_become_bullet_points(markup: Markup) -> None:
    text = "Topics:\n- Causes\n* Relief\n  - Nested"
    assert render(text, markup) == "Topics:\n• Causes\n• Relief\n  • Nested"


def test_topic_list_as_the_actions_send_it() -> None:
    titles = "\n".join(f"- {entry.title}" for entry in STORE.entries())
    text = f"You can ask me about night-time leg cramps, for example:\n{titles}\n\n{DISCLAIMER}"
    rendered = render(text, SLACK_MRKDWN)
    assert rendered.count("\n• ") == len(STORE.entries())
    assert rendered.endswith(DISCLAIMER)


def test_answers_need_no_escaping_today() -> None:
    """The store's answers are plain prose: rendering changes nothing but entities."""
    for entry in STORE.entries():
        for markup in ALL:
            assert render(entry.answer, markup) == entry.answer


def test_short_text_is_one_part() -> None:
    assert split_text("  Hello there.  ", 100) == ["Hello there."]
    assert split_text("   ", 100) == []


def test_splits_between_paragraphs_first() -> None:
    text = "First paragraph here.\n\nSecond one.\n\nThird."
    assert split_text(text, 35) == ["First paragraph here.\n\nSecond one.", "Third."]


def test_splits_between_sentences_then_words() -> None:
    text = "One two three. Four five six. Seven eight nine."
    assert split_text(text, 30) == ["One two three. Four five six.", "Seven eight nine."]
    assert split_text("alpha beta gamma delta", 11) == ["alpha beta", "gamma delta"]


def test_cuts_a_word_only_when_it_is_longer_than_the_limit() -> None:
    assert split_text("short " + "x" * 25 + " end", 10) == [
        "short", "x" * 10, "x" * 10, "x" * 5, "end"]


def words(text: str) -> List[str]:
    return re.findall(r"\S+", text)


def long_answer(length: int) -> str:
    sentences = [f"Sentence number {i} says something about cramps at night." for i in
                 range(length // 50)]
    paragraphs = [" ".join(sentences[i:i + 12]) for i in range(0, len(sentences), 12)]
    return "\n\n".join(paragraphs)


@pytest.mark.parametrize(("markup", "limit"), LIMITS, ids=lambda v: getattr(v, "name", v))
def test_long_answers_split_under_each_limit_and_end_with_their_small_print(
        markup: Markup, limit: int) -> None:
    text = f"{long_answer(3 * limit)}\n\n{small_print_of('causes')}"
    parts = render_parts(text, markup, limit)
    assert len(parts) >= 3
    assert all(0 < len(part) <= limit for part in parts)
    assert parts[-1].endswith(render(small_print_of("causes"), markup))
    assert words(" ".join(parts)) == words(render(text, markup))


@pytest.mark.parametrize(("markup", "limit"), LIMITS, ids=lambda v: getattr(v, "name", v))
def test_one_huge_paragraph_splits_at_sentences(markup: Markup, limit: int) -> None:
    paragraph = " ".join(f"Sentence {i} & more words follow here." for i in range(limit // 10))
    parts = render_parts(f"{paragraph}\n\n{DISCLAIMER}", markup, limit)
    assert all(len(part) <= limit for part in parts)
    assert all(part.endswith(".") for part in parts)
    assert parts[-1].endswith(DISCLAIMER)


def test_escaping_counts_towards_the_limit() -> None:
    text = " ".join(["&&&&"] * 2000)  # 9,999 characters that grow five-fold when escaped
    parts = render_parts(text, TELEGRAM_HTML, TELEGRAM_LIMIT)
    assert all(len(part) <= TELEGRAM_LIMIT for part in parts)
    assert all("&amp;&amp;&amp;&amp;" == word for part in parts for word in part.split())


def test_numbered_list() -> None:
    assert numbered_list(["Causes", "Quick relief"]) == "1. Causes\n2. Quick relief"
    assert numbered_list(["A"], start=3) == "3. A"


@pytest.mark.parametrize(("title", "limit", "expected"), [
    ("Causes", 20, "Causes"),
    ("Magnesium, potassium and calcium supplements", 20, "Magnesium…"),
    ("Magnesium, potassium and calcium supplements", 21, "Magnesium, potassium…"),
    ("What causes night-time leg cramps", 17, "What causes…"),
    ("Supercalifragilistic", 10, "Supercali…"),
    ("  spaced   out  ", 20, "spaced out"),
])
def test_shorten_cuts_at_a_word_boundary(title: str, limit: int, expected: str) -> None:
    shortened = shorten(title, limit)
    assert shortened == expected
    assert len(shortened) <= limit
