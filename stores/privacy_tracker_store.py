"""The project's SQL tracker store, with identifiers redacted and "delete my data" honoured.

Used by both profiles (endpoints.yml: SQLite, endpoints.prod.yml: PostgreSQL) as
`type: stores.privacy_tracker_store.PrivacySQLTrackerStore`. Rasa builds it with
the same keys as `type: SQL` (it passes `host=<url>`, `domain`, `event_broker` and
the remaining keys of the section). It extends
`stores.sql_tracker_store.ResilientSQLTrackerStore` (Rasa's `SQLTrackerStore` with
lean queries and database retries) through its two documented hooks:
`_additional_events` and `save`.

- **Redaction.** Only the copy written to the database is redacted: each new user
  event's text, `parse_data` text and entities, and metadata go through
  `stores.redaction` (e-mails, phone and ID numbers, web addresses, postcodes,
  dates of birth). NLU and the actions of the current turn saw the original.
- **Deletion.** When the turn being saved ran `action_delete_conversation`, every
  stored event of the conversation (all sessions) is deleted and nothing is saved.
  The next message starts a new conversation.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

from rasa.shared.core.events import ActionExecuted, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from stores.redaction import redact_user_event
from stores.retention import delete_conversation
from stores.sql_tracker_store import ResilientSQLTrackerStore

logger = logging.getLogger(__name__)

#: The action (actions/privacy.py) whose event asks the store to delete the conversation.
DELETION_ACTION = "action_delete_conversation"


def deletion_requested(tracker: DialogueStateTracker) -> bool:
    """Whether the tracker holds the deletion action's event.

    A stored tracker never holds it (saving it deletes the conversation), so it can
    only come from the turn being saved.
    """
    return any(isinstance(event, ActionExecuted) and event.action_name == DELETION_ACTION
               for event in tracker.events)


def redacted(event: Event) -> Event:
    """The event as it may be stored: user events get a redacted copy."""
    if not isinstance(event, UserUttered):
        return event
    copy = Event.from_parameters(redact_user_event(event.as_dict()))
    if not isinstance(copy, UserUttered):  # never store the original by accident
        raise ValueError("a user event could not be redacted")
    return copy


class PrivacySQLTrackerStore(ResilientSQLTrackerStore):
    """The SQL tracker store that redacts user text and deletes conversations on request."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Saves the new events, redacted; or deletes the conversation if asked to."""
        if deletion_requested(tracker):
            sender_id = tracker.sender_id
            deleted = await self._with_retries(
                "deleting a conversation", lambda: delete_conversation(self.engine, sender_id))
            self.event_cache.forget(sender_id)
            logger.info("Deleted a conversation at the user's request (%d events).", deleted)
            return
        await super().save(tracker)

    def _additional_events(self, session: Any, tracker: DialogueStateTracker
                           ) -> Iterator[Event]:
        """The events not stored yet (as Rasa counts them), user text redacted."""
        for event in super()._additional_events(session, tracker):
            yield redacted(event)
