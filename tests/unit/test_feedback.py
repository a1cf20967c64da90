"""The feedback question after an answer, and recording the reply."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answering import ActionAnswerQuestion, ActionRecordFeedback
from actions.feedback import CHOICES, QUESTION, should_ask, topics_answered
from nightcramps.content_store import YamlContentStore
from nightcramps.safety import SafetyNet

ROOT = Path(__file__).resolve().parents[2]


def slot(name: str, value: Any) -> Dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def tracker(text: str, intent: str, history: List[Dict[str, Any]],
            topic: Optional[str] = None) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": [],
               "intent_ranking": [{"name": intent, "confidence": 0.9}]}
    events = [*history, {"event": "user", "text": text, "parse_data": message}]
    return Tracker("user-1", {"topic": topic}, message, events, False, None, {}, "action_listen")


async def run(action: Any, t: Tracker) -> tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


def test_asks_after_the_second_answer_of_a_session_only() -> None:
    answer = [SlotSet("topic", "diet")]
    assert not should_ask([], answer)
    assert should_ask([slot("topic", "causes")], answer)
    assert not should_ask([slot("topic", "causes"), slot("topic", "diet")], answer)
    # A new session starts counting again.
    assert not should_ask([slot("topic", "causes"), {"event": "session_started"}], answer)
    # Urgent care is never rated, nor counted.
    assert not should_ask([slot("topic", "causes")], [SlotSet("topic", "urgent_care")])
    assert should_ask([slot("topic", "urgent_care"), slot("topic", "causes")], answer)
    assert topics_answered([slot("topic", "urgent_care"), slot("topic", None)]) == []
    # No answer, no question.
    assert not should_ask([slot("topic", "causes")], [])


async def test_the_second_answer_is_followed_by_the_question_with_two_buttons(
    store: YamlContentStore, net: SafetyNet
) -> None:
    action = ActionAnswerQuestion(store, net)
    first, _ = await run(action, tracker("why do my legs cramp", "ask_causes", []))
    assert len(first) == 1
    second, events = await run(action, tracker("what helps right now", "ask_quick_relief",
                                                [slot("topic", "causes")], topic="causes"))
    assert events == [SlotSet("topic", "quick_relief")]
    assert len(second) == 2 and second[0]["text"].endswith(f"\n\n{store.disclaimer}\n"
                                                           f"{second[0]['small_print']['sources']}")
    assert second[1]["text"] == QUESTION
    assert [(b["title"], b["payload"]) for b in second[1]["buttons"]] == CHOICES


async def test_no_question_after_a_red_flag(store: YamlContentStore, net: SafetyNet) -> None:
    messages, events = await run(ActionAnswerQuestion(store, net),
                                 tracker("my calf is swollen, hot and red", "ask_stretches",
                                         [slot("topic", "causes")]))
    assert events == [SlotSet("topic", "urgent_care")]
    assert len(messages) == 1


async def test_negative_feedback_is_recorded_against_the_topic_and_offers_related(
    store: YamlContentStore, net: SafetyNet
) -> None:
    messages, events = await run(ActionRecordFeedback(store, net),
                                 tracker("/give_negative_feedback", "give_negative_feedback",
                                         [slot("topic", "quick_relief")], topic="quick_relief"))
    assert events == [SlotSet("feedback_topic", "quick_relief"), SlotSet("feedback", "negative")]
    assert "other words" in messages[0]["text"]
    entry = store.get("quick_relief")
    assert entry is not None and entry.related
    assert [b["payload"] for b in messages[0]["buttons"]] == [
        f"/{e.intent}" for e in (store.get(r) for r in entry.related) if e is not None]


async def test_positive_feedback_is_recorded_and_thanked(
    store: YamlContentStore, net: SafetyNet
) -> None:
    messages, events = await run(ActionRecordFeedback(store, net),
                                 tracker("yes it helped", "give_positive_feedback", [],
                                         topic="diet"))
    assert events == [SlotSet("feedback_topic", "diet"), SlotSet("feedback", "positive")]
    assert messages[0]["text"].startswith("Thank you")


async def test_a_red_flag_in_a_feedback_reply_still_gets_urgent_care(
    store: YamlContentStore, net: SafetyNet
) -> None:
    _, events = await run(ActionRecordFeedback(store, net),
                          tracker("not really, now my calf is swollen red and hot",
                                  "give_negative_feedback", [], topic="diet"))
    assert events == [SlotSet("topic", "urgent_care")]
