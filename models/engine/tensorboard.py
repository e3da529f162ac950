"""A TensorBoard copy of a run's metrics.jsonl: the same step and epoch records, through tf.summary."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterable, Mapping
from typing import Any

from models.run_dir import RunDir

FOLDER = (
    "tensorboard"  # workspace/runs/<id>/tensorboard: `tensorboard --logdir workspace/runs` lists every run
)
# Record fields that are positions or bookkeeping, not curves.
_NOT_SCALARS = frozenset({"kind", "step", "epoch", "elapsed_s", "eta_s", "total_steps"})


def scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """TensorBoard tag -> value for one metrics.jsonl record: step records under train/, epoch records under
    epoch/ (training averages) and validation/ (the val_ fields); events and non-numbers give nothing."""
    kind = record.get("kind")
    if kind not in ("step", "epoch"):
        return {}
    out = {}
    for key, value in record.items():
        if key in _NOT_SCALARS or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not math.isfinite(value):
            continue
        if kind == "step":
            out[f"train/{key}"] = float(value)
        elif key.startswith("val_"):
            out[f"validation/{key[4:]}"] = float(value)
        else:
            out[f"epoch/{key}"] = float(value)
    return out


class TensorBoardWriter:
    """Writes each record as it is logged, at its global step, so TensorBoard's x-axis is the app's."""

    def __init__(self, run: RunDir, replay: Iterable[Mapping[str, Any]] = ()) -> None:
        """Start the run's event files afresh and replay ``replay`` (on resume: the records kept in
        metrics.jsonl, which was cut back to the checkpoint), so the copy never holds steps the run redid."""
        import tensorflow as tf  # the standard writer; TensorFlow is installed for tf.data on every backend

        self._tf = tf
        folder = run.path / FOLDER
        shutil.rmtree(folder, ignore_errors=True)
        self._writer = tf.summary.create_file_writer(str(folder))
        for record in replay:
            self.write(record, flush=False)
        self._writer.flush()

    def write(self, record: Mapping[str, Any], *, flush: bool = True) -> None:
        values = scalars(record)
        if not values:
            return
        with self._writer.as_default():
            for tag, value in values.items():
                self._tf.summary.scalar(tag, value, step=int(record.get("step", 0)))
        if flush:  # a record every log_every steps: cheap, and TensorBoard sees a live run
            self._writer.flush()

    def close(self) -> None:
        self._writer.close()
