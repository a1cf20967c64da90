"""Deterministic safety net: spaCy matchers for red flags and personal-advice requests.

The rules live in `content/safety.yml` so clinical reviewers can read and edit
them. A *concept* is a list of words or phrases (a trailing `*` makes the last
word a prefix: `swell*` matches swells, swelling...; a lone `#` matches a
number). A *rule* fires when one of its alternatives holds; an alternative is a
list of requirements, each asking for at least `min` (default 1) distinct
concepts out of `of` to be present.

Both the NLU pipeline (components/red_flag_guard.py) and the action server use
this module, so a red flag can never get an ordinary FAQ answer, whatever the
classifier says. The guard records its verdict in the parse data
(`CHECK_KEY`, with the `SafetyNet.fingerprint` of the rules it used); the action
server reuses that verdict when its own rules have the same fingerprint, and
checks the text itself otherwise (a message that skipped NLU, such as a button
payload, or rules edited since the model was loaded).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

import spacy
import yaml
from spacy.matcher import Matcher

from actions.content_store import ContentError, content_dir


@dataclass(frozen=True)
class Requirement:
    """At least `minimum` distinct concepts out of `concepts` must be present."""

    concepts: FrozenSet[str]
    minimum: int = 1

    def holds(self, found: FrozenSet[str]) -> bool:
        """Whether the concepts found in a message satisfy this requirement."""
        return len(self.concepts & found) >= self.minimum


Alternative = Tuple[Requirement, ...]


def _token_patterns(nlp: spacy.language.Language, term: str) -> List[Dict[str, Any]]:
    pattern: List[Dict[str, Any]] = []
    for word in term.lower().split():
        if word == "#":
            pattern.append({"LIKE_NUM": True})
            continue
        prefix = word.endswith("*")
        pieces = [t.text for t in nlp.make_doc(word.rstrip("*"))]
        for index, piece in enumerate(pieces):
            if prefix and index == len(pieces) - 1:
                pattern.append({"LOWER": {"REGEX": f"^{re.escape(piece)}"}})
            else:
                pattern.append({"LOWER": piece})
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
            self._matcher.add(name, [_token_patterns(nlp, term) for term in terms])

    def concepts_in(self, text: str) -> FrozenSet[str]:
        """Returns the names of the concepts the text mentions."""
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

    def match(self, text: str, rules: Mapping[str, Sequence[Alternative]]) -> List[str]:
        """Returns the names of the rules the text triggers, in rule order."""
        if not text or not text.strip():
            return []
        found = self.concepts_in(text)
        return [
            name
            for name, alternatives in rules.items()
            if any(all(req.holds(found) for req in alt) for alt in alternatives)
        ]


def _parse_rules(path: Path, section: str, raw: Any, concepts: Mapping[str, Any]
                 ) -> Dict[str, List[Alternative]]:
    if not isinstance(raw, dict) or not raw:
        raise ContentError(path, section, "must map rule names to alternatives")
    rules: Dict[str, List[Alternative]] = {}
    for name, alternatives in raw.items():
        where = f"{section}.{name}"
        if not isinstance(alternatives, list) or not alternatives:
            raise ContentError(path, where, "must be a list of alternatives")
        parsed: List[Alternative] = []
        for alternative in alternatives:
            if not isinstance(alternative, list) or not alternative:
                raise ContentError(path, where, "each alternative is a list of requirements")
            requirements = []
            for spec in alternative:
                names = spec.get("of") if isinstance(spec, dict) else None
                if not isinstance(names, list) or not names:
                    raise ContentError(path, where, "a requirement needs 'of: [concepts]'")
                unknown = [n for n in names if n not in concepts]
                if unknown:
                    raise ContentError(path, where, f"unknown concept '{unknown[0]}'")
                requirements.append(Requirement(frozenset(names), int(spec.get("min", 1))))
            parsed.append(tuple(requirements))
        rules[str(name)] = parsed
    return rules


class SafetyNet:
    """Red-flag and personal-advice detection over raw user text."""

    def __init__(
        self,
        nlp: spacy.language.Language,
        concepts: Mapping[str, Sequence[str]],
        red_flags: Mapping[str, Sequence[Alternative]],
        personal_advice: Mapping[str, Sequence[Alternative]],
    ) -> None:
        """Compiles the concepts once and keeps both rule sets.

        Args:
            nlp: A pipeline whose tokenizer splits messages (a blank English one).
            concepts: Concept name -> words or phrases.
            red_flags: Rules whose match means "urgent care now".
            personal_advice: Rules whose match means "asks for a dose or diagnosis".
        """
        self._matcher = RuleMatcher(nlp, concepts)
        self._red_flags = dict(red_flags)
        self._personal_advice = dict(personal_advice)
        self.fingerprint = fingerprint(concepts, self._red_flags, self._personal_advice)

    @classmethod
    def from_file(cls, path: Path) -> SafetyNet:
        """Loads and compiles `safety.yml`.

        Raises:
            ContentError: naming the file and the field at fault.
        """
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ContentError(path, "-", "file is missing") from None
        except yaml.YAMLError as error:
            raise ContentError(path, "-", f"not valid YAML ({error})") from None
        if not isinstance(data, dict):
            raise ContentError(path, "-", "must be a mapping")
        concepts = data.get("concepts")
        if not isinstance(concepts, dict) or not concepts:
            raise ContentError(path, "concepts", "must map concept names to words")
        for name, terms in concepts.items():
            if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip()
                                                      for t in terms):
                raise ContentError(path, f"concepts.{name}", "must be a list of words")
        nlp = spacy.blank("en")
        red = _parse_rules(path, "red_flags", data.get("red_flags"), concepts)
        advice = _parse_rules(path, "personal_advice", data.get("personal_advice"), concepts)
        return cls(nlp, concepts, red, advice)

    def red_flags(self, text: Optional[str]) -> List[str]:
        """Names of the red flags in the text (empty when none)."""
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

    def check(self, text: Optional[str]) -> Dict[str, Any]:
        """The red-flag verdict on `text`, as the NLU guard records it under `CHECK_KEY`."""
        return {"rules": self.fingerprint, "flags": self.red_flags(text)}

    def personal_advice(self, text: Optional[str]) -> List[str]:
        """`dose` and/or `diagnosis` when the text asks for one (empty otherwise)."""
        return self._matcher.match(text or "", self._personal_advice)


def fingerprint(concepts: Mapping[str, Sequence[str]],
                *rule_sets: Mapping[str, Sequence[Alternative]]) -> str:
    """A short hash of the concepts and rules: equal only for the same safety rules."""
    rules = [{name: [[[sorted(req.concepts), req.minimum] for req in alternative]
                     for alternative in alternatives]
              for name, alternatives in rule_set.items()} for rule_set in rule_sets]
    canonical = json.dumps({"concepts": {name: list(terms) for name, terms in concepts.items()},
                            "rules": rules}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


_default_net: Optional[SafetyNet] = None
_default_lock = threading.Lock()


def default_safety_net() -> SafetyNet:
    """The process-wide safety net, compiled on first use (never at import time)."""
    global _default_net
    with _default_lock:
        if _default_net is None:
            _default_net = SafetyNet.from_file(content_dir() / "safety.yml")
        return _default_net
