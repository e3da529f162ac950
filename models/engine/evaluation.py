"""Evaluate a run on its held-out split with its task's evaluator and write eval.json."""

from __future__ import annotations

from typing import Any

from data.fileio import atomic_write_json
from data.tokenizers import load_tokenizer
from models import tasks
from models.engine.compile import recompile
from models.engine.pruning import record_sparsity
from models.engine.safe_load import load_keras_model
from models.run_dir import RunDir


def evaluate_run(run: RunDir, model: Any, prepared: tasks.PreparedData) -> dict[str, Any]:
    """Evaluate ``model`` on the run's held-out split; write ``eval.json`` with the task's headline metrics."""
    config = run.config()
    spec = tasks.get(config.task)
    report = spec.evaluate(model, prepared, run)
    if config.distill.teacher:  # a student beside its teacher, on the same test texts
        from models.engine.distillation import teacher_report

        report["teacher"] = teacher_report(config, model, prepared)
    headline = {k: report[k] for k in spec.headline if k in report}
    report = {"task": config.task, "run": run.id, **report, "headline": headline}
    report["params"] = int(model.count_params())  # the size beside the score (distillation, the Export table)
    pruned = record_sparsity(run, model, config)  # a pruning run: the sparsity this model reached
    if pruned is not None:
        report["pruning"] = pruned
    if headline:  # json files sort their keys: name the main metric, not only the set
        report["headline_metric"] = next(iter(headline))
    atomic_write_json(run.eval_path, report)
    return report


def evaluate_saved_run(run: RunDir) -> dict[str, Any]:
    """Re-evaluate a finished run from disk (CLI `evaluate`): same split, same tokenizer."""
    config = run.config()
    prepared = tasks.prepare(config, run, load_tokenizer(run.tokenizer_dir))
    model = load_keras_model(run.trained_model, compile=False)
    recompile(model, config, optimizer="adam")
    return evaluate_run(run, model, prepared)
