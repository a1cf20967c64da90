"""Names staff read for intents: the topic's title, else a plain description."""

from __future__ import annotations

from typing import Dict

#: What staff read for the intents that no topic answers.
OTHER_NAMES = {
    "out_of_scope": "Off-topic question",
    "nlu_fallback": "Unsure (offers topic buttons)",
    "report_urgent_symptoms": "Urgent warning signs (red flag)",
    "request_dose_or_diagnosis": "Asks for a dose or diagnosis",
    "greet": "Greeting",
    "goodbye": "Goodbye",
    "thank": "Thanks",
    "ask_if_bot": "Asks if it is a bot",
    "ask_what_can_i_ask": "Asks what it can answer",
    "request_human": "Asks for a person",
    "ask_about_group": "Follow-up about a group (e.g. pregnancy)",
    "ask_follow_up": "Follow-up that points back (e.g. \"is it safe?\")",
    "ask_more": "Asks for more",
    "": "(nothing)",
}


class Names:
    """Readable names for intents: the topic's title, else a plain description."""

    def __init__(self, titles: Dict[str, str]) -> None:
        """Builds the names from intent -> topic title."""
        self.titles = titles

    def __call__(self, intent: str) -> str:
        """The name staff read for an intent."""
        return self.titles.get(intent) or OTHER_NAMES.get(intent) or intent.replace("_", " ")
