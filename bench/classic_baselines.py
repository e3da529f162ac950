"""Classic baseline vs our classifiers: TF-IDF + logistic regression (scikit-learn) next to the engine's LSTM,
Transformer and pretrained-then-fine-tuned Transformer, on the same stratified split the engine makes.

Every model is scored by the engine's own metric code (models.tasks.label_metrics.classification_metrics) on the test
split that data.splits.split_frame(seed 1337) gives the engine, so the columns are directly comparable.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import SHARED
from models.tasks.tfidf_baseline import C_GRID

DATASETS = {"sms_spam": ("sms_spam.csv", 64), "fortunes": ("fortunes.csv", 128)}  # name -> (file, seq_len)


def load_splits(path: Path, seed: int = 1337) -> Any:
    """Exactly the engine's classifier split: load_dataset, then split_frame(val 0.1, test 0.1, stratified)."""
    from data.loaders import load_dataset
    from data.splits import split_frame
    from models.config import DataConfig

    d = DataConfig()
    loaded = load_dataset(path, need_labels=True)
    return split_frame(loaded.frame, d.val_fraction, d.test_fraction, seed=seed, stratify=True)


def tfidf_logreg(splits: Any) -> dict[str, Any]:
    """The product's own baseline (models.tasks.tfidf_baseline, as in every classifier's eval.json)."""
    from models.tasks.tfidf_baseline import tfidf_logreg as baseline

    labels = sorted(set(splits.train["label"]) | set(splits.val["label"]) | set(splits.test["label"]))
    index = {label: i for i, label in enumerate(labels)}

    def part(frame: Any) -> tuple[list[str], Any]:
        return frame["text"].tolist(), np.asarray([index[v] for v in frame["label"]])

    t0 = time.perf_counter()
    report = baseline(part(splits.train), part(splits.val), part(splits.test), labels)
    return {**report, "wall_s": time.perf_counter() - t0, "test_examples": len(splits.test)}


def classifier_config(
    kind: str, data: Path, seq_len: int, workspace: str, backend: str, budget_s: float
) -> Any:
    """The engine classifier used in this comparison (tiny preset, WordPiece 4k, early stopping, time budget)."""
    from models.config import RunConfig

    config = RunConfig(
        task="classifier", name=f"bench-{data.stem}-{kind}", backend=backend, workspace=workspace
    )
    config.data.path = str(data)
    config.tokenizer.kind = "wordpiece"
    config.tokenizer.vocab_size = 4000
    config.model.kind = "lstm" if kind == "lstm" else "transformer"
    config.model.preset = "tiny"
    config.model.seq_len = seq_len
    config.model.bidirectional = kind == "lstm"
    config.train.epochs = 8
    config.train.batch_size = 32
    config.train.learning_rate = 2e-3
    config.train.early_stopping_patience = 2
    config.train.time_budget_s = budget_s
    return config


def pretrain_config(texts_csv: Path, seq_len: int, workspace: str, backend: str, budget_s: float) -> Any:
    """Masked-LM pretraining of the same tiny Transformer on the classifier's training texts only (no test text)."""
    from models.config import RunConfig

    config = RunConfig(
        task="masked_lm", name=f"bench-{texts_csv.stem}-mlm", backend=backend, workspace=workspace
    )
    config.data.path = str(texts_csv)
    config.data.test_fraction = 0.0
    config.tokenizer.kind = "wordpiece"
    config.tokenizer.vocab_size = 4000
    config.model.kind = "transformer"
    config.model.preset = "tiny"
    config.model.seq_len = seq_len
    config.train.epochs = 20
    config.train.batch_size = 32
    config.train.learning_rate = 2e-3
    config.train.early_stopping_patience = 2
    config.train.time_budget_s = budget_s
    return config


def engine_result(run: Any, wall: float) -> dict[str, Any]:
    report = run.eval_report() or {}
    status = run.status()
    return {"accuracy": report.get("accuracy"), "macro_f1": report.get("macro_f1"), "wall_s": wall,
            "steps": status.get("step"), "state": status.get("state"), "test_examples": report.get("examples"),
            "run": run.id}  # fmt: skip


def engine_runs(name: str, path: Path, seq_len: int, splits: Any, args: argparse.Namespace) -> dict[str, Any]:
    from models.engine.train import train

    workspace = tempfile.mkdtemp(prefix="textlab-baselines-")
    out: dict[str, Any] = {}
    for kind in ("lstm", "transformer"):
        t0 = time.perf_counter()
        run = train(classifier_config(kind, path, seq_len, workspace, args.backend, args.budget_s))
        out[kind] = engine_result(run, time.perf_counter() - t0)
        print(f"  {name} {kind}: {out[kind]}", flush=True)
    out["finetuned"] = finetuned(name, path, seq_len, splits, workspace, args)
    return out


def finetuned(
    name: str, path: Path, seq_len: int, splits: Any, workspace: str, args: argparse.Namespace
) -> Any:
    """Pretrain (masked LM) on the training split's texts, then fine-tune a classifier from that run."""
    from models.engine.train import train

    texts_csv = Path(workspace) / f"{name}_train_texts.csv"
    splits.train[["text"]].to_csv(texts_csv, index=False)
    t0 = time.perf_counter()
    try:
        parent = train(pretrain_config(texts_csv, seq_len, workspace, args.backend, args.budget_s))
        config = classifier_config("transformer", path, seq_len, workspace, args.backend, args.budget_s)
        config.name = f"bench-{name}-finetuned"
        config.finetune.from_run = str(parent.path)
        run = train(config)
    except Exception as err:  # reported in the table: the column says why it is empty
        return {"error": f"{type(err).__name__}: {err}"}
    result = engine_result(run, time.perf_counter() - t0)
    result["pretrain"] = {
        "run": parent.id,
        "steps": parent.status().get("step"),
        "eval": parent.eval_report(),
    }
    print(f"  {name} finetuned: {result}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--budget-s", type=float, default=90.0, help="time budget per engine training run")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend

    from bench import report

    results: dict[str, Any] = {"backend": args.backend, "budget_s": args.budget_s}
    rows = []
    for name in args.datasets.split(","):
        filename, seq_len = DATASETS[name]
        path = SHARED / filename
        if not path.exists():
            print(f"skipping {name}: {path} is missing")
            continue
        splits = load_splits(path)
        baseline = tfidf_logreg(splits)
        print(f"  {name} tf-idf+logreg: {baseline}", flush=True)
        engine = engine_runs(name, path, seq_len, splits, args)
        results[name] = {"tfidf_logreg": baseline, **engine,
                         "split_rows": {k: len(getattr(splits, k)) for k in ("train", "val", "test")}}  # fmt: skip
        for metric in ("accuracy", "macro_f1"):
            rows.append([name, metric, baseline[metric], *(cell(engine[k], metric) for k in ("lstm", "transformer",
                                                                                              "finetuned"))])  # fmt: skip
    table = report.table(
        ["dataset", "test metric", "TF-IDF + logistic regression", "LSTM (engine)", "Transformer (engine)",
         "Transformer pretrained (MLM) + fine-tuned (engine)"],
        rows,
    )  # fmt: skip
    report.write("classic_baselines", "Classic baseline vs our classifiers", results, table, notes(results))
    print(table)


def cell(result: dict[str, Any], metric: str) -> Any:
    if "error" in result:
        return f"not run ({result['error'][:80]})"
    value = result.get(metric)
    return "-" if value is None else float(value)


def notes(results: dict[str, Any]) -> str:
    sizes = "; ".join(
        f"{k}: {v['split_rows']['train']}/{v['split_rows']['val']}/{v['split_rows']['test']} rows"
        for k, v in results.items()
        if isinstance(v, dict) and "split_rows" in v
    )
    return (
        "Split: data.splits.split_frame(val 0.1, test 0.1, seed 1337, stratified), the engine's own split "
        f"(train/val/test {sizes}); every column is scored on the same test rows by "
        "models.tasks.label_metrics.classification_metrics. TF-IDF + logistic regression: models.tasks.tfidf_baseline "
        f"(word 1-2-grams or char 1-3-grams for unspaced scripts, sublinear tf; C picked from {list(C_GRID)} by "
        "validation macro-F1), the baseline every classifier's eval.json reports. Engine runs ({results['backend']} backend, float32): "
        "preset tiny, WordPiece 4k, batch 32, lr 2e-3, up to 8 epochs with early stopping (patience 2) and a "
        f"{results['budget_s']:.0f} s time budget per run; the LSTM is bidirectional. Fine-tuned column: masked-LM "
        "pretraining of the same tiny Transformer on the training split's texts only (no validation/test text), "
        "then `RunConfig.finetune.from_run` = that run. Wall times and step counts are in "
        "bench/results/classic_baselines.json."
    )


if __name__ == "__main__":
    main()
