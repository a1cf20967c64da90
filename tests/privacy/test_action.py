"""action_delete_conversation: confirms, repeats nothing, leaves the deleting to the store."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.privacy import DELETED_TEXT, ActionDeleteConversation


async def test_the_action_confirms_without_repeating_the_user() -> None:
    message = {"text": "delete my data, i'm jo@example.org",
               "intent": {"name": "request_data_deletion", "confidence": 0.97}}
    tracker = Tracker("someone", {"topic": "causes"}, message, [], False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    events = await ActionDeleteConversation().run(dispatcher, tracker, {})
    assert events == []  # the tracker store deletes on seeing this action
    assert [m["text"] for m in dispatcher.messages] == [DELETED_TEXT]
    assert "jo@example.org" not in str(dispatcher.messages)
