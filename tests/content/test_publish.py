"""`make publish` / `make rollback`: a real Rasa server swaps models without a restart."""

from __future__ import annotations

import http.server
import io
import json
import tarfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import requests

from tests.content.conftest import copy_project
from tests.servers import MODEL, TOKEN, Assistant, running_assistant
from tools.content import evaluation
from tools.content.manifest import Manifest
from tools.content.publish import main, model_metadata, refusal_reasons
from tools.processes import free_port

GOOD = {"topic_accuracy": 0.95, "overall_accuracy": 0.95, "oos_rejection": 0.95,
        "red_flag_recall": 1.0, "red_flag_phrasings_recall": 1.0,
        "red_flag_phrasings_missed": [], "misclassified": [],
        "per_topic_f1": {"ask_diet": 0.9}}


def record_figures(root: Path, model: Path, **figures: Any) -> None:
    """Stores evaluation figures for `model`, as `make evaluate` would."""
    evaluation.save({**GOOD, **figures, "model_sha256": evaluation.sha256_file(model),
                     "dataset_sha256": evaluation.dataset_digest(root)}, root)


def publish(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str,
            token: str | None, *args: str) -> Tuple[int, str]:
    monkeypatch.setenv("RASA_URL", url)
    if token is None:
        monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    else:
        monkeypatch.setenv("RASA_API_TOKEN", token)
    code = main(list(args))
    return code, capsys.readouterr().out


# -- without a real server ------------------------------------------------------------------


def test_refusal_reasons() -> None:
    published = {"overall_accuracy": 0.95}
    assert refusal_reasons({**GOOD, "overall_accuracy": 0.95}, published) == []
    assert refusal_reasons({**GOOD, "overall_accuracy": 0.96}, published) == []
    assert refusal_reasons(GOOD, None) == []
    [lower] = refusal_reasons({**GOOD, "overall_accuracy": 0.94}, published)
    assert "0.940 is lower than the published model's 0.950" in lower
    missed = {**GOOD, "overall_accuracy": 0.99, "red_flag_phrasings_recall": 0.99,
              "red_flag_phrasings_missed": ["my leg is hot and swollen"]}
    [red] = refusal_reasons(missed, published)
    assert "misses 1 red-flag message(s)" in red and "my leg is hot and swollen" in red
    heldout_miss = {**GOOD, "red_flag_recall": 0.95, "misclassified": [
        {"text": "chest pain", "label": "report_urgent_symptoms", "predicted": "ask_causes"}]}
    assert refusal_reasons(evaluation.summary(heldout_miss), None)  # even with none published


def test_current_is_the_trained_model_until_one_is_published(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--current", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "models" / "night-cramps.tar.gz")


def test_without_a_token_it_explains_how_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = publish(monkeypatch, capsys, "http://127.0.0.1:1", None)
    assert code == 2
    assert "RASA_API_TOKEN is not set" in out and "make run" in out


def test_with_no_server_it_explains_how_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out = publish(monkeypatch, capsys, url, "secret", "--root", str(tmp_path))
    assert code == 2
    assert f"No assistant is answering at {url}" in out
    assert "RASA_API_TOKEN=<a long random secret>" in out and "make run" in out


class _NoApi(http.server.BaseHTTPRequestHandler):
    """A server that, like Rasa without --enable-api, has no /status."""

    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_with_the_api_off_it_explains_how_to_restart(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _NoApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        code, out = publish(monkeypatch, capsys, f"http://127.0.0.1:{server.server_port}",
                            "secret", "--rollback", "--root", str(tmp_path))
    finally:
        server.shutdown()
    assert code == 2
    assert "running without its HTTP API" in out and "make run" in out


# -- against a real Rasa server ---------------------------------------------------------------


def model_variant(source: Path, target: Path, model_id: str) -> Path:
    """A loadable copy of a model with its own model_id (so its bytes and sha256 differ)."""
    with tarfile.open(source, "r:gz") as old, \
            tarfile.open(target, "w:gz", compresslevel=1) as new:
        for member in old:
            handle = old.extractfile(member) if member.isfile() else None
            if member.name.lstrip("./") == "metadata.json" and handle is not None:
                metadata = json.loads(handle.read())
                metadata["model_id"] = model_id
                data = json.dumps(metadata).encode()
                member.size = len(data)
                new.addfile(member, io.BytesIO(data))
            else:
                new.addfile(member, handle)
    return target


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    if not MODEL.exists():
        pytest.skip(f"{MODEL} is missing: run `make train` first")
    folder = tmp_path_factory.mktemp("models")
    return {name: model_variant(MODEL, folder / f"candidate-{name}.tar.gz",
                                f"content-test-{name}") for name in ("a", "b")}


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, models: Dict[str, Path]
              ) -> Iterator[Assistant]:
    with running_assistant(tmp_path_factory.mktemp("assistant")) as running:
        yield running


def status(assistant: Assistant) -> Dict[str, Any]:
    response = requests.get(f"{assistant.base}/status", params={"token": TOKEN}, timeout=30)
    response.raise_for_status()
    return dict(response.json())


class Chatter:
    """Keeps talking to the assistant in the background; records every reply's status."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.codes: List[int] = []
        self.running = True
        self.thread = threading.Thread(target=self.talk, daemon=True)

    def talk(self) -> None:
        while self.running:
            try:
                reply = requests.post(f"{self.assistant.base}/webhooks/rest/webhook",
                                      json={"sender": "during-publish",
                                            "message": "how do I stretch my calf?"},
                                      timeout=120)
                self.codes.append(reply.status_code if reply.json() else 0)
            except requests.RequestException:
                self.codes.append(-1)
            time.sleep(0.2)

    def __enter__(self) -> Chatter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join(timeout=150)


@pytest.mark.slow
def test_publish_swaps_the_served_model_and_rollback_restores_it(
    assistant: Assistant, models: Dict[str, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    root = copy_project(tmp_path / "project")
    record_figures(root, models["a"], overall_accuracy=0.95)
    record_figures(root, models["b"], overall_accuracy=0.96)
    url = assistant.base
    assert status(assistant)["model_file"] == MODEL.name

    code, out = publish(monkeypatch, capsys, url, TOKEN, "--root", str(root),
                        "--model", str(models["a"]))
    assert code == 0, out
    manifest = Manifest.load(root)
    first = manifest.current
    assert first is not None and first.endswith(".tar.gz")
    served = status(assistant)
    assert (served["model_file"], served["model_id"]) == (first, "content-test-a")
    assert f"now serves {first} (model id content-test-a)" in out
    assert manifest.models[first]["sha256"] == evaluation.sha256_file(models["a"])
    assert manifest.models[first]["evaluation"]["overall_accuracy"] == 0.95

    with Chatter(assistant) as chatter:  # no downtime: users are answered throughout
        code, out = publish(monkeypatch, capsys, url, TOKEN, "--root", str(root),
                            "--model", str(models["b"]))
    assert code == 0, out
    assert chatter.codes and set(chatter.codes) == {200}, chatter.codes
    second = Manifest.load(root).current
    assert second not in (None, first)
    assert (status(assistant)["model_file"], status(assistant)["model_id"]) == (
        second, "content-test-b")

    code, out = publish(monkeypatch, capsys, url, TOKEN, "--rollback", "--root", str(root))
    assert code == 0, out
    assert (status(assistant)["model_file"], status(assistant)["model_id"]) == (
        first, "content-test-a")
    manifest = Manifest.load(root)
    assert manifest.current == first and manifest.stack == [first]
    assert [h["action"] for h in manifest.history] == ["publish", "publish", "rollback"]
    assert manifest.history[-1]["served"]["model_file"] == first
    assert f"Rolled back from {second}" in out

    code, out = publish(monkeypatch, capsys, url, TOKEN, "--rollback", "--root", str(root))
    assert code == 1 and "Nothing to roll back to" in out
    assert status(assistant)["model_file"] == first

    code, out = publish(monkeypatch, capsys, url, TOKEN, "--root", str(root),
                        "--model", str(models["a"]))
    assert code == 0 and "nothing to do" in out

    # `--current` names the published model (for `make run` to serve after a restart).
    assert main(["--current", "--root", str(root)]) == 0
    assert capsys.readouterr().out.strip() == str(Manifest.load(root).model_path(first))


@pytest.mark.slow
def test_publish_refuses_a_worse_model_unless_forced(
    assistant: Assistant, models: Dict[str, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    root = copy_project(tmp_path / "project")
    record_figures(root, models["a"], overall_accuracy=0.95)
    record_figures(root, models["b"], overall_accuracy=0.90)
    url = assistant.base

    code, out = publish(monkeypatch, capsys, url, "not-the-token", "--root", str(root),
                        "--model", str(models["a"]))
    assert code == 2 and "refused the token" in out

    code, out = publish(monkeypatch, capsys, url, TOKEN, "--root", str(root),
                        "--model", str(models["a"]))
    assert code == 0, out
    served = status(assistant)
    assert served["model_id"] == "content-test-a"

    code, out = publish(monkeypatch, capsys, url, TOKEN, "--root", str(root),
                        "--model", str(models["b"]))
    assert code == 1
    assert "NOT published" in out and "0.900 is lower than the published model's 0.950" in out
    assert "make publish FORCE=1" in out
    assert status(assistant) == served

    # Better overall, but one red flag missed: still refused.
    record_figures(root, models["b"], overall_accuracy=0.99, red_flag_phrasings_recall=0.99,
                   red_flag_phrasings_missed=["my calf is hot, red and swollen"])
    code, out = publish(monkeypatch, capsys, url, TOKEN, "--root", str(root),
                        "--model", str(models["b"]))
    assert code == 1 and "misses 1 red-flag message(s)" in out
    assert status(assistant) == served
    assert len(Manifest.load(root).stack) == 1

    code, out = publish(monkeypatch, capsys, url, TOKEN, "--root", str(root),
                        "--model", str(models["b"]), "--force")
    assert code == 0, out
    assert "Publishing anyway (forced)" in out
    assert status(assistant)["model_id"] == "content-test-b"
    manifest = Manifest.load(root)
    assert manifest.models[manifest.current or ""]["forced"] is True
    assert model_metadata(manifest.model_path(manifest.current or ""))["model_id"] == \
        "content-test-b"
