"""Deterministic safety net: spaCy matchers for red flags and personal-advice requests.

The rules live in `content/safety.yml` so clinical reviewers can read and edit
them. A *concept* is a list of words or phrases: a trailing `*` makes the last
word a prefix (`swell*` matches swells, swelling...), a lone `#` matches a
number, a lone `_` matches any one word, and `a|b*|c` matches one word that is
a, starts with b, or is c (`calf|leg _ hurt*|sore` matches "calf is sore").
A *rule* fires when one of its alternatives (`when`) holds and none
of its exceptions (`unless`) does; an alternative or exception is a list of
requirements, each asking for at least `min` (default 1) and, when given, at
most `max` distinct concepts out of `of` (`{of: [x], max: 0}`: x is absent).
Every rule names the `source` it comes from (a source id of content/store.yml,
usually `project_safety_policy`); a red-flag rule also has a `lead`, the first
sentence of the urgent answer when it is the first rule a message matches.

Matching is linear in the length of a message, and reads no more of it than the
NLU pipeline does (`text_limits.MAX_MESSAGE_LENGTH` characters, after
`text_limits.clean_text`): every pattern is a fixed run of single-token tests (no
`*`, `+` or `?` operators, and token regexes without quantifiers), the rules are
evaluated once over the set of concepts found, and a run of more than
`MAX_CHUNK` characters without a space (which spaCy's tokenizer would peel one
punctuation mark per pass over the whole run) is first split at its punctuation
and symbols, then into `MAX_CHUNK`-character pieces.

Both the NLU pipeline (components/red_flag_guard.py) and the action server use
this module, so a red flag can never get an ordinary FAQ answer, whatever the
classifier says. The guard records its verdict in the parse data
(`CHECK_KEY`, with the `SafetyNet.fingerprint` of the rules it used); the action
server reuses that verdict when its own rules have the same fingerprint, and
checks the text itself otherwise (a message that skipped NLU, such as a button
payload, or rules edited since the model was loaded).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import spacy
from pydantic import BaseModel, root_validator, validator
from spacy.matcher import Matcher

from nightcramps.content_store import content_dir
from nightcramps.schema import (
    ContentError,
    Name,
    StrictModel,
    Text,
    content_error,
    read_yaml,
    validate,
)
from nightcramps.text_limits import MAX_MESSAGE_LENGTH, clean_text

#: Longest run of characters without a space handed to spaCy's tokenizer as it is.
MAX_CHUNK = 64
_LONG_CHUNK = re.compile(rf"(?<!\S)\S{{{MAX_CHUNK + 1},}}")
_SPLIT_AT = re.compile(r"[^\w'\u2019-]")


def _split_chunk(match: re.Match[str]) -> str:
    """A long run, split at punctuation and symbols, then into `MAX_CHUNK` pieces."""
    pieces = _SPLIT_AT.sub(lambda mark: f" {mark.group()} ", match.group()).split()
    return " ".join(piece[start:start + MAX_CHUNK]
                    for piece in pieces for start in range(0, len(piece), MAX_CHUNK))


def prepared(text: str) -> str:
    """The text the matcher tokenizes: cleaned, capped, no run longer than `MAX_CHUNK`."""
    return _LONG_CHUNK.sub(_split_chunk, clean_text(text, MAX_MESSAGE_LENGTH))


@dataclass(frozen=True)
class Requirement:
    """Between `minimum` and `maximum` distinct concepts out of `concepts` are present."""

    concepts: FrozenSet[str]
    minimum: int = 1
    maximum: Optional[int] = None

    def holds(self, found: FrozenSet[str]) -> bool:
        """Whether the concepts found in a message satisfy this requirement."""
        count = len(self.concepts & found)
        return count >= self.minimum and (self.maximum is None or count <= self.maximum)


Alternative = Tuple[Requirement, ...]


def _holds(alternative: Alternative, found: FrozenSet[str]) -> bool:
    return all(requirement.holds(found) for requirement in alternative)


@dataclass(frozen=True)
class Rule:
    """A named rule: fires when an alternative of `when` holds and none of `unless` does."""

    when: Tuple[Alternative, ...]
    unless: Tuple[Alternative, ...] = ()
    source: Tuple[str, ...] = ()
    lead: Optional[str] = None

    def fires(self, found: FrozenSet[str]) -> bool:
        """Whether a message with these concepts triggers the rule."""
        return (any(_holds(alt, found) for alt in self.when)
                and not any(_holds(alt, found) for alt in self.unless))


def _word_pattern(nlp: spacy.language.Language, term: str, word: str) -> Dict[str, Any]:
    """One token test for `a|b*|c`: any of the options, `*` making one a prefix."""
    options = [option for option in word.split("|") if option.rstrip("*")]
    if not options:
        raise ValueError(f"'{word}' in '{term}' names no word")
    for option in options:
        if len(nlp.make_doc(option.rstrip("*"))) != 1:
            raise ValueError(f"'{option}' in '{term}' is not a single word; "
                             "only single words can be alternatives (a|b)")
    prefixes = [re.escape(option.rstrip("*")) for option in options if option.endswith("*")]
    if not prefixes:
        return {"LOWER": {"IN": options}}
    # No quantifiers: a prefix, or a whole word (the `$` only after a fixed string).
    words = [re.escape(option) for option in options if not option.endswith("*")]
    alternation = "|".join(prefixes + ([f"(?:{'|'.join(words)})$"] if words else []))
    return {"LOWER": {"REGEX": f"^(?:{alternation})"}}


def _token_patterns(nlp: spacy.language.Language, term: str) -> List[Dict[str, Any]]:
    """The fixed-length token pattern of one term (no operators, so matching stays linear)."""
    pattern: List[Dict[str, Any]] = []
    for word in term.lower().split():
        if word == "#":
            pattern.append({"LIKE_NUM": True})
            continue
        if word == "_":
            pattern.append({})
            continue
        if "|" in word:
            pattern.append(_word_pattern(nlp, term, word))
            continue
        prefix = word.endswith("*")
        pieces = [t.text for t in nlp.make_doc(word.rstrip("*"))]
        for index, piece in enumerate(pieces):
            if prefix and index == len(pieces) - 1:
                pattern.append({"LOWER": {"REGEX": f"^{re.escape(piece)}"}})
            else:
                pattern.append({"LOWER": piece})
    if not pattern or all(not test for test in pattern):
        raise ValueError(f"'{term}' matches no particular word")
    return pattern


#: Parse-data key where the NLU guard records its red-flag check:
#: ``{"rules": <SafetyNet.fingerprint>, "flags": [<red flag names>]}``.
CHECK_KEY = "red_flag_check"


class RuleMatcher:
    """Finds concepts with a spaCy `Matcher` and evaluates rules over them."""

    #: How many recent texts keep their concepts (an answer checks one text twice:
    #: red flags, then requests for a dose or diagnosis).
    CACHE_SIZE = 64

    def __init__(
        self, nlp: spacy.language.Language, concepts: Mapping[str, Sequence[str]]
    ) -> None:
        """Compiles the concepts into one matcher.

        Args:
            nlp: A pipeline whose tokenizer splits messages (a blank English one).
            concepts: Concept name -> words or phrases.
        """
        self._nlp = nlp
        self._matcher = Matcher(nlp.vocab)
        self._recent: OrderedDict[str, FrozenSet[str]] = OrderedDict()
        self._recent_lock = threading.Lock()
        for name, terms in concepts.items():
            try:
                patterns = [_token_patterns(nlp, term) for term in terms]
            except ValueError as error:
                raise ValueError(f"concept '{name}': {error}") from None
            self._matcher.add(name, patterns)

    def concepts_in(self, text: str) -> FrozenSet[str]:
        """Returns the names of the concepts the text mentions (see `prepared`)."""
        text = prepared(text)
        with self._recent_lock:
            found = self._recent.get(text)
            if found is not None:
                self._recent.move_to_end(text)
                return found
        doc = self._nlp.make_doc(text)
        vocab = self._nlp.vocab.strings
        found = frozenset(vocab[match_id] for match_id, _, _ in self._matcher(doc))
        with self._recent_lock:
            self._recent[text] = found
            if len(self._recent) > self.CACHE_SIZE:
                self._recent.popitem(last=False)
        return found

    def match(self, text: str, rules: Mapping[str, Rule]) -> List[str]:
        """Returns the names of the rules the text triggers, in rule order."""
        if not text or not text.strip():
            return []
        found = self.concepts_in(text)
        return [name for name, rule in rules.items() if rule.fires(found)]


# --- the schema of safety.yml --------------------------------------------------------

class RequirementModel(StrictModel):
    """`{of: [concepts], min: n, max: m}`: between min and max of these concepts."""

    of: List[Name]
    min: Optional[int] = None
    max: Optional[int] = None

    @validator("of")
    def _names_a_concept(cls, names: List[str]) -> List[str]:
        if not names:
            raise ValueError("a requirement needs 'of: [concepts]'")
        return names

    @root_validator(skip_on_failure=True)
    def _bounds(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        if _bounds_of(values.get("min"), values.get("max")) is None:
            raise ValueError("needs 0 <= min <= max")
        return values

    def bounds(self) -> Tuple[int, Optional[int]]:
        """(min, max), min defaulting to 0 when only max is given, else to 1."""
        return _bounds_of(self.min, self.max) or (1, None)


def _bounds_of(minimum: Optional[int], maximum: Optional[int]
               ) -> Optional[Tuple[int, Optional[int]]]:
    low = minimum if minimum is not None else (0 if maximum is not None else 1)
    if low < 0 or (maximum is not None and maximum < low):
        return None
    return low, maximum


class RuleModel(StrictModel):
    """A rule: alternatives that make it fire, exceptions, its source."""

    when: List[List[RequirementModel]]
    unless: Optional[List[List[RequirementModel]]] = None
    source: List[Text]
    lead: Optional[Text] = None

    @validator("when", "unless")
    def _alternatives(cls, alternatives: Optional[List[List[RequirementModel]]]
                      ) -> Optional[List[List[RequirementModel]]]:
        if alternatives is not None and (not alternatives or not all(alternatives)):
            raise ValueError("must be a list of alternatives, each a list of requirements")
        return alternatives

    @validator("source", pre=True)
    def _one_or_more(cls, source: Any) -> Any:
        if isinstance(source, str):
            source = [source]
        if not source:
            raise ValueError("must name the rule's source (e.g. project_safety_policy)")
        return source


class RedFlagModel(RuleModel):
    """A red-flag rule: also the `lead` of the urgent answer."""

    lead: Text


class SafetyModel(BaseModel):
    """`safety.yml`: concepts, red-flag rules and personal-advice rules."""

    concepts: Dict[str, List[Text]]
    red_flags: Dict[str, RedFlagModel]
    personal_advice: Dict[str, RuleModel]

    @validator("concepts", "red_flags", "personal_advice")
    def _not_empty(cls, mapping: Dict[str, Any]) -> Dict[str, Any]:
        if not mapping:
            raise ValueError("must map names to words or rules")
        return mapping


def _alternatives(path: Path, where: Tuple[str, str, str],
                  raw: Optional[List[List[RequirementModel]]], concepts: Mapping[str, Any]
                  ) -> Tuple[Alternative, ...]:
    parsed: List[Alternative] = []
    for index, alternative in enumerate(raw or []):
        requirements = []
        for position, spec in enumerate(alternative):
            for item, name in enumerate(spec.of):
                if name not in concepts:
                    raise content_error(path, (*where, index, position, "of", item),
                                        f"unknown concept '{name}'")
            minimum, maximum = spec.bounds()
            requirements.append(Requirement(frozenset(spec.of), minimum, maximum))
        parsed.append(tuple(requirements))
    return tuple(parsed)


def _rules(path: Path, section: str, raw: Mapping[str, RuleModel], concepts: Mapping[str, Any],
           known_sources: Optional[Iterable[str]]) -> Dict[str, Rule]:
    known = set(known_sources) if known_sources is not None else None
    rules: Dict[str, Rule] = {}
    for name, spec in raw.items():
        for index, source in enumerate(spec.source):
            if known is not None and source not in known:
                raise content_error(path, (section, name, "source", index),
                                    f"'{source}' is not in store.yml")
        rules[str(name)] = Rule(
            _alternatives(path, (section, name, "when"), spec.when, concepts),
            _alternatives(path, (section, name, "unless"), spec.unless, concepts),
            tuple(spec.source),
            " ".join(spec.lead.split()) if spec.lead else None)
    return rules


def _store_sources(path: Path) -> Optional[List[str]]:
    """The source ids of the store.yml next to a rules file (None if there is none)."""
    store = path.parent / "store.yml"
    if not store.is_file():
        return None
    try:
        data = read_yaml(store)
    except ContentError:
        return None
    sources = data.get("sources") if isinstance(data, dict) else None
    return [str(s) for s in sources] if isinstance(sources, dict) else None


class SafetyNet:
    """Red-flag and personal-advice detection over raw user text."""

    def __init__(
        self,
        nlp: spacy.language.Language,
        concepts: Mapping[str, Sequence[str]],
        red_flags: Mapping[str, Rule],
        personal_advice: Mapping[str, Rule],
    ) -> None:
        """Compiles the concepts once and keeps both rule sets.

        Args:
            nlp: A pipeline whose tokenizer splits messages (a blank English one).
            concepts: Concept name -> words or phrases.
            red_flags: Rules whose match means "urgent care now", most serious first.
            personal_advice: Rules whose match means "asks for a dose or diagnosis".
        """
        self._matcher = RuleMatcher(nlp, concepts)
        self._red_flags = dict(red_flags)
        self._personal_advice = dict(personal_advice)
        self.fingerprint = fingerprint(concepts, self._red_flags, self._personal_advice)

    @classmethod
    def from_file(cls, path: Path) -> SafetyNet:
        """Loads and compiles `safety.yml`.

        A rule's `source` must be listed in the `store.yml` beside the file, when
        there is one.

        Raises:
            ContentError: naming the file, the line and the field at fault.
        """
        model = validate(SafetyModel, read_yaml(path), path)
        concepts = {name: [str(term) for term in terms] for name, terms in model.concepts.items()}
        sources = _store_sources(path)
        red = _rules(path, "red_flags", model.red_flags, concepts, sources)
        advice = _rules(path, "personal_advice", model.personal_advice, concepts, sources)
        nlp = spacy.blank("en")
        try:
            return cls(nlp, concepts, red, advice)
        except ValueError as error:
            raise content_error(path, ("concepts",), str(error)) from None

    def red_flags(self, text: Optional[str]) -> List[str]:
        """Names of the red flags in the text (empty when none), most serious first."""
        return self._matcher.match(text or "", self._red_flags)

    def red_flags_of(self, message: Mapping[str, Any]) -> List[str]:
        """Names of the red flags in a parsed message (`tracker.latest_message`).

        The NLU guard's recorded verdict when it used these same rules; otherwise
        the message's text is checked here.
        """
        check = message.get(CHECK_KEY)
        if (isinstance(check, dict) and check.get("rules") == self.fingerprint
                and isinstance(check.get("flags"), list)):
            return [str(flag) for flag in check["flags"]]
        return self.red_flags(message.get("text"))

    def lead_for(self, message: Union[Mapping[str, Any], str, None]) -> Optional[str]:
        """The lead sentence of the first (most serious) red flag of a message or text.

        Args:
            message: A parsed message (`tracker.latest_message`, whose recorded
                check is reused as in `red_flags_of`) or a plain text.

        Returns:
            The lead, or None when the message carries no red flag.
        """
        if isinstance(message, Mapping):
            flags = self.red_flags_of(message)
        else:
            flags = self.red_flags(message)
        for flag in flags:
            rule = self._red_flags.get(flag)
            if rule is not None and rule.lead:
                return rule.lead
        return None

    def leads(self) -> Dict[str, str]:
        """Red-flag name -> its lead sentence, in rule order."""
        return {name: rule.lead for name, rule in self._red_flags.items() if rule.lead}

    def check(self, text: Optional[str]) -> Dict[str, Any]:
        """The red-flag verdict on `text`, as the NLU guard records it under `CHECK_KEY`."""
        return {"rules": self.fingerprint, "flags": self.red_flags(text)}

    def personal_advice(self, text: Optional[str]) -> List[str]:
        """`dose` and/or `diagnosis` when the text asks for one (empty otherwise)."""
        return self._matcher.match(text or "", self._personal_advice)


def fingerprint(concepts: Mapping[str, Sequence[str]],
                *rule_sets: Mapping[str, Rule]) -> str:
    """A short hash of the concepts and rules: equal only for the same verdicts.

    Leads and sources do not change which flags a message gets, so they are left out.
    """
    def alternatives(alts: Sequence[Alternative]) -> List[Any]:
        return [[[sorted(req.concepts), req.minimum, req.maximum] for req in alternative]
                for alternative in alts]

    # A list, not a mapping: the order of the rules (most serious first) counts too.
    rules = [[[name, alternatives(rule.when), alternatives(rule.unless)]
              for name, rule in rule_set.items()] for rule_set in rule_sets]
    canonical = json.dumps({"concepts": {name: list(terms) for name, terms in concepts.items()},
                            "rules": rules}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def default_safety_net() -> SafetyNet:
    """The process-wide safety net, compiled on first use (never at import time)."""
    return SafetyNet.from_file(content_dir() / "safety.yml")
