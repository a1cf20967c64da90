"""tools/action_server.py runs without TensorFlow and its safety net answers as before.

The action server refuses the `tensorflow` import (thinc, under spaCy, would load
it); the test process itself loads spaCy with TensorFlow. Every phrasing of
tests/safety/red_flag_phrasings.yml is sent to the running action server as a real
action call, and its answer must be the one this process's safety net predicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests
import yaml

from nightcramps.safety import SafetyNet
from tests.security.test_action_server import action_server
from tests.servers import ROOT
from tools.processes import process_table

PHRASINGS = yaml.safe_load((ROOT / "tests" / "safety" / "red_flag_phrasings.yml").read_text())
#: An ordinary topic intent: the action answers it unless the safety net steps in.
INTENT, TOPIC = "ask_causes", "causes"


@pytest.fixture(scope="module")
def net() -> SafetyNet:
    return SafetyNet.from_file(ROOT / "content" / "safety.yml")


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with action_server(tmp_path_factory.mktemp("actions-no-tf")) as running:
        yield running


def server_pids(port: int) -> List[int]:
    """The processes running tools.action_server with `--port port`."""
    pids = []
    for pid in process_table():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"tools.action_server" in argv and str(port).encode() in argv:
            pids.append(pid)
    return pids


def answer(port: int, text: str) -> Dict[str, Any]:
    """The action server's answer to `action_answer_question` for `text`."""
    call = {"next_action": "action_answer_question", "sender_id": "no-tf",
            "tracker": {"sender_id": "no-tf", "events": [], "slots": {},
                        "latest_message": {"text": text, "intent": {"name": INTENT}}}}
    response = requests.post(f"http://127.0.0.1:{port}/webhook", json=call, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def topic_of(result: Dict[str, Any]) -> Any:
    return next(event["value"] for event in result["events"]
                if event.get("event") == "slot" and event.get("name") == "topic")


def test_the_action_server_loads_no_tensorflow(port: int) -> None:
    answer(port, "my calf is swollen, red and hot on one side")  # spaCy and the net loaded
    pids = server_pids(port)
    assert pids
    for pid in pids:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "spacy" in maps  # the safety net's tokenizer and matcher are there
        assert "tensorflow" not in maps


@pytest.mark.parametrize("section", ["red_flags", "not_red_flags"])
def test_every_phrasing_gets_the_answer_the_safety_net_predicts(
        port: int, net: SafetyNet, section: str) -> None:
    wrong = []
    for item in PHRASINGS[section]:
        text = item["text"]
        result = answer(port, text)
        lead = net.lead_for(text)
        expected = ("urgent_care" if lead else
                    "see_a_doctor" if net.personal_advice(text) else TOPIC)
        first = result["responses"][0]["text"]
        if topic_of(result) != expected or (lead and not first.startswith(lead)):
            wrong.append((text, expected, topic_of(result)))
    assert not wrong
    if section == "red_flags":  # every red-flag phrasing is caught, as in tests/unit
        assert all(net.red_flags(item["text"]) for item in PHRASINGS[section])
