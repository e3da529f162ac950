"""The n-gram bag classifier (model kind "bag") against TF-IDF + logistic regression and fastText, side by side.

Every column uses the engine's own split of each dataset (data.splits.split_frame, val 0.1, test 0.1, seed 1337,
stratified) and is scored on the same test rows by models.tasks.label_metrics. The TF-IDF + logistic-regression
figure is the one the bag run's own eval.json reports (models.tasks.tfidf_baseline, fitted on the same training
split). fastText (fasttext-wheel) is the peer: learning rate picked on the validation split.

    .venv/bin/python -m bench.bag_classifier            # prints a Markdown table; --json for the raw results
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import SHARED

FASTTEXT_LR = (0.1, 0.3, 1.0)  # picked on validation macro-F1; 25 epochs, word bigrams, dim 50
SEED = 1337


def datasets(folder: Path) -> dict[str, Path]:
    """sms_spam and fortunes as shipped, and fortunes with 10% of its rows labelled (the same val/test rows)."""
    import pandas as pd

    from data.splits import split_frame

    out = {"sms_spam": SHARED / "sms_spam.csv", "fortunes": SHARED / "fortunes.csv"}
    fortunes = pd.read_csv(out["fortunes"])
    parts = split_frame(fortunes, val_fraction=0.30, test_fraction=0.0, seed=SEED, stratify=True)
    parts.val.to_csv(folder / "fortunes_30pct.csv", index=False)  # the engine splits it 10% / 5% / 15% of all
    out["fortunes 10% labelled"] = folder / "fortunes_30pct.csv"
    from bench.datasets import DATA  # more kinds of text, when `python -m bench.datasets` has built them

    out |= {p.stem: p for p in sorted(DATA.glob("*.csv"))}
    return out


def bag_config(
    path: Path, workspace: str, seq_len: int, val: float, test: float, args: argparse.Namespace
) -> Any:
    from models.config import RunConfig

    config = RunConfig(
        task="classifier", name=f"bench-bag-{path.stem}", backend="tensorflow", workspace=workspace
    )
    config.data.path = str(path)
    config.data.val_fraction, config.data.test_fraction = val, test
    config.tokenizer.kind = "wordpiece"
    config.tokenizer.vocab_size = args.vocab
    config.model.kind = "bag"
    config.model.preset = args.preset
    if args.buckets:  # explicit sizes instead of the preset's
        config.model.preset, config.model.hidden_dim = None, args.dim
        config.model.ngram_buckets = args.buckets
    config.model.seq_len = seq_len
    config.model.dropout = args.dropout
    config.train.epochs = args.epochs
    config.train.batch_size = 32
    config.train.learning_rate = args.lr
    config.train.weight_decay = args.weight_decay
    config.train.early_stopping_patience = args.patience or None
    return config


def fasttext_run(splits: Any, labels: list[str], folder: Path) -> dict[str, Any]:
    import fasttext

    from models.tasks.label_metrics import classification_metrics

    def write(frame: Any, name: str) -> Path:
        path = folder / f"{name}.txt"
        clean = frame["text"].str.replace("\n", " ", regex=False)
        lines = [
            f"__label__{label.replace(' ', '_')} {text}"
            for label, text in zip(frame["label"], clean, strict=True)
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    index = {label.replace(" ", "_"): i for i, label in enumerate(labels)}

    def predict(model: Any, frame: Any) -> np.ndarray:
        texts = frame["text"].str.replace("\n", " ", regex=False).tolist()
        return np.asarray([index[p[0].removeprefix("__label__")] for p in model.predict(texts)[0]])

    def truth(frame: Any) -> np.ndarray:
        return np.asarray([labels.index(v) for v in frame["label"]])

    train_file = write(splits.train, "train")
    started, best = time.perf_counter(), None
    for lr in FASTTEXT_LR:
        model = fasttext.train_supervised(
            str(train_file), lr=lr, epoch=25, wordNgrams=2, dim=50, verbose=0, thread=1
        )
        f1 = classification_metrics(truth(splits.val), predict(model, splits.val), labels)["macro_f1"]
        if best is None or f1 > best[0]:
            best = (f1, model, lr)
    assert best is not None
    metrics = classification_metrics(truth(splits.test), predict(best[1], splits.test), labels)
    return {"macro_f1": metrics["macro_f1"], "accuracy": metrics["accuracy"], "lr": best[2],
            "wall_s": time.perf_counter() - started}  # fmt: skip


def one_dataset(name: str, path: Path, workspace: str, args: argparse.Namespace) -> dict[str, Any]:
    from data.loaders import load_dataset
    from data.splits import split_frame
    from models.engine.train import train

    val, test = (1 / 6, 0.5) if "10%" in name else (0.1, 0.1)
    loaded = load_dataset(path, need_labels=True)
    splits = split_frame(loaded.frame, val, test, seed=SEED, stratify=True)
    labels = sorted(loaded.frame["label"].unique().tolist())
    from models.engine.recipe import classifier_recipe

    # The recipe's tokenizer and seq_len (WordPiece for spaced text, characters for unspaced scripts).
    chosen = classifier_recipe(splits.train["text"].tolist(), len(splits.train)).settings
    seq_len = chosen["seq_len"]
    config = bag_config(path, workspace, seq_len, val, test, args)
    config.tokenizer.kind = chosen["tokenizer"]
    started = time.perf_counter()
    run = train(config)
    wall = time.perf_counter() - started
    report = run.eval_report() or {}
    status = run.status()
    return {
        "rows": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
        "classes": len(labels),
        "seq_len": seq_len,
        "bag": {
            "macro_f1": report.get("macro_f1"),
            "accuracy": report.get("accuracy"),
            "wall_s": wall,
            "steps": status.get("step"),
            "run": run.id,
        },  # fmt: skip
        "tfidf": report.get("baseline"),
        "fasttext": None
        if args.no_peer
        else fasttext_run(splits, labels, Path(tempfile.mkdtemp(prefix="textlab-ft-"))),
        "settings": {
            "preset": args.preset,
            "lr": args.lr,
            "dropout": args.dropout,
            "weight_decay": args.weight_decay,
        },
    }


def markdown(results: dict[str, Any]) -> str:
    head = "| data | classes | train rows | TF-IDF + LR | fastText | bag (ours) | bag / TF-IDF | bag wall s | TF-IDF s | fastText s |"
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if not isinstance(r, dict) or "bag" not in r:
            continue
        bag, tfidf, ft = (
            r["bag"],
            r["tfidf"] or {},
            r["fasttext"] or {"macro_f1": float("nan"), "wall_s": float("nan")},
        )
        ratio = bag["macro_f1"] / tfidf["macro_f1"] if tfidf.get("macro_f1") else float("nan")
        lines.append(
            f"| {name} | {r['classes']} | {r['rows']['train']} | {tfidf.get('macro_f1', float('nan')):.3f} | "
            f"{ft['macro_f1']:.3f} | {bag['macro_f1']:.3f} | {ratio:.3f} | {bag['wall_s']:.0f} | "
            f"{tfidf.get('fit_s', float('nan')):.1f} | {ft['wall_s']:.1f} |"
        )
    ratios = [r["bag"]["macro_f1"] / r["tfidf"]["macro_f1"] for r in results.values()
              if isinstance(r, dict) and "bag" in r and (r["tfidf"] or {}).get("macro_f1")]  # fmt: skip
    if ratios:
        lines.append(f"\nMedian bag / TF-IDF macro-F1 ratio: {statistics.median(ratios):.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--only", help="run only the datasets whose name contains this")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--buckets", type=int, help="hashed bigram rows (with --dim; instead of --preset)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=3, help="0: no early stopping")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--no-peer", action="store_true", help="skip fastText (for ablations)")
    args = parser.parse_args()
    each_dataset(
        args, "textlab-bag-", lambda name, path, ws: one_dataset(name, path, str(ws), args), markdown
    )


def each_dataset(
    args: argparse.Namespace,
    prefix: str,
    one: Callable[[str, Path, Path], dict[str, Any]],
    table: Callable[[dict[str, Any]], str],
) -> None:
    """Run ``one(name, path, workspace)`` on every dataset (``--only`` filters), print and save the results."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    results: dict[str, Any] = {}
    for name, path in datasets(folder).items():
        if args.only and args.only not in name:
            continue
        results[name] = one(name, path, folder / "workspace")
        print(name, json.dumps(results[name]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(table(results))


if __name__ == "__main__":
    main()
