"""The Train form builds the same RunConfig as the CLI flags, and a size estimate before training."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import build_parser, config_from_args
from app.ui import forms
from data.errors import DataError
from models.config import RunConfig
from models.run_dir import RunDir

DATASET = {"path": "/data/sms.csv", "text_column": "text", "label_column": "label", "text_mode": None}


def _cli(*argv: str):
    return config_from_args(build_parser().parse_args(list(argv)))


def test_classifier_form_matches_cli_flags(tmp_path: Path) -> None:
    form = forms.TrainForm(
        task_label="Classifier",
        kind="lstm",
        preset="small",
        backend="jax",
        precision="float32",
        tokenizer="wordpiece",
        epochs=4,
        batch_size=16,
        learning_rate=0.002,
        seq_len=64,
        max_steps=60,
        log_every=2,
        name="my run",
    )
    ui = forms.run_config(str(tmp_path), DATASET, form)
    cli = _cli(
        "--workspace",
        str(tmp_path),
        "train",
        "--task",
        "classifier",
        "--data",
        "/data/sms.csv",
        "--text-column",
        "text",
        "--label-column",
        "label",
        "--model",
        "lstm",
        "--size",
        "small",
        "--backend",
        "jax",
        "--precision",
        "float32",
        "--tokenizer",
        "wordpiece",
        "--epochs",
        "4",
        "--batch-size",
        "16",
        "--lr",
        "0.002",
        "--seq-len",
        "64",
        "--max-steps",
        "60",
        "--name",
        "my run",
    )
    assert ui.train.log_every == 2  # the one knob the CLI has no flag for
    cli.train.log_every = 2
    assert ui.to_dict() == cli.to_dict()


def test_language_model_form_ignores_label_column_and_zero_max_steps(tmp_path: Path) -> None:
    form = forms.TrainForm(task_label="Language model (generate text)", max_steps=0, epochs=1)
    config = forms.run_config(str(tmp_path), DATASET, form)
    assert config.task == "causal_lm" and config.data.label_column is None and config.train.max_steps is None


def test_finetune_form_records_the_parent_run(tmp_path: Path) -> None:
    form = forms.TrainForm(task_label=forms.FINETUNE_LABEL, from_run="lm-run")
    config = forms.run_config(str(tmp_path), DATASET, form)
    assert config.task == "classifier" and config.finetune.from_run == "lm-run"
    plain = forms.run_config(
        str(tmp_path), DATASET, forms.TrainForm(task_label="Classifier", from_run="lm-run")
    )
    assert plain.finetune.from_run is None  # a stale dropdown value does not turn a run into a fine-tune
    tagger = forms.run_config(
        str(tmp_path),
        DATASET,
        forms.TrainForm(task_label="Fine-tune a token tagger from a run", from_run="lm"),
    )
    assert tagger.task == "token_classifier" and tagger.finetune.from_run == "lm"
    assert tagger.data.label_column == "label"
    assert forms.is_finetune(forms.FINETUNE_LABEL) and not forms.is_finetune("Classifier")


def test_distill_form_names_the_teacher_and_keeps_the_students_model(tmp_path: Path) -> None:
    form = forms.TrainForm(task_label=forms.DISTILL_LABEL, from_run="teacher-run", kind="bag", preset="tiny")
    config = forms.run_config(str(tmp_path), DATASET, form)
    assert config.task == "classifier" and config.distill.teacher == "teacher-run"
    assert config.finetune.from_run is None  # a student starts from fresh weights, not the teacher's
    assert (config.model.kind, config.model.preset) == ("bag", "tiny")  # the recipe would pick linear
    assert forms.form_of(config)["task_label"] == forms.DISTILL_LABEL
    assert forms.form_of(config)["from_run"] == "teacher-run"
    plain = forms.run_config(str(tmp_path), DATASET, forms.TrainForm(task_label="Classifier", from_run="t"))
    assert plain.distill.teacher is None
    assert forms.is_distill(forms.DISTILL_LABEL) and not forms.is_finetune(forms.DISTILL_LABEL)
    assert forms.teacher_tasks() == ("classifier",)


def test_form_without_dataset_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no dataset"):
        forms.run_config(str(tmp_path), None, forms.TrainForm(task_label="Classifier"))


@pytest.mark.slow  # imports Keras and builds two models: ~10 s alone, over 30 s on a busy machine
def test_size_estimate_grows_with_the_preset(tmp_path: Path) -> None:
    def params(preset: str) -> str:
        config = forms.run_config(
            str(tmp_path), DATASET, forms.TrainForm(task_label="Classifier", preset=preset)
        )
        return forms.size_estimate(config, num_classes=3)

    tiny, small = params("tiny"), params("small")
    assert "parameters" in tiny and "to train at batch 32" in tiny
    assert tiny != small


def test_untouched_form_takes_the_recipe_as_the_cli_does(tmp_path: Path) -> None:
    from tests.conftest import make_sentiment_csv

    data = make_sentiment_csv(tmp_path / "s.csv")
    dataset = {"path": str(data), "text_column": "text", "label_column": "label", "text_mode": None}
    form = forms.TrainForm(task_label="Classifier", learning_rate=0.01, own=["learning_rate"])
    ui = forms.run_config(str(tmp_path), dataset, form)
    cli = _cli("--workspace", str(tmp_path), "train", "--data", str(data), "--lr", "0.01",
               "--text-column", "text", "--label-column", "label")  # fmt: skip
    assert ui.to_dict() == cli.to_dict()
    assert (
        ui.model.kind == "linear"
        and ui.train.learning_rate == 0.01
        and ui.recipe[-1] == "kept your own learning_rate"
    )
    assert forms.recipe_fields(ui)["kind"] == "linear"
    estimate = forms.size_estimate(ui, 2)
    assert "Chosen from the data" in estimate and "n-gram features" in estimate
    manual = forms.run_config(str(tmp_path), dataset, forms.TrainForm(task_label="Classifier", recipe=False))
    assert manual.recipe == [] and manual.model.kind == "transformer"


def test_an_untouched_language_model_form_takes_its_recipe_as_the_cli_does(tmp_path: Path) -> None:
    from models import tasks

    (task,) = tasks.names(lambda spec: spec.interface == tasks.GENERATE)
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat. " * 2000, encoding="utf-8")
    dataset = {"path": str(corpus), "text_column": None, "label_column": None, "text_mode": None}
    form = forms.TrainForm(task_label=tasks.get(task).label, epochs=5, own=["epochs"])
    ui = forms.run_config(str(tmp_path), dataset, form)
    cli = _cli("--workspace", str(tmp_path), "train", "--task", task, "--data", str(corpus), "--epochs", "5")
    assert ui.to_dict() == cli.to_dict()
    assert ui.train.learning_rate == 1e-2 and ui.model.dropout == 0.0 and ui.train.epochs == 5
    assert forms.recipe_fields(ui)["learning_rate"] == 1e-2 and ui.recipe[-1] == "kept your own epochs"


def test_advanced_split_and_seed_match_cli_flags(tmp_path: Path) -> None:
    form = forms.TrainForm(
        task_label="Classifier", val_fraction=0.2, test_fraction=0.05, seed=7, recipe=False
    )
    ui = forms.run_config(str(tmp_path), DATASET, form)
    assert (ui.data.val_fraction, ui.data.test_fraction, ui.data.seed, ui.train.seed) == (0.2, 0.05, 7, 7)
    cli = _cli(
        "--workspace", str(tmp_path), "train", "--data", "/data/sms.csv", "--recipe", "none",
        "--val-fraction", "0.2", "--test-fraction", "0.05", "--seed", "7", "--split-seed", "7",
    )  # fmt: skip
    assert (cli.data.val_fraction, cli.data.test_fraction, cli.data.seed, cli.train.seed) == (0.2, 0.05, 7, 7)
    with pytest.raises(DataError, match="validation share 0.7"):
        forms.run_config(str(tmp_path), DATASET, forms.TrainForm(task_label="Classifier", val_fraction=0.7))


def test_a_workbook_sheet_and_label_merging_chosen_on_the_data_tab_reach_the_run(tmp_path: Path) -> None:
    import pandas as pd

    from app.ui import data_tab

    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["not data"]}).to_excel(writer, sheet_name="Notes", index=False)
        rows = {"review": [f"review number {i}" for i in range(12)], "verdict": ["Good", "good", "bad"] * 4}
        pd.DataFrame(rows).to_excel(writer, sheet_name="Reviews", index=False)
    first = data_tab.load_view(str(path), None, None, "corpus")
    assert first[0]["sheet"] == "Notes" and first[10]["choices"] == ["Notes", "Reviews"]
    view = data_tab.load_view(str(path), None, None, "corpus", sheet="Reviews")
    state = view[0]
    assert state["sheet"] == "Reviews" and state["text_column"] == "review" and state["num_classes"] == 3
    assert view[11]["visible"] is True  # labelled: the merge box shows
    merged = data_tab.load_view(str(path), None, None, "corpus", sheet="Reviews", merge=True)[0]
    assert merged["num_classes"] == 2
    form = forms.TrainForm(task_label="Classifier", recipe=False)
    config = forms.run_config(str(tmp_path), merged, form)
    assert config.data.sheet == "Reviews" and config.data.merge_label_case is True
    cli = _cli(
        "--workspace", str(tmp_path), "train", "--data", str(path), "--sheet", "Reviews", "--merge-label-case"
    )
    assert (cli.data.sheet, cli.data.merge_label_case) == (config.data.sheet, config.data.merge_label_case)


def _finished_run(tmp_path: Path) -> tuple[str, RunConfig]:
    """A run directory as training leaves it, with settings the Train form has no field for."""
    config = _cli(
        "--workspace", str(tmp_path), "train", "--data", "/data/sms.csv", "--model", "crf",
        "--tokenizer", "word_features", "--epochs", "7", "--batch-size", "12", "--split-seed", "5",
        "--seed", "9", "--name", "tagger-ish",
    )  # fmt: skip
    config.tokenizer.word_slots = ["w", "x"]
    config.model.dropout = 0.3
    config.model.vocab_size, config.model.num_classes = 321, 2  # set by training, recomputed next time
    return str(RunDir.create(config).path), config


def test_train_again_untouched_gives_the_same_settings(tmp_path: Path) -> None:
    path, source = _finished_run(tmp_path)
    shown = forms.form_of(source)
    assert shown["recipe"] is False and shown["epochs"] == 7 and shown["kind"] == "crf"
    form = forms.TrainForm(**{**shown, "base_run": path})
    again = forms.run_config(str(tmp_path), forms.dataset_of(source), form)
    expected = RunConfig.from_dict(source.to_dict())
    expected.name, expected.recipe = "", []
    assert again.to_dict() == expected.to_dict()  # word slots, dropout and both seeds included


def test_train_again_applies_only_what_the_user_changed(tmp_path: Path) -> None:
    path, source = _finished_run(tmp_path)
    form = forms.TrainForm(**{**forms.form_of(source), "base_run": path, "epochs": 2})
    other = {**forms.dataset_of(source), "path": "/data/other.csv"}
    again = forms.run_config(str(tmp_path), other, form)
    assert again.train.epochs == 2 and again.data.path == "/data/other.csv"
    assert again.tokenizer.word_slots == ["w", "x"] and again.model.dropout == 0.3
    assert (again.data.seed, again.train.seed, again.train.batch_size) == (5, 9, 12)


def test_the_form_says_when_start_would_train_other_data_than_the_run_shown(tmp_path: Path) -> None:
    _, source = _finished_run(tmp_path)
    same = forms.differs_from_shown(
        source, "run-1", {"path": "/data/sms.csv", "name": "sms.csv"}, "Classifier"
    )
    assert same == ""
    note = forms.differs_from_shown(source, "run-1", {"path": "/data/b.txt", "name": "b.txt"}, "Classifier")
    assert "`b.txt`" in note and "`sms.csv`" in note and "run-1" in note
    other_task = forms.differs_from_shown(
        source, "run-1", {"path": "/data/sms.csv"}, forms.default_task_label(False)
    )
    assert "Train again with these settings" in other_task
