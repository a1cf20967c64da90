"""Actions that answer from the content store.

Every action here derives from `StoreAction`, which checks the safety net before
anything else: a message with a red flag gets the urgent-care answer, whatever
the action was asked to do. Every answer goes out through `send_entry`, which
ends it with its small print (the store's disclaimer and the entry's sources
line, `nightcramps.small_print`) and sets the `topic` slot. After the second
answer of a session, `run` asks whether it helped (actions/feedback.py), and
`ActionRecordFeedback` records the reply against the content id.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.channels import Choice, send_choices
from actions.context import age_group, points_back_to_answer
from actions.feedback import (
    NEGATIVE,
    NEGATIVE_INTENT,
    POSITIVE,
    THANKS_NEGATIVE,
    THANKS_POSITIVE,
    ask_for_feedback,
)
from nightcramps.content_store import ContentStore, Entry, default_store
from nightcramps.contract import FEEDBACK_SLOT, FEEDBACK_TOPIC_SLOT, TOPIC_SLOT, URGENT_INTENT
from nightcramps.safety import SafetyNet, default_safety_net
from nightcramps.small_print import SmallPrint

URGENT_TOPIC = "urgent_care"
DOCTOR_TOPIC = "see_a_doctor"
PERSONAL_ADVICE_INTENT = "request_dose_or_diagnosis"
PERSONAL_ADVICE_PREFACE = (
    "I can't suggest a dose or tell you what is causing your symptoms; "
    "that needs someone who can examine you and knows your medicines."
)


def send_with_small_print(dispatcher: CollectingDispatcher, body: str,
                          small_print: SmallPrint) -> None:
    """Sends `body` ending with its small print, in one message.

    The text carries the small print, so every channel shows the disclaimer; the
    message's metadata carries it too (`small_print`), so a channel can show it
    apart from the answer (the widget's REST channel, connectors/rest_output.py).
    """
    dispatcher.utter_message(text=small_print.append_to(body), **small_print.as_metadata())


#: At most this many topics are offered.
MAX_CHOICES = 3
#: A topic must have at least this confidence to be offered.
MIN_CONFIDENCE = 0.05
OFFER_TEXT = (
    "I'm not sure I understood. Did you mean one of these? "
    "You can also rephrase your question."
)
NOT_UNDERSTOOD_TEXT = (
    "Sorry, I didn't understand that. Please ask about night-time leg cramps "
    "in other words."
)


class StoreAction(Action, ABC):
    """Base of the actions that answer from the store (abstract: not registered)."""

    def __init__(
        self,
        store: Optional[ContentStore] = None,
        safety_net: Optional[SafetyNet] = None,
    ) -> None:
        """Takes the store and safety net; defaults load the project's own files.

        Args:
            store: The content store (tests pass one built in `tmp_path`).
            safety_net: The red-flag matcher.
        """
        self.store: ContentStore = store if store is not None else default_store()
        self.safety_net = safety_net if safety_net is not None else default_safety_net()

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    @abstractmethod
    def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        """Answers a message that carries no red flag."""

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        """Sends the urgent-care answer on a red flag, else `respond`.

        The urgent answer opens with the lead of the most serious red flag in the
        message (what the user described), then what to do now and the warning
        signs (the `urgent_care` entry). After the answer that
        `actions.feedback.should_ask` picks, the feedback question follows as a
        separate message (never after urgent care).
        """
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        if intent == URGENT_INTENT or self.safety_net.red_flags_of(message):
            return self.send_topic(dispatcher, URGENT_TOPIC,
                                   preface=self.safety_net.lead_for(message))
        events = self.respond(dispatcher, tracker)
        ask_for_feedback(dispatcher, tracker.events or [], events)
        return events

    def send_entry(
        self,
        dispatcher: CollectingDispatcher,
        entry: Entry,
        text: Optional[str] = None,
        preface: Optional[str] = None,
    ) -> List[EventType]:
        """Sends an entry's answer (or `text`) with its small print; sets `topic`.

        The small print is the store's disclaimer and the entry's sources line
        ("Sources: ... · Reviewed Dec 2026").
        """
        body = text if text is not None else entry.answer
        if preface:
            body = f"{preface}\n\n{body}"
        small_print = SmallPrint.for_entry(entry, self.store.disclaimer, self.store.sources)
        send_with_small_print(dispatcher, body, small_print)
        return [SlotSet(TOPIC_SLOT, entry.id)]

    def send_topic(
        self,
        dispatcher: CollectingDispatcher,
        topic_id: str,
        group: Optional[str] = None,
        preface: Optional[str] = None,
    ) -> List[EventType]:
        """Sends the store's answer for a topic id, with a group's variant if any."""
        entry = self.store.get(topic_id)
        if entry is None:
            return send_topic_list(self.store, dispatcher)
        return self.send_entry(dispatcher, entry, entry.text_for(group), preface)

    def group_in(self, tracker: Tracker) -> Optional[str]:
        """The first group the latest message names, else an age of 60+ it gives.

        "What about my dad, he's 82?" names no group word, but is about an older
        adult (`actions.context.age_group`).
        """
        message = tracker.latest_message or {}
        for entity in message.get("entities") or []:
            if entity.get("entity") == "group" and isinstance(entity.get("value"), str):
                group = self.store.group_for(entity["value"])
                if group:
                    return group
        return age_group(str(message.get("text") or ""))

    def choices_for(self, topic_ids: List[str]) -> List[Choice]:
        """Buttons that ask about each topic, skipping unknown ids."""
        entries = [self.store.get(topic_id) for topic_id in topic_ids]
        return [(e.title, f"/{e.intent}") for e in entries if e is not None]


class ActionAnswerQuestion(StoreAction):
    """Answers a topic intent from the store."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_answer_question"

    def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        """Sends the entry for the intent; doses and diagnoses go to see_a_doctor."""
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name") or ""
        if intent == PERSONAL_ADVICE_INTENT or self.safety_net.personal_advice(
            message.get("text")
        ):
            return self.send_topic(dispatcher, DOCTOR_TOPIC, preface=PERSONAL_ADVICE_PREFACE)
        entry = self.store.for_intent(intent)
        if entry is None:
            return send_topic_list(self.store, dispatcher)
        group = self.group_in(tracker)
        current = self.store.get(tracker.get_slot(TOPIC_SLOT) or "")
        if (group and current is not None
                and points_back_to_answer(str(message.get("text") or ""))):
            # "My wife is pregnant, can she use any of those?" after the treatments
            # answer: the treatments answer's pregnancy variant. After an answer
            # with no variant for the group, the group's own topic.
            if group in current.variants:
                return self.send_entry(dispatcher, current, current.variants[group])
            group_topic = self.store.topic_for_group(group)
            if group_topic:
                return self.send_topic(dispatcher, group_topic, group=group)
        return self.send_topic(dispatcher, entry.id, group=group)


class ActionOfferRelatedTopics(StoreAction):
    """Answers "tell me more" with the current topic's related topics."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_offer_related_topics"

    def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        """Offers the related topics as buttons (all topics when there is none yet)."""
        current = self.store.get(tracker.get_slot(TOPIC_SLOT) or "")
        return offer_related(self, dispatcher, tracker, current)


def offer_related(
    action: StoreAction,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    current: Optional[Entry],
) -> List[EventType]:
    """Offers topics related to `current`, or the topic list if there is no topic."""
    if current is None or not current.related:
        return send_topic_list(action.store, dispatcher)
    text = "These topics are related. Pick one, or type your own question."
    send_choices(dispatcher, text, action.choices_for(list(current.related)))
    return []


def send_topic_list(store: ContentStore, dispatcher: CollectingDispatcher) -> List[EventType]:
    """Lists every topic title in the store, with the disclaimer as its small print."""
    titles = "\n".join(f"- {entry.title}" for entry in store.entries())
    text = f"You can ask me about night-time leg cramps, for example:\n{titles}"
    send_with_small_print(dispatcher, text, SmallPrint(store.disclaimer))
    return []


class ActionListTopics(StoreAction):
    """Answers "what can I ask?" with the topics of the store."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_list_topics"

    def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        """Lists the store's topics."""
        return send_topic_list(self.store, dispatcher)


class ActionRecordFeedback(StoreAction):
    """Records "Yes, it helped" / "Not really" against the content id of the answer."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_record_feedback"

    def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> List[EventType]:
        """Thanks the user; after "Not really", offers the topic's related topics.

        Sets `feedback` (positive or negative) and `feedback_topic` (the `topic`
        slot: the content id of the answer the feedback is about, None if none).
        """
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        topic_id = tracker.get_slot(TOPIC_SLOT)
        verdict = NEGATIVE if intent == NEGATIVE_INTENT else POSITIVE
        events: List[EventType] = [SlotSet(FEEDBACK_TOPIC_SLOT, topic_id),
                                   SlotSet(FEEDBACK_SLOT, verdict)]
        if verdict == POSITIVE:
            dispatcher.utter_message(text=THANKS_POSITIVE)
            return events
        current = self.store.get(topic_id or "")
        choices = self.choices_for(list(current.related)) if current is not None else []
        if choices:
            send_choices(dispatcher, f"{THANKS_NEGATIVE}, or pick a related topic.", choices)
        else:
            dispatcher.utter_message(text=f"{THANKS_NEGATIVE}.")
        return events


def offer_likely_topics(action: StoreAction, dispatcher: CollectingDispatcher,
                        ranking: List[Dict[str, Any]]) -> List[EventType]:
    """Offers up to three topics from an intent ranking ("did you mean"), else the list."""
    topic_ids: List[str] = []
    for candidate in ranking:
        entry = action.store.for_intent(candidate.get("name") or "")
        if entry is None or (candidate.get("confidence") or 0.0) < MIN_CONFIDENCE:
            continue
        topic_ids.append(entry.id)
        if len(topic_ids) == MAX_CHOICES:
            break
    if not topic_ids:
        dispatcher.utter_message(text=NOT_UNDERSTOOD_TEXT)
        return send_topic_list(action.store, dispatcher)
    send_choices(dispatcher, OFFER_TEXT, action.choices_for(topic_ids))
    return []
