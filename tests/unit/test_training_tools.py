"""`make train`'s choice between fine-tuning and a full training, and the phase split."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Mapping, Sequence

import yaml

from tools import fast_training
from tools.training_benchmark import (
    NEW_EXAMPLES,
    TODAY_NAMES,
    candidate_config,
    data_with_new_examples,
    parse_setting,
    today_config,
)
from tools.training_phases import TimedRun, epochs, phases, timed_run


class RecordingRasa:
    """Stands in for `rasa train`: records each command, writes the model or fails."""

    def __init__(self, refuse_finetune: bool = False, fail_full: bool = False) -> None:
        self.commands: List[List[str]] = []
        self.refuse_finetune = refuse_finetune
        self.fail_full = fail_full

    def __call__(self, command: Sequence[str], cwd: Path, env: Mapping[str, str]) -> int:
        self.commands.append(list(command))
        finetuning = "--finetune" in command
        if (finetuning and self.refuse_finetune) or (not finetuning and self.fail_full):
            return 1
        out = Path(command[command.index("--out") + 1])
        name = command[command.index("--fixed-model-name") + 1]
        (out / f"{name}.tar.gz").write_text("finetuned" if finetuning else "full")
        return 0


def test_without_a_model_it_trains_from_scratch(tmp_path: Path) -> None:
    rasa = RecordingRasa()
    model = tmp_path / "models" / "night-cramps.tar.gz"
    outcome = fast_training.train(model, runner=rasa, log=lambda line: None)
    assert outcome.mode == "full"
    assert len(rasa.commands) == 1 and "--finetune" not in rasa.commands[0]
    assert model.read_text() == "full"
    assert sorted(p.name for p in model.parent.iterdir()) == ["night-cramps.tar.gz"]


def test_with_a_model_it_fine_tunes_that_model(tmp_path: Path) -> None:
    rasa = RecordingRasa()
    model = tmp_path / "night-cramps.tar.gz"
    model.write_text("previous")
    outcome = fast_training.train(model, runner=rasa, epoch_fraction=0.25, log=lambda line: None)
    assert outcome.mode == "finetune"
    (command,) = rasa.commands
    assert command[command.index("--finetune") + 1] == str(model)
    assert command[command.index("--epoch-fraction") + 1] == "0.25"
    # Written under another name, then moved over the model it was fine-tuned from.
    assert command[command.index("--fixed-model-name") + 1] == "night-cramps-next"
    assert model.read_text() == "finetuned"


def test_a_refused_fine_tuning_falls_back_to_a_full_training(tmp_path: Path) -> None:
    rasa = RecordingRasa(refuse_finetune=True)
    model = tmp_path / "night-cramps.tar.gz"
    model.write_text("previous")
    outcome = fast_training.train(model, runner=rasa, log=lambda line: None)
    assert outcome.mode == "full"
    assert ["--finetune" in c for c in rasa.commands] == [True, False]
    assert model.read_text() == "full"


def test_full_skips_fine_tuning_and_a_failure_keeps_the_old_model(tmp_path: Path) -> None:
    model = tmp_path / "night-cramps.tar.gz"
    model.write_text("previous")
    rasa = RecordingRasa()
    assert fast_training.train(model, full=True, runner=rasa, log=lambda line: None).mode == "full"
    assert len(rasa.commands) == 1
    model.write_text("previous")
    failing = RecordingRasa(refuse_finetune=True, fail_full=True)
    try:
        fast_training.train(model, runner=failing, log=lambda line: None)
    except RuntimeError:
        pass
    else:
        raise AssertionError("a failed training must raise")
    assert model.read_text() == "previous"


def test_phases_split_a_real_timed_run(tmp_path: Path) -> None:
    script = (
        "import time\n"
        "for line in ['start', \"Node 'x' running 'Y.train'.\", \"running 'DIETClassifier.train'\","
        " 'Epochs: 100%|##| 20/20 [00:01<00:00]',"
        " \"Finished training component 'DIETClassifier'.\","
        " \"Restored component 'LeanRulePolicy' from cache.\","
        " 'Your Rasa model is trained and saved at x']:\n"
        "    time.sleep(0.05); print(line, flush=True)\n")
    run = timed_run([sys.executable, "-c", script], {}, tmp_path / "log.txt")
    assert run.returncode == 0
    split = phases(run)
    assert abs(sum(split.values()) - run.seconds) < 1e-6
    assert all(seconds >= 0 for seconds in split.values())
    assert split["diet"] > 0.05 and epochs(run) == 20
    assert "DIETClassifier" in (tmp_path / "log.txt").read_text()


def test_missing_markers_make_empty_phases() -> None:
    run = TimedRun(3.0, 0, [(1.0, "Node 'a' running 'B.c'."),
                            (2.0, "Your Rasa model is trained and saved at x")])
    split = phases(run)
    assert split["diet"] == 0 and split["core"] == 0
    assert split["start"] == 1.0 and split["exit"] == 1.0
    assert epochs(run) == 0


def test_today_config_restores_the_classifier_and_the_featurizers() -> None:
    current = (Path(fast_training.ROOT) / "config.yml").read_text()
    today = today_config(current)
    diet = [step for step in today["pipeline"] if step["name"] == "DIETClassifier"]
    assert diet == [{"name": "DIETClassifier", "epochs": 100,
                     "number_of_transformer_layers": 0, "entity_recognition": False,
                     "constrain_similarities": True, "random_seed": 2024}]
    featurizers = [step for step in today["pipeline"]
                   if step["name"] == "CountVectorsFeaturizer"]
    assert len(featurizers) == 2 and all("min_df" not in step for step in featurizers)
    replaced = ("DIETClassifier", "CountVectorsFeaturizer", *TODAY_NAMES)
    others = [step for step in yaml.safe_load(current)["pipeline"]
              if step["name"] not in replaced]
    assert [s for s in today["pipeline"] if s["name"] not in replaced] == others
    assert not any(s["name"] in TODAY_NAMES for s in today["pipeline"])


def test_new_examples_go_to_a_copy_of_the_data(tmp_path: Path) -> None:
    copy = data_with_new_examples(tmp_path / "data")
    added = yaml.safe_load((copy / "nlu" / "zz_benchmark_new_examples.yml").read_text())
    assert {item["intent"] for item in added["nlu"]} == set(NEW_EXAMPLES)
    assert not (Path(fast_training.ROOT) / "data" / "nlu" / "zz_benchmark_new_examples.yml"
                ).exists()


def test_a_candidate_changes_only_the_classifiers_settings() -> None:
    current = (Path(fast_training.ROOT) / "config.yml").read_text()
    settings = dict([parse_setting("epochs=40"), parse_setting("learning_rate=0.002")])
    assert settings == {"epochs": 40, "learning_rate": 0.002}
    candidate = candidate_config(current, settings)
    (diet,) = (step for step in candidate["pipeline"] if step["name"] == "DIETClassifier")
    assert diet["epochs"] == 40 and diet["learning_rate"] == 0.002
    assert diet["random_seed"] == 2024
    assert len(candidate["pipeline"]) == len(yaml.safe_load(current)["pipeline"])
