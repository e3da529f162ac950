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
from data.tokenizers import load_tokenizer
from data.tokenizers.ngrams import count_tokens_end
from models.architecture.backbone import TOKEN_EMBEDDING_NAME
from models.architecture.builders import get_backbone
from models.config import RunConfig
from models.engine.distill_loss import DistillationAccuracy, DistillationLoss
from models.engine.distillation import (
    MAX_COPIES,
    MIN_STUDENT_NGRAMS,
    TFLITE_OVERHEAD_BYTES,
    TRANSFER_ROWS,
    augment_copies,
    linear_student_ngrams,
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


@backend
def test_a_linear_student_fits_its_teachers_soft_labels(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=240)
    teacher = _teacher(tmp_path / "ws", data)
    config = student_config(str(tmp_path / "ws"), teacher.id)  # a linear teacher's: linear, its n-grams
    assert (config.model.kind, config.tokenizer.kind) == ("linear", "ngrams")
    config.model.seq_len, config.distill.augment = 64, 0
    config.distill.alpha = 1.0  # the teacher's probabilities alone
    student = train(config)
    taught = student.eval_report()["teacher"]
    assert student.status()["state"] == "completed"
    assert student.config().tokenizer.max_ngrams == MIN_STUDENT_NGRAMS  # a toy teacher's tenth is less
    assert taught["agreement"] > 0.75
    assert json.loads(student.data_report_path.read_text())["distillation"]["teacher"] == teacher.id


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
    assert augment_copies(None, 100, fitted=True) == 0 and augment_copies(2, 100, fitted=True) == 2


def test_refusals(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=120)
    teacher = _teacher(tmp_path / "ws", data)
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
    linear = student_for(str(tmp_path / "ws"), teacher.id, "linear", "tiny")
    assert linear.tokenizer.kind == "ngrams" and linear.distill.teacher == teacher.id
    best = student_for(str(tmp_path / "ws"), teacher.id, "auto", "auto")  # the Export tab's default
    assert (best.model.kind, best.tokenizer.kind) == ("linear", "ngrams")


def test_a_hashed_student_is_the_largest_preset_within_a_tenth_of_the_teacher(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=120)
    teacher = _teacher(tmp_path / "ws", data)
    assert sized_preset(teacher, "hashed") == "tiny"  # a toy teacher: the smallest
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
        "import sys; from models.engine.distillation import sized_preset, student_config, teacher_run; "
        f"c = student_config({str(tmp_path / 'ws')!r}, {teacher.id!r}); "
        f"p = sized_preset(teacher_run({str(tmp_path / 'ws')!r}, {teacher.id!r}), 'hashed'); "
        "print(c.model.kind, p, 'keras' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.stdout.split() == ["linear", "small", "False"], done.stderr[-2000:]


def test_students_and_hashed_bags_keep_their_best_validation_macro_f1():
    config = RunConfig(task="classifier")
    config.model.kind = "hashed"
    assert selected_by(config, None) == "val_macro_f1"
    config.model.kind = "bag"
    assert selected_by(config, None) is None  # the classifier's own choice: the validation loss
    config.distill.teacher = "teacher-run"
    assert selected_by(config, None) == "val_macro_f1"


def test_cli_distill_a_linear_teacher_into_its_heaviest_ngrams(tmp_path):
    data = make_sentiment_csv(tmp_path / "reviews.csv", rows=160)
    teacher = _teacher(tmp_path / "ws", data)
    argv = ["--workspace", str(tmp_path / "ws"), "distill", "--from", teacher.id]  # the default student
    argv += ["--distill-alpha", "0.8", "--max-ngrams", "80", "--quiet"]
    assert main(argv) == 0
    summary = next(s for s in list_runs(tmp_path / "ws") if s.id != teacher.id)
    student = RunDir(summary.path)
    config = student.config()
    assert config.distill.teacher == teacher.id and config.distill.alpha == 0.8
    assert (config.model.kind, config.tokenizer.kind) == ("linear", "ngrams")
    assert config.data.path == str(data)
    assert summary.state == "completed" and summary.lineage_text.startswith("distilled from")
    # Its n-grams: the teacher's with the longest class-weight rows, as many as asked.
    rows = get_backbone(load_keras_model(teacher.model_path, compile=False))
    norms = np.linalg.norm(rows.get_layer(TOKEN_EMBEDDING_NAME).embeddings.numpy(), axis=1)
    vocab = load_tokenizer(teacher.tokenizer_dir).vocabulary
    kept = load_tokenizer(student.tokenizer_dir).vocabulary[count_tokens_end() :]
    assert len(kept) == config.tokenizer.max_ngrams == 80
    heaviest = sorted(range(count_tokens_end(), len(vocab)), key=lambda i: -norms[i])[: len(kept)]
    assert set(kept) == {vocab[i] for i in heaviest}
    assert student.eval_report()["teacher"]["student_share_of_teacher_macro_f1"] > 0.75


def test_a_linear_students_float32_file_is_a_tenth_of_its_teachers():
    for teacher_params, classes in [(412_896, 2), (13_637_304, 43), (2_000_000, 5)]:
        n = linear_student_ngrams(teacher_params, classes)
        student_params = (count_tokens_end() + n) * (classes + 3) + classes * (classes + 1)
        assert 4 * student_params + TFLITE_OVERHEAD_BYTES <= 0.1 * (
            4 * teacher_params + TFLITE_OVERHEAD_BYTES
        )
        assert 4 * student_params + TFLITE_OVERHEAD_BYTES > 0.099 * (
            4 * teacher_params + TFLITE_OVERHEAD_BYTES
        )
    assert linear_student_ngrams(5_000, 2) == MIN_STUDENT_NGRAMS
