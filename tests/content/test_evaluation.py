"""Adding a training example moves the evaluation (a small model, trained for real)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from tools.content import evaluation

BIN = Path(sys.executable).parent
# A fast, deterministic NLU-only pipeline: the point is the evaluation, not the model.
CONFIG = """recipe: default.v1
language: en
assistant_id: content-tests
pipeline:
- name: WhitespaceTokenizer
- name: CountVectorsFeaturizer
- name: LogisticRegressionClassifier
  random_state: 42
  max_iter: 300
policies: []
"""
TRAINING: Dict[str, List[str]] = {
    "ask_diet": ["what should i eat to stop cramps", "are bananas good for leg cramps",
                 "which foods help with night cramps", "does my diet affect cramps",
                 "should i eat more leafy greens", "is dairy food good for cramps"],
    "ask_stretches": ["what stretch should i do before bed", "how do i stretch my calf before bed",
                      "best stretches for night cramps", "show me a calf stretch",
                      "does stretching before bed stop cramps", "hamstring stretch for cramps"],
    "ask_quick_relief": ["how do i stop a cramp right now", "my calf is cramping what do i do",
                         "fastest way to ease a cramp", "quick relief for a leg cramp",
                         "cramp just woke me how do i make it stop", "should i walk it off"],
}
HELDOUT = {
    "ask_diet": ["is tonic good for cramps before bed"],
    "ask_stretches": ["a good stretch for my calves"],
    "ask_quick_relief": ["how can i ease a cramp that is happening now"],
}
ADDED = ("ask_diet", "is a glass of tonic good for cramps")


def write_nlu(path: Path, examples: Dict[str, List[str]]) -> None:
    blocks = [f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {t}\n" for t in texts)
              for intent, texts in examples.items()]
    path.write_text('version: "3.1"\nnlu:\n' + "".join(blocks))


def train(root: Path, name: str) -> Path:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false",
           "PYTHONHASHSEED": "0"}
    subprocess.run([str(BIN / "rasa"), "train", "nlu", "--config", "config.yml", "--nlu",
                    "data/nlu", "--out", "models", "--fixed-model-name", name],
                   cwd=root, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=600)
    return root / "models" / f"{name}.tar.gz"


@pytest.fixture
def small_project(project: Path) -> Path:
    """The project copy with a tiny training set, held-out set and red-flag list."""
    for old in (project / "data" / "nlu").glob("*.yml"):
        old.unlink()
    write_nlu(project / "data" / "nlu" / "small.yml", TRAINING)
    write_nlu(project / "tests" / "heldout" / "nlu.yml", HELDOUT)
    (project / "tests" / "safety" / "red_flag_phrasings.yml").write_text(
        "red_flags:\n  - text: my calf is swollen hot and red\n    flag: possible_clot\n"
        "not_red_flags: []\n")
    (project / "config.yml").write_text(CONFIG)
    return project


@pytest.mark.slow
def test_an_added_example_moves_the_evaluation(
    small_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before_model = train(small_project, "before")
    before = evaluation.latest(before_model, small_project)
    assert before is not None
    wrong_before = {m["text"] for m in before["misclassified"]}
    assert HELDOUT["ask_diet"][0] in wrong_before

    intent, text = ADDED
    write_nlu(small_project / "data" / "nlu" / "small.yml",
              {**TRAINING, intent: [*TRAINING[intent], text]})
    after_model = train(small_project, "after")
    assert evaluation.main([str(after_model), "--root", str(small_project)]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[out.rindex("\n{\n") + 1:])
    after = evaluation.cached(after_model, small_project)
    assert after is not None and printed["overall_accuracy"] == after["overall_accuracy"]

    assert HELDOUT["ask_diet"][0] not in {m["text"] for m in after["misclassified"]}
    assert after["overall_accuracy"] > before["overall_accuracy"]
    assert after["per_topic_f1"]["ask_diet"] > before["per_topic_f1"]["ask_diet"]
    # Each model's figures are cached under its own sha256, for the report and publish.
    assert before["model_sha256"] != after["model_sha256"]
    again = evaluation.cached(before_model, small_project)
    assert again is not None and again["evaluated_at"] == before["evaluated_at"]
