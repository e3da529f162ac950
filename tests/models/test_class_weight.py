"""Class weighting: balanced weights from the training split's counts, used by Keras fits and liblinear."""

from __future__ import annotations

import random
from pathlib import Path

import keras
import numpy as np
import pytest

from models.engine.train import class_weights, train
from models.tasks.spec import PreparedData
from tests.models.test_engine import tiny_config


def _imbalanced_csv(path: Path, rows: int = 400, rare_share: float = 0.1, seed: int = 0) -> Path:
    """Two classes, one rare, whose words overlap: the common class wins every doubt unless weighted."""
    rng = random.Random(seed)
    common, rare, shared = ["alpha", "beta", "gamma"], ["delta", "omega"], ["one", "two", "three", "four"]
    lines = ["text,label"]
    for i in range(rows):
        is_rare = i % round(1 / rare_share) == 0
        own = rare if is_rare else common
        words = [rng.choice(shared) for _ in range(6)] + [rng.choice(own)] * (1 if rng.random() < 0.6 else 0)
        crossing = 0.3 if is_rare else 0.05  # a common word in a rare text is usual; the reverse is not
        words += [rng.choice(common if is_rare else rare)] if rng.random() < crossing else []
        rng.shuffle(words)
        lines.append(f"{' '.join(words)},{'rare' if is_rare else 'common'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _prepared(labels: list[str], ids: list[int]) -> PreparedData:
    return PreparedData(
        train_factory=lambda epoch: None, val=None, test=None, batches_per_pass=1, tokens_per_batch=1,
        tokenizer=None, labels=labels, texts={"train": (["t"] * len(ids), ids)},
    )  # fmt: skip


def test_balanced_weights_are_n_over_classes_times_count(tmp_path):
    config = tiny_config(tmp_path, tmp_path / "x.csv", "classifier")
    prepared = _prepared(["a", "b", "c"], [0] * 6 + [1] * 3 + [2] * 3)
    assert class_weights(config, prepared) is None  # off unless asked
    config.train.class_weight = "balanced"
    assert class_weights(config, prepared) == {0: 12 / 18, 1: 12 / 9, 2: 12 / 9}


@pytest.mark.backend
def test_a_weighted_neural_classifier_trains(tmp_path):
    data = _imbalanced_csv(tmp_path / "imbalanced.csv")
    config = tiny_config(tmp_path, data, "classifier", epochs=2, class_weight="balanced")
    config.backend = keras.backend.backend()
    run = train(config)
    assert run.status()["state"] == "completed", run.status()
    assert run.eval_report()["per_class"]["rare"]["support"] > 0


def test_balanced_liblinear_finds_more_of_the_rare_class():
    from models.engine.liblinear_grid import fit_grid

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 8))
    y = (x[:, 0] + rng.normal(scale=1.5, size=1000) > 2.2).astype(np.int64)  # about 1 in 10, weakly signalled
    recall = {}
    for balanced in (False, True):
        ((kernel, bias),) = fit_grid(x, y, 2, [1.0], balanced=balanced)
        predicted = np.argmax(x @ kernel + bias, axis=1)
        recall[balanced] = float((predicted[y == 1] == 1).mean())
    assert recall[True] > recall[False] + 0.2, recall


def test_liblinear_fits_soft_targets_as_weighted_rows():
    """Soft targets that are one-hot give the hard fit; a target of 1/2 everywhere gives no preference."""
    from scipy.sparse import csr_matrix

    from models.engine.liblinear_grid import fit_grid

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)  # three classes
    ((hard_kernel, hard_bias),) = fit_grid(x, y, 3, [1.0])
    ((soft_kernel, soft_bias),) = fit_grid(csr_matrix(x), y, 3, [1.0], soft=np.eye(3)[y])
    np.testing.assert_allclose(soft_kernel, hard_kernel, atol=1e-4)
    np.testing.assert_allclose(soft_bias, hard_bias, atol=1e-4)
    ((flat_kernel, flat_bias),) = fit_grid(x, y, 3, [1.0], soft=np.full((300, 3), 0.5))
    assert np.abs(flat_kernel).max() < 0.05 and np.abs(flat_bias).max() < 0.05
