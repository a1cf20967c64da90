"""The pieces the fault tests rely on, without servers: the store and the channel's helpers."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import jsonschema
import pytest
import sqlalchemy as sa
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import EndpointConfig

from connectors import resilience
from nightcramps.content_store import default_store
from runtime import action_calls, rasa_patches
from stores import sql_tracker_store
from stores.sql_tracker_store import ResilientSQLTrackerStore, StorageUnavailable
from tests.tracker_events import DOMAIN, session_start
from tools.processes import free_port


def conversation(sender: str) -> List[Event]:
    return [*session_start(1.0),
            UserUttered("hi", {"name": "greet", "confidence": 0.9}, timestamp=2.0,
                        message_id="m1"),
            ActionExecuted("utter_greet", timestamp=2.1),
            BotUttered("Hello!\n\nGeneral information only.", timestamp=2.2),
            SlotSet("topic", "causes", timestamp=2.2),
            ActionExecuted("action_listen", timestamp=2.3)]


def rows(db: Path) -> List[Tuple[Any, ...]]:
    connection = sqlite3.connect(db)
    try:
        return connection.execute("SELECT sender_id, type_name, timestamp, intent_name, "
                                  "action_name, data FROM events ORDER BY id").fetchall()
    finally:
        connection.close()


def operational_error() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))


@pytest.fixture(autouse=True)
def fresh_request() -> None:
    sql_tracker_store.begin_request()


async def test_the_store_writes_and_reads_what_rasas_sql_store_does(tmp_path: Path) -> None:
    stock = SQLTrackerStore(DOMAIN, db=str(tmp_path / "stock.db"))
    ours = ResilientSQLTrackerStore(DOMAIN, db=str(tmp_path / "ours.db"))
    events = conversation("s1")
    for store in (stock, ours):
        await store.save(DialogueStateTracker.from_events("s1", events[:5], DOMAIN.slots))
        await store.save(DialogueStateTracker.from_events("s1", events, DOMAIN.slots))
        # a second session: only its events are read back
        later = [*events, ActionExecuted("action_session_start", timestamp=9.0),
                 SessionStarted(timestamp=9.0), ActionExecuted("action_listen", timestamp=9.0)]
        await store.save(DialogueStateTracker.from_events("s1", later, DOMAIN.slots))
    assert rows(tmp_path / "ours.db") == rows(tmp_path / "stock.db")
    assert len(rows(tmp_path / "ours.db")) == len(events) + 3  # nothing stored twice
    mine, theirs = await ours.retrieve("s1"), await stock.retrieve("s1")
    assert mine is not None and theirs is not None
    assert list(mine.events) == list(theirs.events) and len(mine.events) == 3
    full = await ours.retrieve_full_tracker("s1")
    assert full is not None and len(full.events) == len(events) + 3
    assert await ours.retrieve("nobody") is None
    with sqlite3.connect(tmp_path / "ours.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_new_conversation_is_stored_with_its_first_turn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stock = SQLTrackerStore(DOMAIN, db=str(tmp_path / "stock.db"))
    ours = ResilientSQLTrackerStore(DOMAIN, db=str(tmp_path / "ours.db"))
    for store in (stock, ours):  # as Rasa's processor fetches a new conversation
        assert not (await store.get_or_create_tracker("s1", append_action_listen=False)).events
    assert rows(tmp_path / "ours.db") == rows(tmp_path / "stock.db") == []

    def no_transaction(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an empty tracker needs no transaction")

    monkeypatch.setattr(ours.engine, "begin", no_transaction)
    tracker = await ours.get_or_create_tracker("s2", append_action_listen=False)
    monkeypatch.undo()
    for event in conversation("s2"):
        tracker.update(event)
    await ours.save(tracker)
    assert len(rows(tmp_path / "ours.db")) == len(conversation("s2"))


async def test_the_store_retries_until_the_database_answers(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    store = ResilientSQLTrackerStore(DOMAIN, db=str(tmp_path / "t.db"), retry_seconds=10)
    monkeypatch.setattr(sql_tracker_store, "FIRST_BACKOFF_SECONDS", 0.01)
    original, calls = store._save_once, []

    def flaky(tracker: DialogueStateTracker) -> int:
        calls.append(1)
        if len(calls) < 3:
            raise operational_error()
        return original(tracker)

    monkeypatch.setattr(store, "_save_once", flaky)
    await store.save(DialogueStateTracker.from_events("s1", conversation("s1"), DOMAIN.slots))
    assert len(calls) == 3 and len(rows(tmp_path / "t.db")) == len(conversation("s1"))
    assert not sql_tracker_store.storage_failed("s1")


async def test_an_unreadable_conversation_is_never_overwritten(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    store = ResilientSQLTrackerStore(DOMAIN, db=str(tmp_path / "t.db"), retry_seconds=0.2)
    await store.save(DialogueStateTracker.from_events("s1", conversation("s1"), DOMAIN.slots))
    stored = rows(tmp_path / "t.db")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise operational_error()

    monkeypatch.setattr(store.engine, "connect", refuse)
    with pytest.raises(StorageUnavailable):
        await store.retrieve("s1")
    assert sql_tracker_store.storage_failed("s1")
    monkeypatch.undo()  # the database is back, but this request read nothing:
    empty = DialogueStateTracker.from_events("s1", [UserUttered("new")], DOMAIN.slots)
    with pytest.raises(StorageUnavailable):
        await store.save(empty)  # Rasa's empty stand-in must not be written
    assert rows(tmp_path / "t.db") == stored
    sql_tracker_store.begin_request()  # the next request reads and saves normally
    tracker = await store.retrieve("s1")
    assert tracker is not None and not sql_tracker_store.storage_failed("s1")


async def test_a_repeated_message_id_gets_the_stored_answer() -> None:
    tracker = DialogueStateTracker.from_events("s1", conversation("s1"), DOMAIN.slots)
    answer = await resilience.stored_answer(tracker, "m1", "s1")
    assert answer == [{"recipient_id": "s1", "text": "Hello!"},
                      {"recipient_id": "s1", "text": "General information only."}]
    assert await resilience.stored_answer(tracker, "m2", "s1") is None
    assert await resilience.stored_answer(None, "m1", "s1") is None


def test_the_trouble_answer_carries_the_disclaimer() -> None:
    messages = resilience.trouble_messages("s1")
    assert [m["text"] for m in messages] == [resilience.TROUBLE_TEXT, default_store().disclaimer]


@pytest.fixture
def installed() -> Iterator[None]:
    """Every change of `runtime.rasa_patches` in place; stock Rasa again after the test."""
    rasa_patches.uninstall()
    assert rasa_patches.install(list(rasa_patches.PATCHES)) == sorted(
        patch.name for patch in rasa_patches.PATCHES)
    yield
    rasa_patches.uninstall()


def test_uninstall_gives_back_stock_rasa(installed: None) -> None:
    assert RemoteAction._validate_action_result is not rasa_patches.original(
        "response_validation")
    rasa_patches.uninstall()
    for patch in rasa_patches.PATCHES:
        value = patch.owner.__dict__[patch.attribute]
        function = value.__func__ if isinstance(value, staticmethod) else value
        assert function.__module__.startswith("rasa."), patch.name
    assert rasa_patches.installed() == []


def test_the_selection_variable_names_the_changes() -> None:
    assert [p.name for p in rasa_patches.selected("none")] == []
    assert len(rasa_patches.selected("all")) == len(rasa_patches.PATCHES)
    assert [p.name for p in rasa_patches.selected("response_validation, pooled_sessions")] == [
        "response_validation", "pooled_sessions"]
    with pytest.raises(ValueError, match="unknown changes"):
        rasa_patches.selected("pooled_sessions,graph_runner")  # measured and removed


def test_request_bodies_hold_the_same_json_values() -> None:
    tracker = DialogueStateTracker.from_events("s1", conversation("s1"), DOMAIN.slots)
    payload = {"next_action": "action_x", "tracker": tracker.current_state(EventVerbosity.ALL),
               "text": "crampes la nuit \U0001f9b5 </script> \u2028 \"q\"", "n": [1e-7, 2**60]}
    assert json.loads(action_calls.request_json(payload)) == json.loads(json.dumps(payload))
    unusual = {"confidence": float("inf"), "big": 2**70, "keys": {1: (2, 3)}}
    assert json.loads(action_calls.request_json(unusual)) == json.loads(json.dumps(unusual))
    assert math.isnan(json.loads(action_calls.request_json(float("nan"))))


def test_what_ujson_refuses_goes_through_json(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(value: Any) -> str:
        raise OverflowError("refused")

    monkeypatch.setattr(action_calls.ujson, "dumps", refuse)
    assert action_calls.request_json({"a": [1, "é"]}) == json.dumps({"a": [1, "é"]})
    with pytest.raises(TypeError):
        action_calls.request_json({"a": b"bytes"})


@pytest.mark.usefixtures("installed")
def test_the_tracker_store_finds_event_classes_as_rasa_does() -> None:
    # The store's own cached lookup; Rasa's `Event.resolve_by_type` stays Rasa's.
    assert Event.__dict__["resolve_by_type"].__func__.__module__ == "rasa.shared.core.events"
    resolve = sql_tracker_store.resolve_by_type
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert len(names) > 20
    for name in names:
        assert resolve(name) is Event.resolve_by_type(name)
    assert resolve("topic") is None
    assert resolve("no-such-event", default=SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name 'no-such-event'"):
        resolve("no-such-event")


@pytest.mark.usefixtures("installed")
async def test_action_calls_encode_with_it() -> None:
    session = EndpointConfig("http://127.0.0.1:1/webhook").session()
    try:
        assert session._json_serialize is action_calls.request_json
    finally:
        await session.close()


@pytest.mark.usefixtures("installed")
def test_action_responses_are_validated_as_rasa_does() -> None:
    action = RemoteAction("action_x", EndpointConfig("http://127.0.0.1:1/webhook"))
    assert action._validate_action_result({"events": [{"event": "slot", "name": "topic",
                                                       "value": "x"}], "responses": []})
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server"):
        action._validate_action_result({"events": [{"event": "no-such-event"}]})
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server"):
        action._validate_action_result({"events": [{"event": "slot", "name": 3}]})


def responses() -> List[Any]:
    """Action-server responses, valid and not, built from real events."""
    events = [event.as_dict() for event in conversation("s1")]
    events += [{"event": "slot", "name": "topic", "value": {"any": ["json"]}},
               {"event": "followup", "name": "utter_greet"}, {"event": "restart"},
               {"event": "bot", "text": "hi", "data": {"buttons": []}, "metadata": {}},
               {"event": "reminder", "intent": "x", "date_time": "2026-01-01T10:00:00"}]
    valid = [{"events": [event], "responses": []} for event in events]
    valid += [{"events": events, "responses": [{"text": "a"}]}, {}, {"events": []},
              {"responses": [{"template": "utter_greet"}]}]
    broken = [{"events": [{**event, key: 12345}]} for event in events
              for key in ("event", "name", "text", "timestamp", "metadata")]
    broken += [{"events": [{"name": "topic"}]}, {"events": ["slot"]}, {"events": "slot"},
               {"events": None}, {"responses": "hi"}, {"responses": ["hi"]}, [], "x", None,
               {"events": [{"event": "user", "parse_data": {"entities": [{"start": 0}]}}]},
               {"events": [{"event": "slot", "name": "a"}, {"event": "bot", "text": 5}]}]
    return valid + broken


def test_the_per_event_validation_agrees_with_rasas_schema() -> None:
    schema = RemoteAction.action_response_format_spec()
    full = jsonschema.validators.validator_for(schema)(schema)
    validator = action_calls.ResponseValidator()
    verdicts = [(validator.is_valid(response), full.is_valid(response))
                for response in responses()]
    assert [ours for ours, _ in verdicts] == [rasa for _, rasa in verdicts]
    assert {rasa for _, rasa in verdicts} == {True, False}


@pytest.mark.usefixtures("installed")
def test_an_unreachable_action_server_gets_the_trouble_answer() -> None:
    action = RemoteAction("action_x",
                          EndpointConfig(f"http://127.0.0.1:{free_port()}/webhook"))
    tracker = DialogueStateTracker.from_events("s1", conversation("s1"), DOMAIN.slots)
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    events = asyncio.run(action.run(CollectingOutputChannel(), nlg, tracker, DOMAIN))
    assert len(events) == 1 and isinstance(events[0], BotUttered)
    assert events[0].text == action_calls.trouble_text()
    assert events[0].metadata == {"fallback": action_calls.ACTION_SERVER_FALLBACK}


@pytest.mark.parametrize(("body", "ok"), [
    ({"sender": "s", "message": "hi"}, True), ({"message": "hi"}, False),
    ({"sender": "", "message": "hi"}, False),
    ({"sender": 5, "message": "hi"}, True), ({"sender": "s", "message": ["x"]}, False),
    ({"sender": "s"}, False), ({"sender": {"id": "s"}, "message": "hi"}, False),
    ({"sender": True, "message": "hi"}, False), ([{"message": "hi"}], False), (None, False),
    ("hello", False)])
def test_malformed_requests_are_refused_before_processing(body: Any, ok: bool) -> None:
    class Request:
        json = body

    assert (resilience.malformed(Request()) is None) == ok  # type: ignore[arg-type]


def test_events_are_read_back_as_rasa_reads_them() -> None:
    from rasa.shared.core.events import deserialise_events as rasa_deserialise

    dumped = [event.as_dict() for event in conversation("s1")]
    dumped.append({"event": "topic", "topic": "old"})  # skipped by both
    assert sql_tracker_store.deserialise_events(dumped) == rasa_deserialise(dumped)
    with pytest.raises(ValueError):
        sql_tracker_store.deserialise_events([{"event": "no-such-event"}])



MESSAGES = ("why do I get leg cramps at night?", "does magnesium help?", "hello",
            "my calf is swollen, hot and red", "stomach cramps at night", "asdf qwer")


def _parse(agent: Any) -> List[Any]:
    parses = [asyncio.run(agent.parse_message(text)) for text in MESSAGES]
    return [[(i["name"], i["confidence"]) for i in p["intent_ranking"]] for p in parses]


def _load(patches: str) -> Any:
    """The trained model, loaded with only `patches` ($RASA_PATCHES) in place, as `rasa run` does."""
    from rasa.core.agent import Agent

    from tests.servers import MODEL

    rasa_patches.uninstall()
    with pytest.MonkeyPatch.context() as env:
        env.setenv(rasa_patches.SELECTION_VARIABLE, patches)
        agent = Agent.load(str(MODEL))  # RasaRuntime installs the selected changes
    assert rasa_patches.installed() == ([] if patches == "none" else patches.split(","))
    return agent


def _diet_models(agent: Any) -> List[Any]:
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier

    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    return [node._component.model for node in nodes
            if isinstance(node._component, DIETClassifier)]


@pytest.fixture(scope="module")
def stock_agent() -> Iterator[Tuple[Any, List[Any]]]:
    """The trained model loaded by stock Rasa, and its predictions for `MESSAGES`."""
    agent = _load("none")
    try:
        yield agent, _parse(agent)
    finally:
        rasa_patches.uninstall()


def test_the_model_loads_for_predictions_without_training_as_rasa_loads_it(
        stock_agent: Tuple[Any, List[Any]]) -> None:
    """Same predictions as Rasa's own loading, with no training step and no optimizer state."""
    agent, stock = stock_agent
    assert [m.train_function is not None for m in _diet_models(agent)] == [True]
    try:
        lean_agent = _load("lean_model_load")
        (model,) = _diet_models(lean_agent)
        assert model.train_function is None and getattr(model, "optimizer", None) is None
        assert _parse(lean_agent) == stock
    finally:
        rasa_patches.uninstall()


def test_diet_predicts_directly_what_rasas_call_predicts(
        stock_agent: Tuple[Any, List[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The direct call of the traced function gives Rasa's predictions, and is used."""
    from runtime import predict_calls

    agent, stock = stock_agent
    direct_calls: List[int] = []
    call = predict_calls._Direct.call
    monkeypatch.setattr(predict_calls._Direct, "call",
                        lambda self, batch: direct_calls.append(1) or call(self, batch))
    try:
        rasa_patches.install([p for p in rasa_patches.PATCHES if p.name == "direct_predict"])
        first, second = _parse(agent), _parse(agent)
    finally:
        rasa_patches.uninstall()
    assert first == stock and second == stock
    assert len(direct_calls) >= 2 * len(MESSAGES) - 1  # all but the first call
