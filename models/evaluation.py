"""Evaluation reports: perplexity and token accuracy for LMs; accuracy, per-class P/R/F1, confusion for classifiers."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from data.fileio import atomic_write_json
from models.run_dir import RunDir

Evaluator = Callable[[Any, Any, RunDir], dict[str, Any]]
EVALUATORS: dict[str, Evaluator] = {}


def register(*tasks: str) -> Callable[[Evaluator], Evaluator]:
    def wrap(fn: Evaluator) -> Evaluator:
        for task in tasks:
            EVALUATORS[task] = fn
        return fn

    return wrap


def evaluate_run(run: RunDir, model: Any, prepared: Any) -> dict[str, Any]:
    """Evaluate ``model`` on the run's held-out split and write ``eval.json``."""
    config = run.config()
    report = EVALUATORS[config.task](model, prepared, run)
    report = {"task": config.task, "run": run.id, **report}
    atomic_write_json(run.eval_path, report)
    return report


def evaluate_saved_run(run: RunDir) -> dict[str, Any]:
    """Re-evaluate a finished run from disk (CLI `evaluate`): same split, same tokenizer."""
    from data.tokenizers import load_tokenizer
    from models.safe_load import load_keras_model
    from models.tasks import prepare

    config = run.config()
    prepared = prepare(config, run, load_tokenizer(run.tokenizer_dir))
    source = run.model_path if run.model_path.exists() else run.last_checkpoint
    model = load_keras_model(source, compile=False)
    from models.train import recompile

    recompile(model, config, optimizer="adam")
    return evaluate_run(run, model, prepared)


@register("causal_lm", "masked_lm")
def evaluate_language_model(model: Any, prepared: Any, run: RunDir) -> dict[str, Any]:
    if prepared.test is None:
        return {"note": "no held-out text to evaluate on"}
    results = model.evaluate(prepared.test, return_dict=True, verbose=0)
    loss = float(results["loss"])
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),
        "token_accuracy": float(results.get("accuracy", float("nan"))),
        "split": "test",
    }


@register("classifier")
def evaluate_classifier(model: Any, prepared: Any, run: RunDir) -> dict[str, Any]:
    x, y = prepared.test_arrays
    logits = model.predict(x, batch_size=128, verbose=0)
    predictions = np.argmax(logits, axis=-1)
    return {**classification_metrics(y, predictions, prepared.labels), "split": "test"}


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro and weighted F1, confusion matrix (rows = true)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    true_pos = np.diag(confusion).astype(float)
    predicted = confusion.sum(axis=0).astype(float)
    support = confusion.sum(axis=1).astype(float)
    precision = np.divide(true_pos, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(true_pos, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    present = support > 0
    total = max(1, len(y_true))
    return {
        "accuracy": float(true_pos.sum() / total),
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f1 * support).sum() / total),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "labels": list(labels),
        "confusion_matrix": confusion.tolist(),
        "examples": int(len(y_true)),
    }
