"""A small terminal chat with the running assistant, through its REST channel.

Usage: python -m tools.chat [--url http://localhost:5005] [--sender NAME]
Buttons are shown numbered; type the number to choose one.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any, Dict, List, Optional

import requests


def send(url: str, sender: str, text: str) -> List[Dict[str, Any]]:
    """Sends one message and returns the bot's replies."""
    response = requests.post(f"{url}/webhooks/rest/webhook",
                             json={"sender": sender, "message": text}, timeout=30)
    response.raise_for_status()
    return list(response.json())


def main(argv: Optional[List[str]] = None) -> int:
    """Reads lines from the terminal until EOF or /quit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:5005")
    parser.add_argument("--sender", default=f"terminal-{uuid.uuid4().hex[:8]}")
    args = parser.parse_args(argv)
    buttons: List[Dict[str, str]] = []
    print("Ask about night-time leg cramps. /quit to leave.")
    while True:
        try:
            text = input("you> ").strip()
        except EOFError:
            return 0
        if text == "/quit":
            return 0
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        try:
            replies = send(args.url, args.sender, text)
        except requests.RequestException as error:
            print(f"(could not reach the assistant: {error})")
            continue
        buttons = []
        for reply in replies:
            if reply.get("text"):
                print(f"bot> {reply['text']}")
            small_print = (reply.get("custom") or {}).get("small_print") or {}
            for line in (small_print.get("disclaimer"), small_print.get("sources")):
                if line:
                    print(f"     {line}")
            for button in reply.get("buttons") or []:
                buttons.append(button)
                print(f"     {len(buttons)}. {button['title']}")


if __name__ == "__main__":
    raise SystemExit(main())
