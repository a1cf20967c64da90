"""The urgent answer: the red flag's lead, what to do now, then every warning sign."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answering import ActionAnswerQuestion
from connectors.rendering import PLAIN, SLACK_MRKDWN, TELEGRAM_HTML, WHATSAPP, render
from nightcramps.content_store import YamlContentStore
from nightcramps.safety import CHECK_KEY, SafetyNet
from nightcramps.small_print import SmallPrint

ROOT = Path(__file__).resolve().parents[2]

#: Words of the urgent answer that name the signs each red-flag family catches.
SIGNS = {
    "possible_clot": ["one leg swollen and painful, warm or red"],
    "infection_fever": ["fever or chills"],
    "chest_or_breathing": ["chest pain", "breathlessness", "pain when breathing in",
                           "coughing up blood", "racing or pounding heart"],
    "fainting": ["fainting"],
    "confusion": ["new confusion", "drowsiness"],
    "nerve_emergency": ["bladder or bowel control", "unable to pee",
                        "numbness between your legs", "sudden weakness or numbness in a leg"],
    "muscle_breakdown": ["dark urine with severe muscle pain"],
    "limb_ischaemia": ["cold, pale or blue"],
    "compartment_syndrome": ["rock-hard, very painful calf after an injury"],
    "pregnancy_emergency": ["in pregnancy, a severe headache", "in pregnancy, changes in vision",
                            "in pregnancy, sudden swelling of face or hands",
                            "in pregnancy, pain below the ribs"],
}


def tracker(text: str, intent: str, check: Optional[Dict[str, Any]] = None) -> Tracker:
    message: Dict[str, Any] = {"text": text, "intent": {"name": intent, "confidence": 0.9},
                               "entities": []}
    if check is not None:
        message[CHECK_KEY] = check
    events = [{"event": "user", "text": text, "parse_data": message}]
    return Tracker("user-1", {"topic": None}, message, events, False, None, {}, "action_listen")


async def answer(store: YamlContentStore, net: SafetyNet,
                 t: Tracker) -> tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerQuestion(store, net).run(dispatcher, t, {})
    return dispatcher.messages, events


def bullets(text: str) -> List[str]:
    return [b.strip() for b in re.split(r"\s*•\s*", text)[1:]]


def test_the_answer_starts_with_what_to_do_and_lists_every_sign(
    store: YamlContentStore, net: SafetyNet
) -> None:
    urgent = store.get("urgent_care")
    assert urgent is not None
    assert urgent.answer.startswith("Call your emergency number now")
    assert set(SIGNS) == set(net.leads())
    for family, signs in SIGNS.items():
        for sign in signs:
            assert sign in urgent.answer, (family, sign)
    # Short bullets, one sign each, short enough for one phone screen.
    items = bullets(urgent.answer)
    assert len(items) >= 19
    assert sum(len(item.split()) for item in items) <= 110
    assert all(len(item.split()) <= 12 for item in items)
    # The clot sign no longer reads as "any painful leg".
    assert "red or painful" not in urgent.answer


def test_the_answer_renders_unchanged_on_every_channel(store: YamlContentStore) -> None:
    urgent = store.get("urgent_care")
    assert urgent is not None
    for markup in (PLAIN, SLACK_MRKDWN, TELEGRAM_HTML, WHATSAPP):
        assert render(urgent.answer, markup) == urgent.answer
    assert not set("<>&*") & set(urgent.answer)


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("my calf is swollen, hot and red, what stretches help?", "possible_clot"),
        ("i blacked out after the cramp", "fainting"),
        ("i have a fever and my leg is red", "infection_fever"),
        ("my leg is very painful and cold", "limb_ischaemia"),
        ("pregnant and a pain under my ribs, also my chest hurts", "pregnancy_emergency"),
    ],
)
async def test_a_red_flag_gets_its_lead_then_the_urgent_answer(
    store: YamlContentStore, net: SafetyNet, text: str, flag: str
) -> None:
    messages, events = await answer(store, net, tracker(text, "ask_stretches"))
    urgent = store.get("urgent_care")
    assert urgent is not None
    lead = net.leads()[flag]
    small_print = SmallPrint.for_entry(urgent, store.disclaimer, store.sources)
    assert messages[0]["text"] == f"{lead}\n\n{urgent.answer}\n\n{small_print.text}"
    assert events == [SlotSet("topic", "urgent_care")]
    assert len(messages) == 1  # no feedback question after urgent care


async def test_the_urgent_intent_alone_gets_no_lead(store: YamlContentStore,
                                                    net: SafetyNet) -> None:
    messages, events = await answer(store, net,
                                    tracker("/report_urgent_symptoms", "report_urgent_symptoms"))
    urgent = store.get("urgent_care")
    assert urgent is not None
    small_print = SmallPrint.for_entry(urgent, store.disclaimer, store.sources)
    assert messages[0]["text"] == f"{urgent.answer}\n\n{small_print.text}"
    assert events == [SlotSet("topic", "urgent_care")]


async def test_the_lead_follows_the_nlu_guards_recorded_flags(store: YamlContentStore,
                                                              net: SafetyNet) -> None:
    check = {"rules": net.fingerprint, "flags": ["confusion", "possible_clot"]}
    messages, events = await answer(store, net, tracker("what stretches help", "ask_stretches",
                                                        check))
    assert messages[0]["text"].startswith(net.leads()["confusion"] + "\n\nCall your emergency")
    assert events == [SlotSet("topic", "urgent_care")]


async def test_a_pets_leg_gets_no_urgent_answer(store: YamlContentStore, net: SafetyNet) -> None:
    messages, events = await answer(store, net,
                                    tracker("my dog's leg is swollen and hot", "ask_stretches"))
    assert events != [SlotSet("topic", "urgent_care")]
    assert not messages[0]["text"].startswith("Call your emergency")
