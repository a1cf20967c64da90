"""Contract names: the intents, the topic-intent prefix and the files others rely on.

Names only (no I/O, no imports of the rest of the project), so any layer may
import them without a cycle.
"""

from __future__ import annotations

#: The intent of a message describing urgent warning signs (a red flag).
URGENT_INTENT = "report_urgent_symptoms"
#: The intent of a message the assistant should decline.
OUT_OF_SCOPE_INTENT = "out_of_scope"
#: What the NLU pipeline predicts when it is unsure.
FALLBACK_INTENT = "nlu_fallback"
#: Intents answered from the content store start with this.
TOPIC_INTENT_PREFIX = "ask_"
#: The held-out NLU test messages, relative to the project folder.
HELDOUT_FILE = "tests/heldout/nlu.yml"
#: The red-flag phrasings that must all be caught, relative to the project folder.
PHRASINGS_FILE = "tests/safety/red_flag_phrasings.yml"

#: The slot holding the id of the content entry last sent.
TOPIC_SLOT = "topic"
#: The slot holding the reply to "Did that answer help?".
FEEDBACK_SLOT = "feedback"
#: The slot holding the content id that feedback is about.
FEEDBACK_TOPIC_SLOT = "feedback_topic"
