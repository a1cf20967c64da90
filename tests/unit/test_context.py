"""Follow-ups resolved from the conversation's context (actions/context.py)."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import pytest

from actions.context import (
    Resolution,
    Turn,
    age_group,
    earlier_turns,
    points_back_to_answer,
    resolve,
    terms_in,
)

TOPICS: Dict[Tuple[str, str], str] = {
    ("medication", "lasix"): "medications",
    ("medication", "blood thinners"): "medications",
    ("medication", "statins"): "medications",
    ("mineral", "magnesium"): "supplements",
    ("condition", "sciatica"): "sciatica",
    ("condition", "diabetes"): "medical_conditions",
    ("activity", "swimming"): "exercise",
}


def term_topic(label: str, value: str) -> Optional[str]:
    return TOPICS.get((label, value.lower()))


def test_terms_in_keeps_only_labels_that_lead_to_a_topic() -> None:
    entities = [{"entity": "medication", "value": "Lasix"}, {"entity": "body_part", "value": "calf"},
                {"entity": "group", "value": "pregnant"}, {"entity": "activity", "value": "swimming"}]
    assert terms_in(entities) == (("medication", "Lasix"), ("activity", "swimming"))


def test_earlier_turns_are_this_sessions_user_turns_newest_first_without_the_latest() -> None:
    def user(*terms: Tuple[str, str]) -> dict:
        return {"event": "user", "parse_data": {"entities": [
            {"entity": label, "value": value} for label, value in terms]}}

    events = [user(("mineral", "magnesium")), {"event": "session_started"},
              user(("medication", "lasix")), {"event": "bot"}, user(("condition", "sciatica")),
              user()]
    assert earlier_turns(events) == [Turn((("condition", "sciatica"),)),
                                     Turn((("medication", "lasix"),))]


@pytest.mark.parametrize("text, now, earlier, current, expected", [
    # A pronoun pointing back to the current topic stays on it.
    ("is it safe?", (), [], "supplements", Resolution("supplements", "current")),
    ("does it interact with blood thinners?", (("medication", "blood thinners"),), [],
     "supplements", Resolution("supplements", "interaction")),
    # "What about X": X's topic.
    ("what about statins?", (("medication", "statins"),), [], "causes",
     Resolution("medications", "named")),
    ("and swimming?", (("activity", "swimming"),), [], "stretches",
     Resolution("exercise", "named")),
    ("could it be my statins", (("medication", "statins"),), [], "causes",
     Resolution("medications", "named")),
    # Something named two turns before is what "could that explain it?" points to.
    ("could that explain it?", (), [Turn(()), Turn((("medication", "lasix"),))], "quick_relief",
     Resolution("medications", "causal")),
    ("is that why?", (), [], "dehydration", Resolution("dehydration", "causal")),
    ("is that why?", (), [], "stretches", Resolution("causes", "causal")),
    # Treating a condition: the condition's own answer says how it is treated.
    ("what's the treatment for that?", (), [], "sciatica", Resolution("sciatica", "treatment")),
    ("how do you treat it", (), [], "causes", Resolution("treatments", "treatment")),
    # Practical follow-ups stay on the current topic.
    ("and how many times a day?", (), [], "stretches", Resolution("stretches", "current")),
    # No topic yet: a term named earlier, else nothing to go on.
    ("is it safe", (), [Turn((("mineral", "magnesium"),))], None,
     Resolution("supplements", "earlier")),
    ("is it safe", (), [], None, None),
])
def test_resolve(text: str, now: tuple, earlier: list, current: Optional[str],
                 expected: Optional[Resolution]) -> None:
    assert resolve(text, now, earlier, current, term_topic) == expected


@pytest.mark.parametrize("text, expected", [
    ("my girlfriend is pregnant, can she use any of those?", True),
    ("is that ok when pregnant", True),
    ("i'm pregnant, why do i get these cramps", False),
    ("is it normal to get cramp in pregnancy", False),
    ("what about in pregnancy", True),
    ("and during pregnancy?", True),
    ("and why do i get cramps when pregnant", False),
    ("and what is the best thing to do for an older person who has just fallen badly", False),
])
def test_points_back_to_answer(text: str, expected: bool) -> None:
    assert points_back_to_answer(text) is expected


def test_nothing_in_the_conversation_resolves_nothing_whatever_the_cue() -> None:
    assert resolve("could that explain it?", (), [Turn(())], None, term_topic) is None
    assert resolve("how do you treat it", (), [], None, term_topic) is None


@pytest.mark.parametrize("text, expected", [
    ("what about my dad, he's 82?", "older_adults"),
    ("my nan is 91 and gets them", "older_adults"),
    ("a 75 year old man", "older_adults"),
    ("she is in her 80s", "older_adults"),
    ("im 67 and retired", "older_adults"),
    ("my son is 15", None),
    ("i'm 45", None),
    ("i walked 80 miles", None),
    ("for 2 weeks", None),
])
def test_age_group(text: str, expected: Optional[str]) -> None:
    assert age_group(text) == expected
