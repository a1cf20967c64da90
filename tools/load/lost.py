"""The lost-message check: every conversation read back from the tracker store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from rasa.shared.core.constants import DEFAULT_ACTION_NAMES

from nightcramps.small_print import SmallPrint
from tools.load.traffic import Exchange, System


def as_sent(bot_event: Dict[str, Any]) -> List[Optional[str]]:
    """The messages the REST channel sends for a stored bot event.

    One per paragraph of its text (a store answer that ends with its small print: one,
    the answer without the small print, as `connectors.rest_output` sends it), then one
    (without text) each for a custom payload, an image and an attachment (as
    `OutputChannel.send_response` sends them).
    """
    texts: List[Optional[str]] = []
    text = bot_event.get("text")
    small_print = SmallPrint.from_metadata(bot_event.get("metadata") or {})
    body = small_print.body_of(text) if small_print is not None and text else None
    if body is not None:
        texts.append(body.strip())
    elif text:
        texts.extend(text.strip().split("\n\n"))
    data = bot_event.get("data") or {}
    if data.get("custom"):
        texts.append(None)
    if data.get("image"):
        texts.append(None)
    if data.get("attachment") and data.get("attachment") != data.get("image"):
        texts.append(None)  # Rasa stores an image as the attachment too, sent once
    return texts


def read_events(sender: str, *, sqlite: Optional[Path] = None,
                postgres: Optional[Mapping[str, str]] = None) -> List[Dict[str, Any]]:
    """A conversation's events, all sessions, in id order, from an SQL tracker store.

    Args:
        sender: The conversation id.
        sqlite: The SQLite file (read only), or
        postgres: host, port, db, user and password of the PostgreSQL database.
    """
    query = "SELECT data FROM events WHERE sender_id = {} ORDER BY id"
    if sqlite is not None:
        connection = sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True, timeout=30)
        try:
            rows = connection.execute(query.format("?"), (sender,)).fetchall()
        finally:
            connection.close()
    else:
        import psycopg2

        settings = postgres or {}
        pg = psycopg2.connect(host=settings["host"], port=int(settings["port"]),
                              dbname=settings["db"], user=settings["user"],
                              password=settings["password"], connect_timeout=10)
        try:
            with pg.cursor() as cursor:
                cursor.execute(query.format("%s"), (sender,))
                rows = cursor.fetchall()
        finally:
            pg.close()
    return [json.loads(row[0]) for row in rows]


def stored_events(system: System, sender: str) -> List[Dict[str, Any]]:
    """The conversation's events as the system's tracker store holds them."""
    return read_events(sender, sqlite=system.sqlite, postgres=system.postgres)


def check_conversation(exchanges: Sequence[Exchange], events: Sequence[Dict[str, Any]]
                       ) -> List[str]:
    """Everything wrong with one conversation as stored (empty list: nothing lost).

    The conversation's messages were sent one after the other, so the stored user
    messages must be exactly the answered ones, in order, and after each exactly
    the bot messages its HTTP answer held.
    """
    problems: List[str] = []
    answered = [e for e in exchanges if e.status == 200 and not e.error]
    for exchange in exchanges:
        if exchange not in answered:
            problems.append(f"{exchange.text!r}: request failed "
                            f"({exchange.error or f'HTTP {exchange.status}'})")
        elif not exchange.replies:
            problems.append(f"{exchange.text!r}: empty answer")
    users = [index for index, event in enumerate(events) if event.get("event") == "user"]
    stored = [events[index].get("text") for index in users]
    sent = [exchange.text for exchange in answered]
    if stored != sent:
        missing = [text for text in sent if text not in stored]
        problems.append(f"user messages stored {len(stored)}, answered {len(sent)}; "
                        f"missing {missing[:3]}, order {'differs' if not missing else 'ok'}")
        return problems
    bounds = [*users, len(events)]
    for number, exchange in enumerate(answered):
        segment = events[bounds[number] + 1:bounds[number + 1]]
        ran_custom_action = any(
            event.get("event") == "action" and not str(event.get("name")).startswith("utter_")
            and event.get("name") not in DEFAULT_ACTION_NAMES for event in segment)
        exchange.kind = "custom action" if ran_custom_action else "responses only"
        stored_replies = [text for event in segment if event.get("event") == "bot"
                          for text in as_sent(event)]
        replies = [reply.get("text") for reply in exchange.replies]
        if stored_replies != replies:
            problems.append(f"{exchange.text!r}: stored bot messages {stored_replies} "
                            f"!= answered {replies}")
    return problems


def verify(system: System) -> Dict[str, Any]:
    """Reads every conversation the run sent back from the tracker store and checks it."""
    by_sender: Dict[str, List[Exchange]] = {}
    for exchange in system.exchanges:
        by_sender.setdefault(exchange.sender, []).append(exchange)
    problems: Dict[str, List[str]] = {}
    for sender, exchanges in by_sender.items():
        found = check_conversation(exchanges, stored_events(system, sender))
        if found:
            problems[sender] = found
    sent = len(system.exchanges)
    return {"store": "sqlite" if system.sqlite is not None else "postgresql",
            "conversations": len(by_sender), "messages": sent,
            "bot_messages": sum(len(e.replies) for e in system.exchanges),
            "conversations_with_problems": len(problems), "zero_lost": not problems,
            "problems": dict(list(problems.items())[:10])}
