"""Every run's TensorBoard copy: the event files hold metrics.jsonl's curves, read back by TensorBoard's reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.engine.tensorboard import FOLDER, scalars
from models.run_dir import RunDir

pytestmark = pytest.mark.backend


def tensorboard_scalars(run: RunDir) -> dict[str, list[tuple[int, float]]]:
    """Tag -> (step, value) pairs, as `tensorboard --logdir` loads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    events = EventAccumulator(str(run.path / FOLDER), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    out = {}
    for tag in events.Tags()["tensors"]:  # tf.summary.scalar (TF2) is stored as a tensor summary
        out[tag] = [(e.step, float(make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]
    return out


def expected_scalars(run: RunDir) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for record in run.metrics():
        for tag, value in scalars(record).items():
            out.setdefault(tag, []).append((int(record["step"]), value))
    return out


def assert_same_curves(run: RunDir) -> dict[str, list[tuple[int, float]]]:
    """The event files hold exactly metrics.jsonl's points (float32 in TensorBoard); returns them."""
    found, wanted = tensorboard_scalars(run), expected_scalars(run)
    assert set(found) == set(wanted)
    for tag, points in wanted.items():
        assert [s for s, _ in found[tag]] == [s for s, _ in points], tag
        assert [v for _, v in found[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag
    return found


def test_records_map_to_tags():
    step = {"kind": "step", "step": 4, "epoch": 1, "loss": 0.5, "learning_rate": 1e-3, "eta_s": None}
    assert scalars(step) == {"train/loss": 0.5, "train/learning_rate": 1e-3}
    epoch = {"kind": "epoch", "step": 8, "epoch": 1, "elapsed_s": 3.0, "loss": 0.4, "val_loss": 0.6}
    assert scalars({**epoch, "val_entity_f1": 0.25}) == {
        "epoch/loss": 0.4,
        "validation/loss": 0.6,
        "validation/entity_f1": 0.25,
    }
    assert scalars({"kind": "event", "event": "resumed", "step": 3}) == {}
    assert scalars({"kind": "step", "step": 1, "loss": float("nan")}) == {}


def test_a_run_writes_its_curves_for_tensorboard(tmp_path: Path, sentiment_csv):
    from models.engine.train import train
    from tests.models.test_engine import tiny_config

    run = train(tiny_config(tmp_path, sentiment_csv, "classifier", epochs=2))
    assert run.status()["state"] == "completed"
    found = assert_same_curves(run)
    assert {"train/loss", "epoch/loss", "validation/loss"} <= set(found)
    assert len(found["validation/loss"]) == 2  # one point per epoch, at the step it was measured
    # What `tensorboard --logdir workspace/runs` loads: one TensorBoard run per engine run, with its scalars.
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    board = EventMultiplexer().AddRunsFromDirectory(str(run.path.parent))
    board.Reload()
    assert list(board.Runs()) == [f"{run.id}/{FOLDER}"]
    assert "train/loss" in board.Runs()[f"{run.id}/{FOLDER}"]["tensors"]
