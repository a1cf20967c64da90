"""RulePolicy's rule lookup, with the same answers and less repeated work.

Every prediction of this assistant is made by Rasa's `RulePolicy` (config.yml),
and py-spy put most of a prediction in `_find_action_from_rules`
(`rasa/core/policies/rule_policy.py`, Rasa 3.6.21). Four things change there:

- **Rules parsed once.** `_get_possible_keys` checks every rule against the
  conversation's states, newest first, and each check parsed and reversed the
  rule's JSON key again. Here each lookup's rules are parsed once.
- **An index for the newest state.** Most rules name the previous action and the
  intent of their newest state. The newest conversation state is only checked
  against the rules that name its own (or name none); Rasa's check rejects the
  others anyway.
- **Only the states a rule can reach.** Rasa builds a state before every action
  of the whole conversation, though no rule looks further back than its own
  length. Only the last states, as many as the longest rule has, are built; the
  walk back stops as soon as it is past the longest rule still in the running,
  because from there on Rasa's check accepts every rule. When no rule matches,
  Rasa names the prediction after the whole conversation's states, so those are
  then built in full.
- **The end-to-end text pass.** `_predict` first looks for a rule on the user's
  text, then on the intent. A state built for the text pass has its intent
  removed, and a rule whose last state names an intent, or another previous
  action than `action_listen`, or that starts a conversation, can never match
  it. When every rule is of that kind, as in this project, the text pass can only
  find nothing, and it is skipped with the answer it would have given. This is
  checked per lookup, so a model with text rules still gets the pass.

Everything else is Rasa's own code: building a state, matching one rule state
against one conversation state (`_does_rule_match_state`), choosing the longest
matching rule. While a loop (form) is active, or when debug logging is on
(Rasa's lookup logs every state it compares), the lookup is Rasa's, unchanged.

`policies.rule_policy.LeanRulePolicy` uses these functions in place of
RulePolicy's own lookup. `tests/integration/test_rule_policy.py` checks that its
predictions on the trained model are identical to stock RulePolicy's.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
from rasa.core.policies.policy import SupportedData
from rasa.core.policies.rule_policy import RulePolicy
from rasa.shared.core.constants import (
    ACTION_LISTEN_NAME,
    PREVIOUS_ACTION,
    SHOULD_NOT_BE_SET,
    USER,
)
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ACTION_NAME, INTENT

logger = logging.getLogger(__name__)

Lookup = Dict[str, str]


@dataclass(frozen=True)
class ParsedRules:
    """One lookup's rules, parsed once."""

    keys: frozenset[str]
    #: (rule key, its states newest first), in the lookup's order.
    rules: Tuple[Tuple[str, Tuple[State, ...]], ...]
    #: The number of states of the longest rule.
    longest: int
    #: Whether no rule can match a state built for the text pass (see module docs).
    text_cannot_match: bool
    #: Positions in `rules`, by the (previous action, intent) their newest state
    #: requires; None where it requires neither (see `_required`).
    by_newest: Dict[Tuple[Optional[str], Optional[str]], Tuple[int, ...]]
    #: `candidates()` answers, by the conversation state's (previous action, intent).
    _candidates: Dict[Tuple[Any, Any], Tuple[Tuple[str, Tuple[State, ...]], ...]] = field(
        default_factory=dict, compare=False)

    def candidates(self, state: State) -> Tuple[Tuple[str, Tuple[State, ...]], ...]:
        """The rules whose newest state can match `state`, in the lookup's order.

        A rule left out requires a previous action or an intent that `state` does not
        have, so Rasa's check rejects it.
        """
        action = (state.get(PREVIOUS_ACTION) or {}).get(ACTION_NAME)
        intent = (state.get(USER) or {}).get(INTENT)
        wanted = (action, intent) if _hashable(action) and _hashable(intent) else None
        found = self._candidates.get(wanted) if wanted else None
        if found is None:
            if wanted is None:
                return self.rules
            keys = itertools.product((action, None), (intent, None))
            positions = sorted({position for key in keys
                                for position in self.by_newest.get(key, ())})
            found = tuple(self.rules[position] for position in positions)
            self._candidates[wanted] = found
        return found


def _hashable(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _concrete(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value and value != SHOULD_NOT_BE_SET else None


def _required(newest: State) -> Tuple[Optional[str], Optional[str]]:
    """The previous action and intent a rule's newest state requires (None: any).

    A state with no previous action starts a conversation and matches any other such
    state whatever its intent, so it requires neither.
    """
    previous_action = newest.get(PREVIOUS_ACTION)
    if not previous_action:
        return None, None
    return (_concrete(previous_action.get(ACTION_NAME)),
            _concrete((newest.get(USER) or {}).get(INTENT)))


def _cannot_match_text_state(last_state: State) -> bool:
    """Whether a rule ending in `last_state` never matches a state built for the text pass.

    That state follows `action_listen` and has the user's text but no intent.
    """
    previous_action = last_state.get(PREVIOUS_ACTION)
    if not previous_action:
        return True  # a conversation start: never matches a state after a user message
    action = previous_action.get(ACTION_NAME)
    if action and action not in (ACTION_LISTEN_NAME, SHOULD_NOT_BE_SET):
        return True  # needs another previous action
    intent = last_state.get(USER, {}).get(INTENT)
    return bool(intent) and intent != SHOULD_NOT_BE_SET


def parse_rules(lookup: Lookup) -> ParsedRules:
    """Parses the rule keys of `lookup` (Rasa's JSON lists of states)."""
    rules = tuple((key, tuple(reversed(RulePolicy._rule_key_to_state(key)))) for key in lookup)
    by_newest: Dict[Tuple[Optional[str], Optional[str]], List[int]] = {}
    for position, (_, states) in enumerate(rules):
        by_newest.setdefault(_required(states[0]) if states else (None, None), []).append(position)
    return ParsedRules(
        keys=frozenset(lookup),
        rules=rules,
        by_newest={key: tuple(positions) for key, positions in by_newest.items()},
        longest=max((len(states) for _, states in rules), default=0),
        text_cannot_match=all(states and _cannot_match_text_state(states[0])
                              for _, states in rules))


def _applies(rule_state: State, conversation_state: State) -> bool:
    """Rasa's `_is_rule_applicable` for a turn the rule reaches."""
    rule_previous_action = rule_state.get(PREVIOUS_ACTION)
    current_previous_action = conversation_state.get(PREVIOUS_ACTION)
    if not rule_previous_action and not current_previous_action:
        return True
    if not rule_previous_action or not current_previous_action:
        return False
    matches: bool = RulePolicy._does_rule_match_state(rule_state, conversation_state)
    return matches


def possible_keys(parsed: ParsedRules, states: List[State]) -> Set[str]:
    """The keys of the parsed rules that match `states` (Rasa's `_get_possible_keys`)."""
    candidates, longest = parsed.rules, parsed.longest
    for turn, state in enumerate(reversed(states)):
        if turn >= longest:
            break  # every remaining rule is shorter than this: all of them apply
        if turn == 0:
            candidates = parsed.candidates(state)
        candidates = tuple((key, rule) for key, rule in candidates
                           if turn >= len(rule) or _applies(rule[turn], state))
        longest = max((len(rule) for _, rule in candidates), default=0)
    return {key for key, _ in candidates}


def newest_states(policy: RulePolicy, tracker: DialogueStateTracker, domain: Domain,
                  use_text_for_last_user_input: bool, count: int) -> List[State]:
    """The last `count` of the states `policy._prediction_states` gives.

    Rasa builds a state before every action of the conversation (and one at its
    end), each from the conversation as it stood then. Only the last few can decide
    which rule matches, so only those are built here: the events are replayed as
    Rasa replays them, and a state is made from the last `count` points. For a
    featurizer or policy for which states depend on each other (rule-only turns
    hidden, a history limit), they are cut from Rasa's `_prediction_states`.
    """
    featurizer = policy.featurizer
    if (type(featurizer) is not MaxHistoryTrackerFeaturizer or featurizer.max_history is not None
            or policy.supported_data() == SupportedData.ML_DATA):
        every: List[State] = policy._prediction_states(
            tracker, domain, use_text_for_last_user_input,
            rule_only_data=policy._get_rule_only_data())
        return every[-count:]
    applied = tracker.applied_events()
    points = sum(isinstance(event, ActionExecuted) for event in applied) + 1
    skip = points - count
    prior = tracker.init_copy()
    states: List[State] = []
    point = 0
    for event in applied:
        if isinstance(event, ActionExecuted):
            if point >= skip:
                states.append(domain._clean_state(domain.get_active_state(prior)))
            point += 1
        prior.update(event)
    states.append(domain._clean_state(domain.get_active_state(prior)))
    featurizer._choose_last_user_input([states], use_text_for_last_user_input)
    return states
