"""Rasa's own commands, from the project root with no environment variables set.

`rasa run actions` and `rasa run` (and `rasa shell`) read the project's default
files (config, endpoints.yml, credentials.yml) as a Rasa user runs them, and give
the same answers as `make run`: the real "causes" answer, and the urgent answer
for a red flag.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from nightcramps.content_store import YamlContentStore
from tests.servers import BIN, MODEL, ROOT
from tools.processes import Server, free_port, serving

#: endpoints.yml's action server.
ACTIONS_URL = "http://127.0.0.1:5055/health"
#: Only what any shell has: no project, Rasa or channel variable.
BARE_ENV = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def answers() -> YamlContentStore:
    return YamlContentStore(ROOT / "content")


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`rasa run actions`, as a Rasa user starts it (endpoints.yml's port 5055)."""
    with serving(Server("actions", [str(BIN / "rasa"), "run", "actions"], ACTIONS_URL, BARE_ENV,
                        tmp_path_factory.mktemp("actions")), timeout=120):
        yield


def say(port: int, sender: str, text: str) -> List[Dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": text}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: List[Dict[str, Any]] = json.loads(response.read())
    return answer


@pytest.mark.usefixtures("action_server")
# `rasa run --enable-api` is what every other suite runs (tools/running_assistant.py).
@pytest.mark.parametrize("api", [[]])
def test_rasa_run_answers_as_make_run_does(tmp_path: Path, answers: YamlContentStore,
                                           api: List[str]) -> None:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    port = free_port()
    rasa = Server("rasa", [str(BIN / "rasa"), "run", *api, "--port", str(port),
                           "--interface", "127.0.0.1"],
                  f"http://127.0.0.1:{port}/", BARE_ENV, tmp_path)
    with serving(rasa):
        replies = say(port, f"cli-{port}", "why do I get leg cramps at night?")
        texts = [m.get("text", "") for m in replies]
        assert answers.get("causes").answer.split("\n\n")[0] in texts
        small_print = [m["custom"]["small_print"] for m in replies if m.get("custom")]
        assert [s["disclaimer"] for s in small_print] == [answers.disclaimer]
        assert small_print[0]["sources"].startswith("Sources: ")
        urgent = " ".join(m.get("text", "") for m in say(
            port, f"cli-urgent-{port}", "my calf is swollen, hot and red and it hurts"))
        assert "blood clot" in urgent.lower()
        assert answers.get("causes").answer.split("\n\n")[0] not in urgent
    assert "RasaException" not in rasa.log_text()


@pytest.mark.usefixtures("action_server")
def test_rasa_shell_answers_through_its_input(tmp_path: Path, answers: YamlContentStore) -> None:
    port = free_port()
    done = subprocess.run(
        [str(BIN / "rasa"), "shell", "--port", str(port)], cwd=ROOT, env=BARE_ENV,
        input="why do I get leg cramps at night?\n/stop\n", capture_output=True, text=True,
        timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    first_sentence = answers.get("causes").answer.split(". ")[0]
    assert first_sentence in output
    assert answers.disclaimer.split(". ")[0] in output
    # Rasa's own REST channel (`cmdline`) sends the small print as a paragraph of text.
    assert "\nSources: " in output and " · Reviewed " in output
