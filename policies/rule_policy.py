"""`LeanRulePolicy`: Rasa's RulePolicy with a rule lookup that repeats less work.

Named in config.yml in RulePolicy's place, so `rasa train`, `rasa test`,
`rasa run`, `rasa shell` and `Agent.load` all use it: it is trained, stored and
loaded exactly as RulePolicy is (same lookup, same settings), and only the
search of the lookup at prediction time differs (policies/rule_lookup.py says
how). While a loop (form) is active, or when RulePolicy's debug logging is on,
the search is RulePolicy's own.

Rasa's training validator compares policies by exact class, so `rasa train`
warns that "'RulePolicy' is not included"; the rules are used all the same
(tests/integration/test_rule_policy.py).
"""

from __future__ import annotations

import logging
from typing import List, Optional, Set, Tuple

from rasa.core.policies.rule_policy import RULES, RulePolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.trackers import DialogueStateTracker

from policies.rule_lookup import Lookup, ParsedRules, newest_states, parse_rules, possible_keys

_rasa_logger = logging.getLogger("rasa.core.policies.rule_policy")

Found = Tuple[Optional[str], Optional[str], bool]


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class LeanRulePolicy(RulePolicy):
    """RulePolicy whose lookup parses each rule once and builds only the states rules reach."""

    _parsed: Optional[Tuple[Lookup, ParsedRules]] = None

    def _parsed_rules(self, lookup: Lookup) -> ParsedRules:
        """The parsed `lookup`, kept while the policy keeps the same rules."""
        cached = self._parsed
        if cached is not None and cached[0] is lookup and cached[1].keys == lookup.keys():
            return cached[1]
        parsed = parse_rules(lookup)
        self._parsed = (lookup, parsed)
        return parsed

    def _get_possible_keys(self, lookup: Lookup, states: List[State]) -> Set[str]:
        """The keys of the rules in `lookup` that match `states` (same set as Rasa's)."""
        return possible_keys(self._parsed_rules(lookup), states)

    def _find_action_from_rules(self, tracker: DialogueStateTracker, domain: Domain,
                                use_text_for_last_user_input: bool) -> Found:
        """The action of the longest matching rule, as RulePolicy finds it."""
        if tracker.active_loop_name or _rasa_logger.isEnabledFor(logging.DEBUG):
            found: Found = super()._find_action_from_rules(tracker, domain,
                                                           use_text_for_last_user_input)
            return found
        rules: Lookup = self.lookup[RULES]
        parsed = self._parsed_rules(rules)
        if use_text_for_last_user_input and (
                tracker.latest_action_name != ACTION_LISTEN_NAME or parsed.text_cannot_match):
            return None, None, False
        states = newest_states(self, tracker, domain, use_text_for_last_user_input,
                               parsed.longest)
        keys = self._get_possible_keys(rules, states)
        if keys:
            best = max(keys, key=len)  # as Rasa: the longest rule wins
            return rules.get(best), best, False
        # No rule: Rasa names the source after the whole conversation's states.
        every = self._prediction_states(tracker, domain, use_text_for_last_user_input,
                                        rule_only_data=self._get_rule_only_data())
        return None, self._create_feature_key(every), False
