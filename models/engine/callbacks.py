"""Keras callbacks of the engine: live metrics, stop on request, NaN guard, periodic checkpoints, progress bar."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import keras

from models.run_dir import RunDir


class EngineMonitor(keras.callbacks.Callback):
    """Counts global steps across fit calls and, after each step, logs, checks for NaN and for a stop request.

    One callback rather than several because all of them need the same global step and timing.
    """

    def __init__(
        self,
        run: RunDir,
        *,
        start_step: int,
        total_steps: int,
        tokens_per_batch: int,
        log_every: int,
        checkpoint_every: int,
        save_checkpoint: Callable[[int], None],
        started_at: float,
        elapsed_before: float = 0.0,
        time_budget_s: float | None = None,
        tensorboard: Any | None = None,
    ) -> None:
        super().__init__()
        self.run = run
        self.tensorboard = tensorboard  # a models.engine.tensorboard.TensorBoardWriter, or None
        self.step = start_step
        self.total_steps = total_steps
        self.tokens_per_batch = tokens_per_batch
        self.log_every = max(1, log_every)
        self.checkpoint_every = max(1, checkpoint_every)
        self.save_checkpoint = save_checkpoint
        self.time_budget_s = time_budget_s
        self.started_at = started_at
        self.elapsed_before = elapsed_before
        self.epoch = 0
        self.stop_reason: str | None = None  # "stopped", "budget" or "nan"
        self.failure: str | None = None
        self._fit_start_step = start_step
        self._fit_end_step = total_steps
        # Rate window (time, step); None until the first batch of a fit call has ended, since that batch
        # includes tracing/compiling and the pipeline's warm-up and would make the first ETA wildly off.
        self._window_start: tuple[float, int] | None = None
        self._last_checkpoint_step = start_step
        # The longest wait between two consecutive steps' ends this epoch, the pause before its first step
        # (the last epoch's validation and checkpoints, a new iterator) included: a stall shows up here.
        self._last_step_end: float | None = None
        self._longest_gap = self._longest_gap_less_validation = 0.0
        self._validation_started: float | None = None
        self._validation_since_step = 0.0  # validation time since the last step ended: part of the next gap

    def begin_fit(self, epoch: int, end_step: int | None = None) -> None:
        """A model.fit call starts at the current step for ``epoch`` and ends at ``end_step``."""
        self.epoch = epoch
        self._fit_start_step = self.step
        self._fit_end_step = self.total_steps if end_step is None else end_step
        self._window_start = None

    @property
    def fit_finished(self) -> bool:
        """Whether the current fit call ran all its steps (a stop on its last step still finishes it)."""
        return self.step >= self._fit_end_step

    def elapsed(self) -> float:
        return self.elapsed_before + (time.time() - self.started_at)

    def _train_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        # Keras names an execution's last batch as if it ran every one of its steps_per_execution steps,
        # past the end of the fit's data on its last execution: count no further than the fit's data goes.
        previous, self.step = self.step, min(self._fit_start_step + batch + 1, self._fit_end_step)
        loss = float(logs.get("loss", float("nan")))
        if not math.isfinite(loss):
            self._fail(f"the training loss became {loss} at step {self.step}")
            return
        # With steps_per_execution > 1 Keras calls back once per execution: log when a multiple was crossed.
        if self.step // self.log_every > previous // self.log_every or self.step >= self.total_steps:
            self._log_step(loss, logs)
        if self.run.stop_requested():
            self.stop_reason = "stopped"
        elif self.time_budget_s is not None and self.elapsed() >= self.time_budget_s:
            self.stop_reason = "budget"
        checkpoint_due = self.step - self._last_checkpoint_step >= self.checkpoint_every
        # The loss is measured before the step's update, so the weights about to be saved (here, or by the
        # engine after a stop) can already be NaN/inf while the loss still looks fine: never save those.
        if (checkpoint_due or self.stop_reason) and not self._weights_finite():
            self._fail(f"the model weights became NaN or infinite at step {self.step}")
            return
        if self.stop_reason:
            self.model.stop_training = True
            return
        if checkpoint_due:
            self.save_checkpoint(self.step)
            self._last_checkpoint_step = self.step

    def _fail(self, what: str) -> None:
        """Stop the run as failed: the engine then keeps the last checkpoint, which predates this step."""
        self.stop_reason = "nan"
        kept = self._last_checkpoint_step
        saved = (
            f"the last good checkpoint (step {kept}) was kept" if kept else "no checkpoint had been written"
        )
        self.failure = (
            f"{what}; the run was stopped and {saved}. What to do: lower the learning rate "
            f"(now {self.model_learning_rate():.3g}), keep gradient clipping on, or use float32 precision."
        )
        self.model.stop_training = True

    def _weights_finite(self) -> bool:
        return all(bool(keras.ops.all(keras.ops.isfinite(w))) for w in self.model.weights)

    def record(self, record: dict[str, Any]) -> None:
        """Log a record made outside Keras' fit (the linear kind's closed-form fit) like the monitor's own."""
        self.step = max(self.step, int(record.get("step", self.step)))
        self._log(record)

    def _log(self, record: dict[str, Any]) -> None:
        self.run.log_metrics(record)
        if self.tensorboard is not None:
            self.tensorboard.write(record)

    def mark_checkpoint(self, step: int) -> None:
        self._last_checkpoint_step = step

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.stop_reason != "nan" and not self._weights_finite():  # the engine checkpoints after this
            self._fail(f"the model weights became NaN or infinite by the end of epoch {epoch + 1}")
        if self.stop_reason == "nan":
            return
        # Keras still validates and ends the epoch after a stop; a user stop mid-epoch measures nothing
        # (the resumed run logs this epoch when it really ends: one validation point per epoch).
        if self.stop_reason == "stopped" and not self.fit_finished:
            return
        record = {
            "kind": "epoch",
            "step": self.step,
            "epoch": epoch + 1,
            "elapsed_s": round(self.elapsed(), 3),
            "longest_step_gap_s": round(self._longest_gap, 3),
            "longest_step_gap_less_validation_s": round(self._longest_gap_less_validation, 3),
        }
        self._longest_gap = self._longest_gap_less_validation = 0.0
        record.update({k: _num(v) for k, v in (logs or {}).items()})
        self._log(record)

    def model_learning_rate(self) -> float:
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except Exception:  # some optimizers wrap the schedule; the figure is informative only
            return float("nan")

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._validation_started = time.perf_counter()

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._validation_started is not None:
            self._validation_since_step += time.perf_counter() - self._validation_started
            self._validation_started = None

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.perf_counter()
        if self._last_step_end is not None:  # the run's (or resume's) first step compiles: not a stall
            gap = now - self._last_step_end
            self._longest_gap = max(self._longest_gap, gap)
            self._longest_gap_less_validation = max(
                self._longest_gap_less_validation, gap - self._validation_since_step
            )
        self._last_step_end, self._validation_since_step = now, 0.0
        self._train_batch_end(batch, logs or {})
        if self._window_start is None:  # the fit call's first batch: the rate is measured from here on
            self._window_start = (time.perf_counter(), self.step)

    def _log_step(self, loss: float, logs: dict[str, Any]) -> None:
        now = time.perf_counter()
        t0, s0 = self._window_start or (now, self.step)
        steps = self.step - s0
        rate = steps / (now - t0) if now > t0 and steps > 0 else 0.0
        remaining = max(0, self.total_steps - self.step)
        record = {
            "kind": "step",
            "step": self.step,
            "epoch": self.epoch + 1,
            "loss": loss,
            "learning_rate": self.model_learning_rate(),
            "tokens_per_s": round(rate * self.tokens_per_batch, 1),
            "steps_per_s": round(rate, 3),
            "elapsed_s": round(self.elapsed(), 3),
            "eta_s": round(remaining / rate, 1) if rate > 0 else None,
            "total_steps": self.total_steps,
        }
        record.update({k: _num(v) for k, v in logs.items() if k != "loss"})
        self._log(record)
        status = {"step": self.step, "epoch": self.epoch + 1, "loss": loss}
        if record["eta_s"] is not None:  # unmeasured (first batch of a fit call): keep the last estimate
            status["eta_s"] = record["eta_s"]
        self.run.write_status(**status)
        if self._window_start is not None:
            self._window_start = (now, self.step)


class ValidationScores(keras.callbacks.Callback):
    """Adds a task's own validation scores (TaskSpec.validate) to each epoch's logs, before the engine's
    monitor writes them to metrics.jsonl; listed first so every later callback sees them."""

    def __init__(self, score: Callable[[Any], dict[str, float]]) -> None:
        super().__init__()
        self.score = score

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None and "val_loss" in logs:  # an epoch whose validation pass ran
            logs.update(self.score(self.model))


class ProgressBar(keras.callbacks.Callback):
    """A tqdm bar over all steps of the run (CLI), with ETA; resumes at the restored step."""

    def __init__(self, total_steps: int, start_step: int) -> None:
        super().__init__()
        from tqdm import tqdm

        self.bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True)
        self._last_batch = -1

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._last_batch = -1  # batch indices restart with every epoch (and every fit call)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.bar.update(batch - self._last_batch)  # batch: the last step of the execution
        self._last_batch = batch
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs and "val_loss" in logs:
            self.bar.write(f"epoch {epoch + 1}: " + ", ".join(f"{k}={float(v):.4f}" for k, v in logs.items()))

    def close(self) -> None:
        self.bar.close()


def _num(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
