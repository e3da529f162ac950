"""Evaluation reports: perplexity and token accuracy for LMs; accuracy, per-class P/R/F1, confusion for classifiers;
entity-level P/R/F1 for taggers."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from data.conll import OUTSIDE, entity_spans
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


@register("causal_lm")
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


@register("masked_lm")
def evaluate_masked_lm(model: Any, prepared: Any, run: RunDir) -> dict[str, Any]:
    """Cross-entropy, perplexity and accuracy over the masked positions only (fixed masks on held-out text).

    Computed here rather than by model.evaluate, whose per-batch means would weigh a batch with few
    masked tokens like one with many."""
    if prepared.test is None:
        return {"note": "no held-out text to evaluate on"}
    total_nll, correct, count = 0.0, 0, 0
    for x, y, weight in prepared.test.as_numpy_iterator():
        selected = weight > 0
        if not selected.any():
            continue
        logits = np.asarray(model.predict_on_batch(x), dtype=np.float64)[selected]
        targets = y[selected]
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        total_nll -= float(log_probs[np.arange(len(targets)), targets].sum())
        correct += int((logits.argmax(axis=-1) == targets).sum())
        count += int(len(targets))
    if count == 0:
        return {"note": "the held-out text has no maskable tokens"}
    loss = total_nll / count
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),
        "token_accuracy": correct / count,
        "masked_tokens": count,
        "split": "test",
    }


@register("token_classifier")
def evaluate_token_classifier(model: Any, prepared: Any, run: RunDir) -> dict[str, Any]:
    """Entity-level (exact span and type) precision/recall/F1 on the test sentences, plus word accuracy."""
    ids, _, weights = prepared.test_arrays
    predictions = np.argmax(model.predict(ids, batch_size=128, verbose=0), axis=-1)
    labels = prepared.labels
    predicted: list[list[str]] = []
    for row, gold in zip(range(len(ids)), prepared.test_tags, strict=True):
        tags = [labels[k] for k in predictions[row][weights[row] > 0]]
        predicted.append(tags + [OUTSIDE] * (len(gold) - len(tags)))  # words cut by seq_len: predicted O
    return {**entity_metrics(prepared.test_tags, predicted), "split": "test"}


def entity_metrics(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, Any]:
    """seqeval-style scores: an entity counts as found only when its span and type match exactly.

    ``entity_precision/recall/f1`` are micro-averaged over entities (seqeval's default); per-type scores
    and their unweighted mean (``entity_macro_f1``) too; ``word_accuracy`` over all words."""
    true_spans = {(i, *span) for i, tags in enumerate(gold) for span in entity_spans(tags)}
    pred_spans = {(i, *span) for i, tags in enumerate(predicted) for span in entity_spans(tags)}
    kinds = sorted({s[1] for s in true_spans | pred_spans})

    def prf(true: set, pred: set) -> dict[str, float]:
        hits = len(true & pred)
        p = hits / len(pred) if pred else 0.0
        r = hits / len(true) if true else 0.0
        return {
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "support": len(true),
        }

    per_type = {
        kind: prf({s for s in true_spans if s[1] == kind}, {s for s in pred_spans if s[1] == kind})
        for kind in kinds
    }
    overall = prf(true_spans, pred_spans)
    words = sum(len(tags) for tags in gold)
    right = sum(g == p for gs, ps in zip(gold, predicted, strict=True) for g, p in zip(gs, ps, strict=True))
    supported = [v["f1"] for v in per_type.values() if v["support"]]
    return {
        "entity_precision": overall["precision"],
        "entity_recall": overall["recall"],
        "entity_f1": overall["f1"],
        "entity_macro_f1": float(np.mean(supported)) if supported else 0.0,
        "entities": overall["support"],
        "predicted_entities": len(pred_spans),
        "word_accuracy": right / words if words else 0.0,
        "per_type": per_type,
        "sentences": len(gold),
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
