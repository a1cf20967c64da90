"""The user's "delete my data" request.

The action server cannot reach the tracker store, so the work is split: this
action confirms, and its `ActionExecuted` event tells the tracker store
(`stores.privacy_tracker_store.PrivacySQLTrackerStore`) to delete every stored
event of the conversation instead of saving the turn. See
docs/privacy-and-security.md.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

DELETED_TEXT = (
    "Done: I have deleted this conversation, and everything you told me in it, "
    "from my records. If you write again, we start afresh. Messages still shown "
    "in your chat window or messaging app are not affected; you can clear them there."
)


class ActionDeleteConversation(Action):
    """Confirms the deletion; the tracker store deletes the conversation on save."""

    def name(self) -> str:
        """The action's name in the domain (the tracker store looks for it)."""
        return "action_delete_conversation"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        """Sends the confirmation; never repeats anything the user wrote."""
        dispatcher.utter_message(text=DELETED_TEXT)
        return []
