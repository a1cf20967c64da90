"""What a conversation is about, for answering follow-ups.

A follow-up ("is it safe?", "could that explain it?", "and how often?") has no
topic of its own: it points back. The conversation already holds what it points
to: the `topic` slot (the last answer sent) and the terms the user named in
earlier turns (a mineral, a medicine, a condition, a sport), which the entity
ruler tagged. `resolve` picks the topic a follow-up needs from those, by a few
plain-language cues, so the choice is predictable and testable without a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence, Tuple

#: Entity labels whose terms lead to a topic (see content_store.LABEL_TOPICS).
TERM_LABELS = ("mineral", "medication", "condition", "activity", "drink")
#: Words that point back to something said before.
BACK_REFERENCES = frozenset({"it", "its", "it's", "that", "thats", "that's", "this", "they",
                             "them", "those", "these", "one", "ones"})
#: Words that point back to the last answer rather than to the user's own cramps.
ANSWER_REFERENCES = frozenset({"it", "that", "those", "them", "any of those", "this advice"})
#: How a short follow-up built on the last answer opens ("and in pregnancy?").
FOLLOW_UP_OPENERS = ("and ", "what about", "how about", "same for", "is it the same",
                     "does that apply", "does this apply", "also for", "even for")
SHORT_FOLLOW_UP_WORDS = 8
#: A follow-up that asks whether something named before is the cause.
CAUSAL_CUES = ("explain", "cause", "causing", "caused", "reason", "why", "blame", "behind",
               "responsible", "because of", "linked", "connected", "related", "culprit",
               "trigger", "contribut", "to do with")
#: A follow-up that asks how to treat what the conversation is about.
TREATMENT_CUES = ("treat", "cure", "fix", "get rid", "therapy", "what helps",
                  "what can i do", "what can be done", "manage")
#: A follow-up that asks about taking the current subject together with a named term.
INTERACTION_CUES = ("interact", "with my", "alongside", "together", "mix", "combine",
                    "safe with", "on top of", "as well as", "along with", "while on",
                    "while taking", "if i take", "if i'm on", "if im on")
#: Topics about a condition: their answers say how that condition is treated.
CONDITION_TOPICS = frozenset({"sciatica", "restless_legs", "medical_conditions", "circulation"})
#: Topics that already answer "what causes it".
CAUSE_TOPICS = frozenset({"causes", "medications", "medical_conditions", "dehydration",
                          "electrolytes", "exercise", "circulation", "risk_factors",
                          "sciatica", "restless_legs", "pregnancy"})
DEFAULT_CAUSE_TOPIC = "causes"
DEFAULT_TREATMENT_TOPIC = "treatments"

_WORD = re.compile(r"[a-z']+")
#: "my dad, he's 82", "a 75 year old", "she is in her 80s": an age of 60 or more.
#: Bounded, anchored alternatives only: linear-time on any input.
_OLDER_AGE = re.compile(
    r"\b(?:(?:i'm|im|i am|he's|hes|he is|she's|shes|she is|they're|theyre|is|aged|age)"
    r" (?:now )?[6-9][0-9]\b|[6-9][0-9][ -]?(?:year|yr)s?[ -]?old\b"
    r"|in (?:his|her|my|their|your) (?:60|70|80|90)s\b)")
OLDER_ADULTS = "older_adults"

#: Maps (entity label, word as written) to a topic id, or None.
TermTopic = Callable[[str, str], Optional[str]]


@dataclass(frozen=True)
class Turn:
    """An earlier user turn: the terms it named, as (label, word as written)."""

    terms: Tuple[Tuple[str, str], ...]


@dataclass(frozen=True)
class Resolution:
    """The topic a follow-up needs, and which cue decided it."""

    topic: str
    reason: str  # named, interaction, causal, treatment, current or earlier


def terms_in(entities: Iterable[Mapping[str, Any]]) -> Tuple[Tuple[str, str], ...]:
    """The (label, value) pairs of a message's entities that can lead to a topic."""
    return tuple((str(e["entity"]), str(e["value"])) for e in entities
                 if e.get("entity") in TERM_LABELS and isinstance(e.get("value"), str))


def earlier_turns(events: Sequence[Mapping[str, Any]]) -> List[Turn]:
    """The session's user turns before the latest one, newest first.

    Args:
        events: The tracker's events, as rasa-sdk hands them to an action.
    """
    turns: List[Turn] = []
    for event in events:
        kind = event.get("event")
        if kind == "session_started":
            turns = []
        elif kind == "user":
            entities = (event.get("parse_data") or {}).get("entities") or []
            turns.append(Turn(terms_in(entities)))
    return list(reversed(turns[:-1]))


def age_group(text: str) -> Optional[str]:
    """`older_adults` when a message gives an age of 60 or more, else None."""
    return OLDER_ADULTS if _OLDER_AGE.search(text.lower()) else None


def points_back(text: str) -> bool:
    """Whether a message points back to something said before ("is it safe?")."""
    return bool(BACK_REFERENCES & set(_WORD.findall(text.lower())))


def points_back_to_answer(text: str) -> bool:
    """Whether a message points back to the last answer, not to the user's cramps.

    "Can she use any of those?" does; "why do I get these cramps?" does not.
    """
    lowered = " ".join(text.lower().split())
    words = _WORD.findall(lowered)
    if any(w.startswith("cramp") for w in words):
        return False
    # "And during pregnancy?", "what about for my mum": short, and built on the
    # last answer.
    if len(words) <= SHORT_FOLLOW_UP_WORDS and lowered.startswith(FOLLOW_UP_OPENERS):
        return True
    return bool(ANSWER_REFERENCES & set(words))


def _has(text: str, cues: Sequence[str]) -> bool:
    return any(cue in text for cue in cues)


def _first_topic(turns: Sequence[Turn], term_topic: TermTopic) -> Optional[str]:
    for turn in turns:
        for label, value in turn.terms:
            topic = term_topic(label, value)
            if topic:
                return topic
    return None


def resolve(text: str, named_now: Sequence[Tuple[str, str]], earlier: Sequence[Turn],
            current_topic: Optional[str], term_topic: TermTopic) -> Optional[Resolution]:
    """The topic a follow-up needs, or None when the conversation has nothing to go on.

    In order:
    1. A term named now, unless the message points back and asks about taking the
       current subject with it ("does it interact with blood thinners?"): its topic.
    2. "Could that explain it?": the topic of the newest term named earlier, else
       the current topic when it is about causes, else the causes topic.
    3. "What's the treatment for that?": the current topic when it is a condition
       (its answer says how it is treated), else the treatments topic.
    4. Anything else ("is it safe?", "how often?"): the current topic, else the
       topic of the newest term named earlier.

    Args:
        text: The follow-up as the user wrote it.
        named_now: Terms the follow-up itself names, as (label, word).
        earlier: Earlier user turns of the session, newest first.
        current_topic: The `topic` slot.
        term_topic: Maps a named term to its topic.
    """
    lowered = " ".join(text.lower().split())
    now = _first_topic([Turn(tuple(named_now))], term_topic)
    before = _first_topic(earlier, term_topic)
    if not (now or before or current_topic):
        return None
    if now and not (points_back(lowered) and current_topic and _has(lowered, INTERACTION_CUES)):
        return Resolution(now, "named")
    if now and current_topic:
        return Resolution(current_topic, "interaction")
    if _has(lowered, CAUSAL_CUES):
        if before:
            return Resolution(before, "causal")
        if current_topic in CAUSE_TOPICS:
            return Resolution(current_topic, "causal")
        return Resolution(DEFAULT_CAUSE_TOPIC, "causal")
    if _has(lowered, TREATMENT_CUES):
        if current_topic in CONDITION_TOPICS:
            return Resolution(current_topic, "treatment")
        return Resolution(DEFAULT_TREATMENT_TOPIC, "treatment")
    if current_topic:
        return Resolution(current_topic, "current")
    return Resolution(before, "earlier") if before else None
