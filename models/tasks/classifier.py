"""Text classification: one label per text, from a labelled table (CSV, TSV, JSONL, Parquet)."""

from __future__ import annotations

from typing import Any

import numpy as np

from data.loaders import load_configured
from data.splits import split_frame
from data.stats import describe
from models.config import RunConfig
from models.run_dir import RunDir
from models.tasks.label_metrics import classification_metrics
from models.tasks.preparation import checked_labels, held_out_set, prepared, tokenizer_for
from models.tasks.spec import CLASSIFY, HEAD_POOLED, PreparedData, TaskSpec
from models.tasks.tfidf_baseline import tfidf_logreg


def prepare(config: RunConfig, run: RunDir, tokenizer: Any | None) -> PreparedData:
    """Stratified splits, a tokenizer learnt on the training texts, ``[BOS] + text`` rows cut to seq_len."""
    # TensorFlow loads when data is prepared, not when the task registry is read.
    from data.pipelines import IN_ORDER, EpochOrder, classification_dataset, pack_for_classification

    d, t, m = config.data, config.train, config.model
    loaded = load_configured(d, need_labels=True)
    splits = split_frame(loaded.frame, d.val_fraction, d.test_fraction, seed=d.seed, stratify=True)
    labels = checked_labels(config, run, loaded.frame["label"].unique().tolist(), loaded.source)
    tokenizer = tokenizer_for(config, run, splits.train["text"].tolist(), tokenizer)
    label_index = {label: i for i, label in enumerate(labels)}

    def encode(frame: Any) -> tuple[np.ndarray, np.ndarray, int]:
        ids, truncated = pack_for_classification(tokenizer, frame["text"].tolist(), m.seq_len)
        y = np.asarray([label_index[label] for label in frame["label"]], dtype=np.int32)
        return ids, y, truncated

    (tr_x, tr_y, tr_cut), (va_x, va_y, va_cut), (te_x, te_y, te_cut) = (
        encode(s) for s in (splits.train, splits.val, splits.test)
    )

    def train_factory(epoch: int) -> Any:
        return classification_dataset(tr_x, tr_y, t.batch_size, EpochOrder(seed=t.seed, epoch=epoch))

    def eval_set(x: np.ndarray, y: np.ndarray) -> Any | None:
        return held_out_set(len(x), lambda: classification_dataset(x, y, t.batch_size, IN_ORDER))

    truncated = tr_cut + va_cut + te_cut
    warnings = list(loaded.warnings) + list(splits.warnings)
    if truncated:
        warnings.append(
            f"{truncated} of {len(loaded.frame)} texts were longer than the model's sequence length "
            f"({m.seq_len} tokens) and were truncated; raise seq_len to keep more of each text."
        )
    report = {
        "stats": describe(loaded),
        "warnings": warnings,
        "rows": {"train": len(tr_x), "val": len(va_x), "test": len(te_x)},
        "truncated": truncated,
        "labels": labels,
        "vocab_size": tokenizer.vocab_size,
    }
    test_x, test_y = (te_x, te_y) if len(te_x) else (va_x, va_y)
    test_texts = splits.test if len(te_x) else splits.val
    texts = {
        "train": (splits.train["text"].tolist(), tr_y),
        "val": (splits.val["text"].tolist(), va_y),
        "test": (test_texts["text"].tolist(), test_y),
    }
    return prepared(
        config,
        train_factory,
        tokenizer,
        val=eval_set(va_x, va_y),
        test=eval_set(test_x, test_y),
        labels=labels,
        test_arrays=(test_x, test_y),
        val_arrays=(va_x, va_y),
        train_arrays=(tr_x, tr_y),
        texts=texts,
        report=report,
    )


def validate(model: Any, data: PreparedData) -> dict[str, float]:
    """Macro-F1 on the validation split: the curve beside the loss (each epoch) and what a search ranks by."""
    val_x, val_y = data.val_arrays
    predictions = np.argmax(model.predict(val_x, batch_size=128, verbose=0), axis=-1)
    return {"val_macro_f1": classification_metrics(val_y, predictions, data.labels)["macro_f1"]}


def evaluate(model: Any, data: PreparedData, run: RunDir) -> dict[str, Any]:
    """Label metrics on the test split, and a TF-IDF + logistic-regression baseline fitted on the same
    training split, so a user sees at once whether the neural model earns its keep."""
    x, y = data.test_arrays
    logits = model.predict(x, batch_size=128, verbose=0)
    predictions = np.argmax(logits, axis=-1)
    report = {**classification_metrics(y, predictions, data.labels), "split": "test"}
    if data.val_arrays is not None and len(data.val_arrays[0]):  # what a search ranks by (never the test)
        report.update(validate(model, data), val_rows=len(data.val_arrays[1]))
    if data.texts is not None:
        baseline = tfidf_logreg(data.texts["train"], data.texts["val"], data.texts["test"], data.labels)
        report["baseline"] = baseline
        if "macro_f1" in baseline:
            report["macro_f1_over_baseline"] = report["macro_f1"] - baseline["macro_f1"]
    return report


SPEC = TaskSpec(
    name="classifier",
    label="Classifier",
    summary="one label per text, from a labelled table",
    prepare=prepare,
    evaluate=evaluate,
    head=HEAD_POOLED,
    headline=("macro_f1", "accuracy"),
    order=10,
    default=True,
    labelled=True,
    finetune_label="Fine-tune a classifier from a run",
    interface=CLASSIFY,
    exportable=True,
    validate=validate,  # scores only: early stopping and the best checkpoint still follow the val loss
)
