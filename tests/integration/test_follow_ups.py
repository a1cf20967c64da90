"""Follow-ups in context, end to end: each kind ends on the right `topic`."""

from __future__ import annotations

import uuid
from typing import List, Tuple

import pytest

from tests.servers import Assistant

# (kind, [(message, topic expected after it)]): every turn's topic is checked.
CONVERSATIONS: List[Tuple[str, List[Tuple[str, str]]]] = [
    ("pronoun", [("is magnesium any good for night cramps?", "supplements"),
                 ("does it interact with blood thinners?", "supplements")]),
    ("pronoun", [("can sciatica cause leg pain at night?", "sciatica"),
                 ("what's the treatment for that?", "sciatica")]),
    ("earlier_mention", [("i take furosemide for my heart and get cramps", "medications"),
                         ("how do i stop a cramp when it happens", "quick_relief"),
                         ("could that explain it?", "medications")]),
    ("practical", [("what stretches help before bed?", "stretches"),
                   ("and how many times a day?", "stretches")]),
    ("what_about", [("what causes night cramps", "causes"),
                    ("what about statins?", "medications")]),
    ("other_person", [("what stretches help before bed?", "stretches"),
                      ("what about for my pregnant wife?", "stretches")]),
    ("correction", [("what supplements help with cramps", "supplements"),
                    ("no, i meant what to eat", "diet")]),
    ("switch", [("is magnesium good for cramps", "supplements"),
                ("ok different question, how does a doctor find the cause?", "diagnosis")]),
]


@pytest.mark.parametrize("kind, turns", CONVERSATIONS, ids=[k for k, _ in CONVERSATIONS])
def test_follow_up_ends_on_the_right_topic(assistant: Assistant, kind: str,
                                           turns: List[Tuple[str, str]]) -> None:
    sender = uuid.uuid4().hex
    for text, expected in turns:
        assistant.say(text, sender)
        assert assistant.topic(sender) == expected, (kind, text)


def test_follow_up_with_nothing_to_point_to_offers_topics(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    replies = assistant.say("is it safe?", sender)
    assert assistant.topic(sender) is None
    assert any(r.get("buttons") or "You can ask me" in (r.get("text") or "") for r in replies)


@pytest.mark.parametrize("text", ["why do my stomach cramps come at night",
                                  "my hands cramp up when i write"])
def test_cramps_elsewhere_in_the_body_are_declined(assistant: Assistant, text: str) -> None:
    sender = uuid.uuid4().hex
    replies = assistant.say(text, sender)
    assert assistant.topic(sender) is None
    assert "only help with questions about night-time leg cramps" in replies[0]["text"]
