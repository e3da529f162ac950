"""Distillation: the loss against its formula, soft targets, a student trained from a teacher run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from app.cli import main
from data.errors import DataError
from models.config import RunConfig
from models.engine.distill_loss import DistillationAccuracy, DistillationLoss
from models.engine.distillation import (
    MAX_COPIES,
    TRANSFER_ROWS,
    augment_copies,
    selected_by,
    sized_preset,
    soft_targets,
    softmax,
    student_config,
    student_for,
)
from models.engine.safe_load import load_keras_model
from models.engine.train import train
from models.run_dir import RunDir, list_runs
from tests.conftest import make_sentiment_csv

backend = pytest.mark.backend
ROOT = Path(__file__).resolve().parents[2]


def _loss_by_hand(soft, hard, flag, logits, t, alpha):
    log_student_t = np.log(softmax(logits / t))
    kl = np.sum(soft * (np.log(np.maximum(soft, 1e-12)) - log_student_t), axis=-1) * t * t
    ce = -np.sum(hard * np.log(softmax(logits)), axis=-1)
    return np.mean(alpha * kl + (1 - alpha) * flag * ce)


@backend
@pytest.mark.parametrize("t, alpha", [(1.0, 0.0), (2.0, 0.5), (4.0, 1.0)])
def test_loss_is_the_formula(t, alpha):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3)).astype("float32")
    soft = softmax(rng.normal(size=(6, 3)) * 2).astype("float32")
    labels = np.array([0, 1, 2, 0, 1, 2])
    y = soft_targets(soft, labels, 3)
    y[4:, 3:] = 0.0  # the last two rows have no label (extra unlabelled texts)
    hard, flag = y[:, 3:6], y[:, 6]
    got = float(keras.ops.convert_to_numpy(DistillationLoss(3, t, alpha)(y, logits)))
    assert got == pytest.approx(_loss_by_hand(soft, hard, flag, logits, t, alpha), rel=1e-5)


@backend
def test_loss_is_zero_when_the_student_matches_a_soft_teacher():
    logits = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -2.0]], dtype="float32")
    y = soft_targets(softmax(logits / 3.0), None, 3)  # unlabelled rows: the soft term only
    assert float(keras.ops.convert_to_numpy(DistillationLoss(3, 3.0, 0.7)(y, logits))) == pytest.approx(
        0.0, abs=1e-6
    )


@backend
def test_accuracy_reads_the_label_else_the_teacher():
    y = soft_targets(np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]), np.array([1, 1, 0]), 2)
    y[2, 2:] = 0.0  # row 3 unlabelled: its target is the teacher's class 1
    logits = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]], dtype="float32")
    metric = DistillationAccuracy(2)
    metric.update_state(y, logits)
    assert float(keras.ops.convert_to_numpy(metric.result())) == pytest.approx(2 / 3)


def test_soft_targets_layout():
    y = soft_targets(np.array([[0.25, 0.75]]), np.array([0]), 2)
    assert y.tolist() == [[0.25, 0.75, 1.0, 0.0, 1.0]]
    assert soft_targets(np.array([[0.5, 0.5]]), None, 2).tolist() == [[0.5, 0.5, 0.0, 0.0, 0.0]]


def _teacher(workspace: Path, data: Path) -> RunDir:
    config = RunConfig(task="classifier", backend=keras.backend.backend(), workspace=str(workspace))
    config.data.path = str(data)
    config.tokenizer.kind = "ngrams"
    config.model.kind = "linear"
    config.model.seq_len = 64
    return train(config)


def _student(workspace: Path, teacher: RunDir, **distill) -> RunConfig:
    config = student_config(str(workspace), teacher.id)
    config.model.kind, config.model.preset = "bag", "tiny"  # learns the toy task in two short epochs
    config.tokenizer.kind, config.tokenizer.vocab_size = "wordpiece", 200
    config.model.seq_len = 16
    config.train.epochs, config.train.batch_size, config.train.learning_rate = 2, 16, 1e-2
    config.train.log_every = 5
    for key, value in {"augment": 0, **distill}.items():
        setattr(config.distill, key, value)
    return config


@backend
def test_student_learns_from_a_teacher_run(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=240)
    teacher = _teacher(tmp_path / "ws", data)
    # Extra texts: 40 new ones, plus every test text (which must be dropped: the student is scored on them).
    extra = make_sentiment_csv(tmp_path / "extra.csv", rows=40, seed=7)
    student = train(_student(tmp_path / "ws", teacher, unlabelled_path=str(extra), temperature=3.0))

    assert student.status()["state"] == "completed"
    report = student.eval_report()
    assert report["macro_f1"] > 0.9  # the toy task: one word decides
    taught = report["teacher"]
    assert taught["run"] == teacher.id and taught["kind"] == "linear"
    assert taught["agreement"] > 0.9
    assert taught["student_params"] == load_keras_model(student.model_path, compile=False).count_params()
    lineage = student.lineage()
    assert lineage["relation"] == "teacher" and lineage["parent_id"] == teacher.id
    assert lineage["temperature"] == 3.0
    assert 0 < lineage["unlabelled_rows"] <= 40
    data_report = json.loads(student.data_report_path.read_text())["distillation"]
    rows = json.loads(student.data_report_path.read_text())["rows"]
    assert data_report["labelled_rows"] == rows["train"] and data_report["unlabelled_rows"] > 0
    # The checkpoint carries the distillation loss and reloads with it (resume compiles from the file).
    model = load_keras_model(student.last_checkpoint, compile=True)
    assert isinstance(model.loss, DistillationLoss) and model.loss.temperature == 3.0
    summary = next(s for s in list_runs(tmp_path / "ws") if s.id == student.id)
    assert summary.lineage_text.startswith(f"distilled from {teacher.id}")


def test_unlabelled_test_texts_are_dropped(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=240)
    teacher = _teacher(tmp_path / "ws", data)
    # The unlabelled file is the labelled file itself: only its training rows may reach the student.
    student = train(_student(tmp_path / "ws", teacher, unlabelled_path=str(data)))
    rows = json.loads(student.data_report_path.read_text())["rows"]
    extra = student.lineage()["unlabelled_rows"]
    unique_texts = len(set(Path(data).read_text().splitlines()[1:]))
    assert extra <= rows["train"] + (240 - unique_texts)  # no validation or test text among them
    assert extra >= rows["train"] - 5


def test_augmented_copies_join_the_transfer_set(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=120)
    teacher = _teacher(tmp_path / "ws", data)
    student = train(_student(tmp_path / "ws", teacher, augment=None))  # None: chosen from the data size
    rows = json.loads(student.data_report_path.read_text())["rows"]["train"]
    assert student.lineage()["augment"] == augment_copies(None, rows) == MAX_COPIES
    assert student.lineage()["unlabelled_rows"] == MAX_COPIES * rows  # no text here loses every word


def test_augment_copies_fill_a_transfer_set():
    assert augment_copies(None, 100) == MAX_COPIES
    assert augment_copies(None, TRANSFER_ROWS // 2) == 1
    assert augment_copies(None, TRANSFER_ROWS) == 0
    assert augment_copies(6, 10_000_000) == 6 and augment_copies(-1, 10) == 0


def test_refusals(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=120)
    teacher = _teacher(tmp_path / "ws", data)
    linear = _student(tmp_path / "ws", teacher)
    linear.model.kind = "linear"
    with pytest.raises(DataError, match="closed form"):
        train(linear)
    hot = _student(tmp_path / "ws", teacher, alpha=1.5)
    with pytest.raises(DataError, match="alpha"):
        train(hot)
    with pytest.raises(DataError, match="no run named"):
        student_config(str(tmp_path / "ws"), "nope")


def test_a_student_for_the_export_tab_gets_the_recipe_for_its_kind(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=120)
    teacher = _teacher(tmp_path / "ws", data)
    config = student_for(str(tmp_path / "ws"), str(teacher.path), "lstm", "small")
    assert (config.model.kind, config.model.preset) == ("lstm", "small")
    assert config.distill.teacher == teacher.id and config.data.path == str(data)
    assert config.tokenizer.kind == "wordpiece" and config.recipe  # the recipe's choices for an LSTM
    with pytest.raises(DataError, match="closed form"):
        student_for(str(tmp_path / "ws"), teacher.id, "linear", "tiny")


def test_the_default_student_is_the_largest_hashed_preset_within_a_tenth_of_the_teacher(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=120)
    teacher = _teacher(tmp_path / "ws", data)
    config = student_config(str(tmp_path / "ws"), teacher.id)
    assert config.model.kind == "hashed" and config.model.preset == "tiny"  # a toy teacher: the smallest
    report = teacher.eval_report()
    # tiny: 4,096 x 8 rows + head (~33k parameters), small: 65,536 x 16 (~1M), base: 262,144 x 32 (~8.4M)
    for teacher_params, preset in [
        (300_000, "tiny"),
        (400_000, "tiny"),
        (12_000_000, "small"),
        (90_000_000, "base"),
    ]:
        teacher.eval_path.write_text(json.dumps({**report, "params": teacher_params}))
        assert sized_preset(teacher, "hashed") == preset, teacher_params
    teacher.eval_path.write_text(json.dumps({k: v for k, v in report.items() if k != "params"}))
    assert sized_preset(teacher, "hashed") == "tiny"  # the teacher's size unknown
    auto = student_for(str(tmp_path / "ws"), teacher.id, "hashed", "auto")
    assert (
        auto.tokenizer.kind == "ngrams" and auto.model.preset == "tiny"
    )  # the recipe: the teacher's n-grams


def test_sizing_the_default_student_imports_no_keras(tmp_path):
    """The CLI builds a student's config before it sets the run's backend: Keras must not load by then."""
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=120)
    teacher = _teacher(tmp_path / "ws", data)
    teacher.eval_path.write_text(json.dumps({**teacher.eval_report(), "params": 12_000_000}))
    code = (
        "import sys; from models.engine.distillation import student_config; "
        f"c = student_config({str(tmp_path / 'ws')!r}, {teacher.id!r}); "
        "print(c.model.preset, 'keras' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.stdout.split() == ["small", "False"], done.stderr[-2000:]


def test_students_and_hashed_bags_keep_their_best_validation_macro_f1():
    config = RunConfig(task="classifier")
    config.model.kind = "hashed"
    assert selected_by(config, None) == "val_macro_f1"
    config.model.kind = "bag"
    assert selected_by(config, None) is None  # the classifier's own choice: the validation loss
    config.distill.teacher = "teacher-run"
    assert selected_by(config, None) == "val_macro_f1"


def test_cli_distill(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=160)
    teacher = _teacher(tmp_path / "ws", data)
    argv = ["--workspace", str(tmp_path / "ws"), "distill", "--from", teacher.id]  # the default student
    argv += ["--epochs", "1", "--distill-alpha", "0.8", "--quiet"]
    assert main(argv) == 0
    student = next(s for s in list_runs(tmp_path / "ws") if s.id != teacher.id)
    config = RunConfig.load(Path(student.path) / "config.json")
    assert config.distill.teacher == teacher.id and config.distill.alpha == 0.8
    assert (config.model.kind, config.model.preset, config.tokenizer.kind) == ("hashed", "tiny", "ngrams")
    assert config.data.path == str(data)
    assert student.state == "completed" and student.lineage_text.startswith("distilled from")
