"""The training engine: train(config) -> run directory, used by the CLI, the UI and the tests."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
import traceback
from typing import Any

import numpy as np

from data.errors import DataError
from data.fileio import atomic_copy, atomic_path, atomic_write_json, atomic_write_text, read_jsonl
from models import tasks
from models.config import FITTED_KINDS, RunConfig
from models.engine.compile import compile_model
from models.engine.evaluation import evaluate_run
from models.engine.runtime import (
    apply_precision,
    connect_processes,
    distribution_scope,
    honour_virtual_cpus,
    resolve_precision,
    select_backend,
    tune_malloc,
)
from models.engine.safe_load import load_keras_model
from models.processes import NUM_PROCESSES_ENV, process_shard
from models.run_dir import RunDir


def train(config: RunConfig, *, verbose: bool = False) -> RunDir:
    """Create a run directory for ``config`` and train it to the end (or to a stop request)."""
    run = RunDir.create(config)
    return run_training(run, verbose=verbose)


def resume(run: RunDir, *, verbose: bool = False) -> RunDir:
    """Continue a run from its last checkpoint, keeping its step count and metrics file."""
    return run_training(run, resume=True, verbose=verbose)


def run_training(run: RunDir, *, resume: bool = False, verbose: bool = False) -> RunDir:
    """Train the run in ``run`` in this process; status.json always ends in completed/stopped/failed."""
    if resume:
        require_resumable(run)
    config = run.config()
    select_backend(config.backend)
    if config.distribution != "none":
        honour_virtual_cpus()
    tune_malloc()
    if resume:  # a process killed mid-write leaves its temp files; the checkpoints themselves are whole
        run.remove_stale_temp_files()
    run.clear_stop()
    run.write_status(
        state="running", message="preparing data", pid=os.getpid(), started=time.time(), eta_s=None
    )
    try:
        _fit(run, config, resume=resume, verbose=verbose)
    except DataError as err:
        run.write_status(state="failed", message=str(err), pid=None)
        raise
    except KeyboardInterrupt:
        run.write_status(
            state="stopped", message="interrupted (Ctrl-C); resume continues from the last checkpoint"
        )
        raise
    except Exception as err:
        run.write_status(state="failed", message=f"{type(err).__name__}: {err}", pid=None)
        (run.path / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
        raise
    return run


def require_resumable(run: RunDir) -> None:
    """Refuse to resume a completed run unless its config.json now asks for more (a higher ``train.epochs``
    or ``train.max_steps``): otherwise it would only evaluate again and rewrite a finished run's history."""
    status = run.status()
    if status.get("state") != "completed":
        return
    t = run.config().train
    done = status.get("trained_for") or {"epochs": _epochs_done(run), "max_steps": t.max_steps}

    def limit(steps: int | None) -> float:
        return math.inf if steps is None else steps

    if t.epochs > int(done["epochs"]) or limit(t.max_steps) > limit(done["max_steps"]):
        return  # "train N more epochs": the run continues from its last checkpoint
    raise DataError(
        f"run '{run.id}' is completed: there is nothing to resume, and resuming would rewrite its history.",
        hint=f"To train longer, raise train.epochs in {run.config_path} and resume, or start a new run "
        f"with its settings (python -m app train --config {run.config_path} --epochs N); Resume is for "
        "stopped or interrupted runs.",
    )


def _epochs_done(run: RunDir) -> int:
    """The last epoch a run's metrics record (runs completed before ``trained_for`` was saved)."""
    return max((int(r.get("epoch", 0)) for r in run.metrics() if r.get("kind") == "epoch"), default=0)


def _fit(run: RunDir, config: RunConfig, *, resume: bool, verbose: bool) -> None:
    import keras

    from models.engine import distillation, lineage, pruning
    from models.engine.callbacks import EngineMonitor, ProgressBar, ValidationScores
    from models.engine.tensorboard import TensorBoardWriter

    if process_shard(config).count > 1:  # before anything asks JAX for its devices
        if not tasks.get(config.task).spans_processes:
            raise DataError(
                f"a {config.task} run cannot span several processes: only "
                f"{', '.join(tasks.names(lambda spec: spec.spans_processes))} shards its data per process.",
                hint=f"train it in one process (unset {NUM_PROCESSES_ENV}), on several devices if it has them.",
            )
        connect_processes()
    keras.utils.set_random_seed(config.train.seed)
    policy = resolve_precision(config.precision)
    apply_precision(policy)

    lineage.adopt_pretrained_architecture(config, run)
    base_tokenizer = lineage.pretrained_tokenizer(config) or distillation.student_tokenizer(config)
    prepared = tasks.prepare(config, run, base_tokenizer)
    prepared = distillation.with_teacher(config, run, prepared)  # the teacher's soft labels, when distilling
    _record_data(run, config, prepared)

    t = config.train
    per_epoch = t.steps_per_epoch or prepared.batches_per_pass
    total_steps = per_epoch * t.epochs
    if t.max_steps:
        total_steps = min(total_steps, t.max_steps)

    checkpoint = run.last_checkpoint if resume and run.last_checkpoint.exists() else None
    with distribution_scope(config) as replicas:
        if checkpoint is not None:
            model = load_keras_model(checkpoint, compile=True)
            start_step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
            _truncate_metrics(run, start_step)
            run.log_metrics({"kind": "event", "event": "resumed", "step": start_step})
        else:
            model = lineage.initial_model(config, run)
            compile_model(model, config, total_steps)
            start_step = 0
            run.metrics_path.unlink(missing_ok=True)

        state = (run.checkpoint_state() or {}) if checkpoint is not None else {}
        best = state.get("best_val_loss", math.inf)
        best_loss = state.get("best_epoch_val_loss", math.inf)  # breaks a tie of the task's own score
        bad_epochs = int(state.get("epochs_without_improvement", 0))
        # The step whose weights the best checkpoint holds, saved in this process.
        best_step: int | None = None
        elapsed_before = float(state.get("elapsed_s", 0.0))
        started = time.time()

        def save_last(step: int) -> None:
            save_checkpoint(
                model,
                run,
                {
                    "step": step,
                    "best_val_loss": best,
                    "best_epoch_val_loss": best_loss,
                    "epochs_without_improvement": bad_epochs,
                    "elapsed_s": elapsed_before + time.time() - started,
                },
            )

        monitor = EngineMonitor(
            run,
            start_step=start_step,
            total_steps=total_steps,
            tokens_per_batch=prepared.tokens_per_batch,
            log_every=t.log_every,
            checkpoint_every=t.checkpoint_every,
            save_checkpoint=save_last,
            started_at=started,
            elapsed_before=elapsed_before,
            time_budget_s=t.time_budget_s,
            tensorboard=TensorBoardWriter(run, replay=read_jsonl(run.metrics_path) if checkpoint else ()),
        )
        spec = tasks.get(config.task)
        scored = spec.validate is not None and prepared.val_arrays is not None
        select_by = distillation.selected_by(config, spec.select_by) if scored else None
        callbacks: list[Any] = [monitor]
        if scored:  # the task's own scores join each epoch's logs (and its chart), selecting or not
            callbacks.insert(0, ValidationScores(lambda m: spec.validate(m, prepared)))
        # First: the pruning masks are applied before the monitor may save a checkpoint at a batch's end.
        callbacks[:0] = pruning.training_callbacks(model, config, total_steps)
        bar = ProgressBar(total_steps, start_step) if verbose else None
        if bar:
            callbacks.append(bar)
        run.write_status(
            state="running",
            message="training",
            total_steps=total_steps,
            precision=policy,
            replicas=replicas,
            process=list(dataclasses.astuple(process_shard(config))),  # [index, count] of a multi-process run
            backend=keras.backend.backend(),
        )

        step = start_step
        epoch, in_epoch = divmod(step, per_epoch)
        outcome = "completed"
        if config.model.kind in FITTED_KINDS:  # fitted in closed form, once: no epochs to run or resume
            if checkpoint is None:
                if pruning.keeps_fitted_weights(config):  # a fitted run's pruned copy: pruned once, not refit
                    pruning.prune_once(model, config, run)
                else:
                    _fit_closed_form(run, config, model, prepared, monitor, started)
                save_last(total_steps)
            step, epoch = total_steps, t.epochs
        weights = class_weights(config, prepared)
        if step < total_steps and epoch < t.epochs:
            warm_evaluation(model, prepared.val)
        while step < total_steps and epoch < t.epochs:
            lineage.before_epoch(model, config, epoch, total_steps)
            n = min(per_epoch - in_epoch, total_steps - step)
            data = prepared.train_factory(epoch).repeat().skip(in_epoch).take(n)
            monitor.begin_fit(epoch, end_step=step + n)
            history = model.fit(
                data,
                epochs=epoch + 1,
                initial_epoch=epoch,
                validation_data=prepared.val,
                class_weight=weights,
                callbacks=callbacks,
                shuffle=False,  # the pipeline already shuffles, deterministically per epoch
                verbose=0,
            )
            step = monitor.step
            if monitor.stop_reason == "nan":
                run.write_status(state="failed", message=monitor.failure, step=step, pid=None)
                monitor.tensorboard.close()
                if bar:
                    bar.close()
                return
            val_loss = _last(history.history.get("val_loss"))
            score = _last(history.history.get(select_by)) if select_by else None
            # Lower is better: the validation loss, or minus the task's own score where it has one.
            judged = -score if score is not None else val_loss
            # A user stop mid-epoch is not an evaluation point (the epoch is evaluated when it ends).
            epoch_done = monitor.stop_reason in (None, "budget") or monitor.fit_finished
            if judged is not None and epoch_done:
                # A score (macro-F1 on a small validation split) often repeats from epoch to epoch: an equal
                # score with a lower validation loss is the better epoch, not one without improvement.
                loss = val_loss if val_loss is not None else math.inf
                tied = score is not None and judged == best and loss < best_loss
                if judged < best or tied:
                    best, bad_epochs, best_loss = judged, 0, loss
                    best_step = step
                    chosen = {select_by: score} if score is not None else {}
                    run.write_status(best={"val_loss": val_loss, **chosen, "step": step, "epoch": epoch + 1})
                else:
                    bad_epochs += 1
            save_last(step)
            if best_step == step:  # the same weights: a file copy, not a second serialization (~0.2 s)
                atomic_copy(run.last_checkpoint, run.best_checkpoint)
            monitor.mark_checkpoint(step)
            if monitor.stop_reason == "stopped":
                outcome = "stopped"
                break
            if monitor.stop_reason == "budget":
                run.log_metrics({"kind": "event", "event": "time_budget", "step": step, "epoch": epoch + 1})
                break
            if t.early_stopping_patience is not None and bad_epochs >= t.early_stopping_patience:
                run.log_metrics(
                    {"kind": "event", "event": "early_stopping", "step": step, "epoch": epoch + 1}
                )
                break
            epoch, in_epoch = epoch + 1, 0
        monitor.tensorboard.close()
        if bar:
            bar.close()

        if outcome == "stopped":
            run.clear_stop()
            run.write_status(
                state="stopped",
                message=f"stopped at step {step}; resume continues from here",
                step=step,
                pid=None,
            )
            return

        run.write_status(message="evaluating", step=step)
        final = run.best_checkpoint if run.best_checkpoint.exists() else run.last_checkpoint  # best weights
        atomic_copy(final, run.model_path)
        # The model in memory holds the best weights when the last epoch was the best: evaluating it reuses its
        # traced (and XLA-compiled) evaluation step, where a model loaded from the file traces it again (~4 s
        # of a short LM run). Otherwise the best checkpoint is loaded and evaluated.
        in_memory = best_step == step and final == run.best_checkpoint
        evaluated = model if in_memory else load_keras_model(run.model_path, compile=True)
        report = evaluate_run(run, evaluated, prepared)
        trained_for = {"epochs": t.epochs, "max_steps": t.max_steps}  # what require_resumable compares with
        run.write_status(
            state="completed",
            message="done",
            step=step,
            pid=None,
            headline=report["headline"],
            trained_for=trained_for,
        )


def warm_evaluation(model: Any, val: Any | None) -> None:
    """Trace (and XLA-compile) the validation step before the first training step, on the first and the last
    batch, since a partial last batch is a second shape: otherwise the first epoch boundary stalls training
    for the compile (3-4 s of a small LM's XLA step), the same time spent where it holds up nothing."""
    if val is None or not hasattr(val, "cardinality"):  # a tf.data pipeline on every backend
        return
    batches = int(val.cardinality())
    ends = val.take(1) if batches < 2 else val.take(1).concatenate(val.skip(batches - 1))
    model.evaluate(ends, verbose=0)


def class_weights(config: RunConfig, prepared: Any) -> dict[int, float] | None:
    """Keras' class_weight for ``train.class_weight = "balanced"``: n / (classes * count) per class of the
    training split (a classifier's; other tasks' targets are not one label per example)."""
    texts = prepared.texts or {}
    if config.distill.teacher:  # a student's targets are distributions; the teacher's carry the balance
        return None
    if config.train.class_weight != "balanced" or "train" not in texts or not prepared.labels:
        return None
    ids = np.asarray(texts["train"][1], dtype=np.int64)
    classes = len(prepared.labels)
    counts = np.bincount(ids, minlength=classes)
    return {k: float(len(ids) / (classes * n)) if n else 0.0 for k, n in enumerate(counts)}


def _fit_closed_form(
    run: RunDir, config: RunConfig, model: Any, prepared: Any, monitor: Any, started: float
) -> None:
    """Fit the linear kind (models.engine.linear_fit) or the CRF (models.engine.crf_fit); log the fit as the
    run's one epoch and keep it as the best."""
    if config.model.kind == "crf":
        from models.engine.crf_fit import fit_crf

        fit_kind = fit_crf
        message = "fitting the CRF (CRFsuite; L1/L2 and the O shift picked by cross-validation)"
        chosen = ("val_entity_f1", "c1", "c2", "outside_bias", "cv_entity_f1", "features")
    else:
        from models.engine.linear_fit import fit_linear

        fit_kind = functools.partial(fit_linear, balanced=config.train.class_weight == "balanced")
        message = "fitting the linear model (scikit-learn liblinear, C picked on validation)"
        chosen = ("val_macro_f1", "C", "features")
    run.write_status(message=message)
    fit = fit_kind(model, prepared)
    scores = fit.pop("scores")
    record: dict[str, Any] = {"kind": "epoch", "step": monitor.total_steps, "epoch": 1, **scores}
    record.update({key: fit.get(key, scores.get(key)) for key in chosen})
    record["elapsed_s"] = round(time.time() - started, 3)
    monitor.record(record)
    save_checkpoint(model, run, None, path=run.best_checkpoint)
    best = {"val_loss": record.get("val_loss"), chosen[0]: record.get(chosen[0]), "epoch": 1}
    run.write_status(best={**best, "step": monitor.total_steps}, fit=fit)


def save_checkpoint(model: Any, run: RunDir, state: dict[str, Any] | None, path: Any = None) -> None:
    """Write the model (with optimizer state) through a temp file: a kill never leaves half a checkpoint."""
    with atomic_path(path or run.last_checkpoint) as tmp:
        model.save(tmp)
    if state is not None:
        atomic_write_json(run.checkpoint_state_path, state)


def _record_data(run: RunDir, config: RunConfig, prepared: Any) -> None:
    """Fill in the data-dependent model sizes and save labels and the data report beside the config."""
    config.model.vocab_size = prepared.tokenizer.vocab_size
    if config.model.kind == "crf":  # the CRF reads each word's group of feature ids
        config.model.tokens_per_word = len(getattr(prepared.tokenizer, "slots", ())) or 1
    if prepared.labels is not None:
        config.model.num_classes = len(prepared.labels)
        atomic_write_json(run.labels_path, prepared.labels)
    config.save(run.config_path)
    atomic_write_json(run.data_report_path, prepared.report)


def _truncate_metrics(run: RunDir, step: int) -> None:
    """Drop metric lines past the restored checkpoint: that training was lost with the process."""
    kept = [r for r in read_jsonl(run.metrics_path) if int(r.get("step", 0)) <= step]
    atomic_write_text(run.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))


def _last(values: list[float] | None) -> float | None:
    return float(values[-1]) if values else None
