"""Answering actions, run against a content store built in tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answering import (
    PERSONAL_ADVICE_PREFACE,
    ActionAnswerQuestion,
    ActionListTopics,
    ActionOfferRelatedTopics,
)
from actions.fallback import ActionOfferTopics
from actions.follow_up import ActionAnswerFollowUp
from nightcramps.content_store import YamlContentStore
from nightcramps.safety import SafetyNet
from nightcramps.small_print import SmallPrint

ROOT = Path(__file__).resolve().parents[2]


def tracker(
    text: str,
    intent: str,
    *,
    topic: Optional[str] = None,
    entities: Optional[List[Dict[str, Any]]] = None,
    ranking: Optional[List[Dict[str, Any]]] = None,
    channel: str = "rest",
) -> Tracker:
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "intent_ranking": ranking or [{"name": intent, "confidence": 0.9}],
    }
    events = [{"event": "user", "text": text, "parse_data": message, "input_channel": channel}]
    return Tracker("user-1", {"topic": topic}, message, events, False, None, {}, "action_listen")


def assert_small_print(message: Dict[str, Any], store: YamlContentStore,
                       topic: Optional[str]) -> None:
    """A store answer ends with its small print, which its metadata carries too.

    The small print is the disclaimer, then (for a topic's answer) the topic's
    sources line; the topic list has the disclaimer only.
    """
    entry = store.get(topic) if topic else None
    expected = (SmallPrint.for_entry(entry, store.disclaimer, store.sources)
                if entry is not None else SmallPrint(store.disclaimer))
    assert message["text"].endswith(f"\n\n{store.disclaimer}" + (
        f"\n{expected.sources}" if expected.sources else "")), message["text"][-200:]
    assert message["small_print"] == expected.as_metadata()["small_print"]
    if entry is not None:
        assert expected.sources and expected.sources.startswith("Source")


async def run(action: Any, t: Tracker) -> tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


async def test_every_entry_goes_out_with_the_disclaimer_and_sources_line(
    store: YamlContentStore, net: SafetyNet
) -> None:
    action = ActionAnswerQuestion(store, net)
    for entry in store.entries():
        # Buttons send the intent as a payload, which carries no red-flag text.
        messages, events = await run(action, tracker(f"/{entry.intent}", entry.intent))
        assert len(messages) == 1, entry.id
        assert entry.answer in messages[0]["text"], entry.id
        assert_small_print(messages[0], store, entry.id)
        assert events == [SlotSet("topic", entry.id)], entry.id


async def test_variants_also_carry_the_disclaimer(store: YamlContentStore, net: SafetyNet) -> None:
    follow_up = ActionAnswerFollowUp(store, net)
    for entry in store.entries():
        for group, variant in entry.variants.items():
            word = group.replace("_", " ")
            t = tracker(f"what about {word}?", "ask_about_group", topic=entry.id,
                        entities=[{"entity": "group", "value": word}])
            messages, events = await run(follow_up, t)
            assert variant in messages[0]["text"]
            assert_small_print(messages[0], store, entry.id)
            assert events == [SlotSet("topic", entry.id)]


async def test_red_flag_overrides_the_classifier(store: YamlContentStore, net: SafetyNet) -> None:
    text = "my calf is swollen, hot and red, what stretches help?"
    messages, events = await run(ActionAnswerQuestion(store, net), tracker(text, "ask_stretches"))
    urgent = store.get("urgent_care")
    assert urgent is not None and urgent.answer in messages[0]["text"]
    assert events == [SlotSet("topic", "urgent_care")]


@pytest.mark.parametrize("action_class", [ActionAnswerFollowUp, ActionOfferRelatedTopics,
                                          ActionListTopics, ActionOfferTopics])
async def test_every_store_action_checks_red_flags_first(
    store: YamlContentStore, net: SafetyNet, action_class: Any
) -> None:
    messages, events = await run(action_class(store, net),
                                 tracker("i have chest pain and my leg hurts", "ask_more"))
    assert events == [SlotSet("topic", "urgent_care")]
    assert_small_print(messages[0], store, "urgent_care")


async def test_the_nlu_guards_recorded_red_flag_is_honoured(store: YamlContentStore,
                                                             net: SafetyNet) -> None:
    recorded = tracker("what stretches help", "ask_stretches")
    recorded.latest_message["red_flag_check"] = {"rules": net.fingerprint,
                                                 "flags": ["possible_clot"]}
    _, events = await run(ActionAnswerQuestion(store, net), recorded)
    assert events == [SlotSet("topic", "urgent_care")]
    # A verdict recorded under other rules is ignored: the text is checked again.
    stale = tracker("my calf is swollen hot and red", "ask_stretches")
    stale.latest_message["red_flag_check"] = {"rules": "older-rules", "flags": []}
    _, events = await run(ActionAnswerQuestion(store, net), stale)
    assert events == [SlotSet("topic", "urgent_care")]


async def test_urgent_intent_alone_gets_urgent_answer(store: YamlContentStore, net: SafetyNet) -> None:
    _, events = await run(ActionAnswerQuestion(store, net),
                          tracker("/report_urgent_symptoms", "report_urgent_symptoms"))
    assert events == [SlotSet("topic", "urgent_care")]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("how many mg of magnesium should i take", "ask_about_supplements"),
        ("do i have sciatica", "ask_when_to_see_doctor"),
        ("can you tell me what's wrong with me", "request_dose_or_diagnosis"),
    ],
)
async def test_doses_and_diagnoses_get_see_a_doctor(
    store: YamlContentStore, net: SafetyNet, text: str, intent: str
) -> None:
    messages, events = await run(ActionAnswerQuestion(store, net), tracker(text, intent))
    assert events == [SlotSet("topic", "see_a_doctor")]
    assert messages[0]["text"].startswith(PERSONAL_ADVICE_PREFACE)
    assert_small_print(messages[0], store, "see_a_doctor")


@pytest.mark.parametrize("text", ["do i have a blood clot", "i think i have a dvt in my leg",
                                  "could this be a clot?", "im worried its a blood clot"])
async def test_a_suspected_clot_gets_the_urgent_answer_not_see_a_doctor(
    store: YamlContentStore, net: SafetyNet, text: str
) -> None:
    messages, events = await run(ActionAnswerQuestion(store, net),
                                 tracker(text, "request_dose_or_diagnosis"))
    assert events == [SlotSet("topic", "urgent_care")]
    assert_small_print(messages[0], store, "urgent_care")


async def test_group_in_question_adds_the_variant(store: YamlContentStore, net: SafetyNet) -> None:
    t = tracker("can i take magnesium when pregnant", "ask_about_supplements",
                entities=[{"entity": "group", "value": "pregnant"}])
    messages, _ = await run(ActionAnswerQuestion(store, net), t)
    entry = store.get("supplements")
    assert entry is not None and entry.variants["pregnancy"] in messages[0]["text"]


async def test_pregnancy_follow_up_after_causes_gives_pregnancy(
    store: YamlContentStore, net: SafetyNet
) -> None:
    t = tracker("what about in pregnancy?", "ask_about_group", topic="causes",
                entities=[{"entity": "group", "value": "pregnancy"}])
    messages, events = await run(ActionAnswerFollowUp(store, net), t)
    pregnancy = store.get("pregnancy")
    assert pregnancy is not None and pregnancy.answer in messages[0]["text"]
    assert events == [SlotSet("topic", "pregnancy")]


async def test_follow_up_without_a_group_offers_related(store: YamlContentStore, net: SafetyNet) -> None:
    messages, events = await run(ActionAnswerFollowUp(store, net),
                                 tracker("what about that?", "ask_about_group", topic="diet"))
    diet = store.get("diet")
    assert diet is not None
    assert [b["payload"] for b in messages[0]["buttons"]] == [
        f"/{store.get(r).intent}" for r in diet.related  # type: ignore[union-attr]
    ]
    assert events == []


async def test_tell_me_more_offers_related_topics(store: YamlContentStore, net: SafetyNet) -> None:
    messages, _ = await run(ActionOfferRelatedTopics(store, net),
                            tracker("tell me more", "ask_more", topic="quick_relief"))
    titles = [b["title"] for b in messages[0]["buttons"]]
    entry = store.get("quick_relief")
    assert entry is not None
    assert titles == [store.get(r).title for r in entry.related]  # type: ignore[union-attr]


async def test_tell_me_more_without_topic_lists_topics(store: YamlContentStore, net: SafetyNet) -> None:
    messages, _ = await run(ActionOfferRelatedTopics(store, net), tracker("tell me more", "ask_more"))
    for entry in store.entries():
        assert entry.title in messages[0]["text"]


async def test_topic_list_comes_from_the_store(store: YamlContentStore, net: SafetyNet,
                                               content_copy: Path) -> None:
    path = content_copy / "topics" / "diet.yml"
    data = yaml.safe_load(path.read_text())
    data["title"] = "Food and drink (edited)"
    path.write_text(yaml.safe_dump(data))
    messages, events = await run(ActionListTopics(store, net), tracker("help", "ask_what_can_i_ask"))
    assert "Food and drink (edited)" in messages[0]["text"]
    assert_small_print(messages[0], store, None)
    assert events == []


async def test_unsure_offers_top_three_topics(store: YamlContentStore, net: SafetyNet) -> None:
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.5},
        {"name": "ask_prevention", "confidence": 0.31},
        {"name": "greet", "confidence": 0.2},
        {"name": "ask_stretches", "confidence": 0.29},
        {"name": "ask_diet", "confidence": 0.1},
        {"name": "ask_causes", "confidence": 0.06},
    ]
    messages, events = await run(ActionOfferTopics(store, net),
                                 tracker("leg thing at night", "nlu_fallback", ranking=ranking))
    assert [b["payload"] for b in messages[0]["buttons"]] == [
        "/ask_prevention", "/ask_stretches", "/ask_diet"]
    assert "rephrase" in messages[0]["text"]
    assert events == []


async def test_unsure_without_candidates_lists_topics(store: YamlContentStore, net: SafetyNet) -> None:
    ranking = [{"name": "nlu_fallback", "confidence": 0.4}, {"name": "greet", "confidence": 0.3}]
    messages, events = await run(ActionOfferTopics(store, net),
                                 tracker("zzz", "nlu_fallback", ranking=ranking))
    assert "didn't understand" in messages[0]["text"]
    assert store.get("causes").title in messages[1]["text"]  # type: ignore[union-attr]
    assert events == []


async def test_choices_are_buttons_on_every_channel(store: YamlContentStore, net: SafetyNet) -> None:
    # Connectors turn buttons into numbered lists where a platform has none; the
    # tracker must keep the payloads so that a typed number can be mapped back.
    ranking = [{"name": "ask_prevention", "confidence": 0.4}, {"name": "ask_diet", "confidence": 0.3}]
    for channel in ("rest", "twilio", "telegram"):
        messages, _ = await run(ActionOfferTopics(store, net),
                                tracker("leg thing", "nlu_fallback", ranking=ranking, channel=channel))
        assert [b["payload"] for b in messages[0]["buttons"]] == ["/ask_prevention", "/ask_diet"]


async def test_answer_text_edit_goes_live_without_retraining(
    store: YamlContentStore, net: SafetyNet, content_copy: Path
) -> None:
    path = content_copy / "topics" / "diet.yml"
    data = yaml.safe_load(path.read_text())
    data["answer"] = "Updated by the content team."
    path.write_text(yaml.safe_dump(data))
    messages, _ = await run(ActionAnswerQuestion(store, net), tracker("/ask_diet", "ask_diet"))
    assert messages[0]["text"].startswith("Updated by the content team.")


def test_base_action_is_abstract_and_not_registered() -> None:
    from rasa_sdk.executor import ActionExecutor

    import actions.answering as answering

    assert answering.StoreAction.__abstractmethods__
    executor = ActionExecutor()
    executor.register_package("actions")
    assert set(executor.actions) == {
        "action_answer_question", "action_answer_follow_up", "action_offer_related_topics",
        "action_list_topics", "action_offer_topics", "action_delete_conversation",
        "action_record_feedback"}


async def test_group_question_pointing_back_gets_the_current_topics_variant(
    store: YamlContentStore, net: SafetyNet
) -> None:
    t = tracker("my wife is pregnant, can she use any of those?", "ask_about_pregnancy",
                topic="treatments", entities=[{"entity": "group", "value": "pregnant"}])
    messages, events = await run(ActionAnswerQuestion(store, net), t)
    treatments = store.get("treatments")
    assert treatments is not None and treatments.variants["pregnancy"] in messages[0]["text"]
    assert events == [SlotSet("topic", "treatments")]


async def test_group_question_about_own_cramps_gets_the_groups_topic(
    store: YamlContentStore, net: SafetyNet
) -> None:
    t = tracker("i'm pregnant, why do i get these cramps?", "ask_about_pregnancy",
                topic="treatments", entities=[{"entity": "group", "value": "pregnant"}])
    _, events = await run(ActionAnswerQuestion(store, net), t)
    assert events == [SlotSet("topic", "pregnancy")]


async def test_follow_up_points_back_to_a_medicine_named_two_turns_before(
    store: YamlContentStore, net: SafetyNet
) -> None:
    t = tracker("could that explain it?", "ask_follow_up", topic="quick_relief")
    t.events = [
        {"event": "user", "text": "i take furosemide",
         "parse_data": {"entities": [{"entity": "medication", "value": "furosemide"}]}},
        {"event": "user", "text": "how do i stop a cramp", "parse_data": {"entities": []}},
        {"event": "user", "text": "could that explain it?", "parse_data": {"entities": []}},
    ]
    _, events = await run(ActionAnswerFollowUp(store, net), t)
    assert events == [SlotSet("topic", "medications")]


async def test_follow_up_is_it_safe_stays_on_the_current_topic(
    store: YamlContentStore, net: SafetyNet
) -> None:
    messages, events = await run(ActionAnswerFollowUp(store, net),
                                 tracker("is it safe?", "ask_follow_up", topic="supplements"))
    supplements = store.get("supplements")
    assert supplements is not None and supplements.answer in messages[0]["text"]
    assert events == [SlotSet("topic", "supplements")]


async def test_follow_up_with_no_context_takes_the_classifiers_best_topic(
    store: YamlContentStore, net: SafetyNet
) -> None:
    t = tracker("blood test said my sodium was low, could that explain it", "ask_follow_up",
                ranking=[{"name": "ask_follow_up", "confidence": 0.6},
                         {"name": "ask_about_electrolytes", "confidence": 0.3}])
    _, events = await run(ActionAnswerFollowUp(store, net), t)
    assert events == [SlotSet("topic", "electrolytes")]


async def test_unsure_follow_up_mid_conversation_is_answered_from_context(
    store: YamlContentStore, net: SafetyNet
) -> None:
    t = tracker("is that safe?", "nlu_fallback", topic="supplements",
                ranking=[{"name": "nlu_fallback", "confidence": 0.5},
                         {"name": "ask_follow_up", "confidence": 0.45},
                         {"name": "ask_about_supplements", "confidence": 0.4}])
    _, events = await run(ActionOfferTopics(store, net), t)
    assert events == [SlotSet("topic", "supplements")]


async def test_group_question_pointing_back_without_a_variant_gets_the_groups_topic(
    store: YamlContentStore, net: SafetyNet
) -> None:
    t = tracker("my husband's a triathlete, is it any different for him?", "ask_quick_relief",
                topic="quick_relief", entities=[{"entity": "group", "value": "triathlete"}])
    _, events = await run(ActionAnswerQuestion(store, net), t)
    assert events == [SlotSet("topic", "exercise")]


async def test_follow_up_without_a_cue_takes_a_confident_other_topic(
    store: YamlContentStore, net: SafetyNet
) -> None:
    t = tracker("how would a doctor check for that?", "ask_follow_up", topic="medical_conditions",
                ranking=[{"name": "ask_follow_up", "confidence": 0.6},
                         {"name": "ask_how_diagnosed", "confidence": 0.3}])
    _, events = await run(ActionAnswerFollowUp(store, net), t)
    assert events == [SlotSet("topic", "diagnosis")]
    t = tracker("is that safe?", "ask_follow_up", topic="supplements",
                ranking=[{"name": "ask_follow_up", "confidence": 0.8},
                         {"name": "ask_treatments", "confidence": 0.1}])
    _, events = await run(ActionAnswerFollowUp(store, net), t)
    assert events == [SlotSet("topic", "supplements")]


async def test_an_age_over_sixty_counts_as_older_adults(store: YamlContentStore,
                                                        net: SafetyNet) -> None:
    t = tracker("what about my dad, he's 82?", "ask_about_group", topic="quick_relief")
    _, events = await run(ActionAnswerFollowUp(store, net), t)
    assert events == [SlotSet("topic", "risk_factors")]
