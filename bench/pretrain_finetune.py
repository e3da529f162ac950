"""Pretrain on raw text (masked / causal LM), fine-tune on 10% of fortunes.csv vs training from scratch; NER too.

Fair comparison: every classifier (fine-tuned or from scratch) has the same architecture and size, the same
WordPiece tokenizer (the pretraining run's), the same labelled split, learning rate schedule and number of
optimizer steps; the engine keeps the best-validation epoch for each. Pretraining never sees a labelled text.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SEED = 2024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_data(folder: Path, shakespeare_chars: int) -> dict[str, Any]:
    """labelled.csv: a stratified 30% of fortunes (the engine splits it 10% train / 5% val / 15% test of all
    rows); pretrain.csv: the other 70% of the fortunes' texts (labels dropped) + a Shakespeare slice."""
    from data.splits import split_frame

    fortunes = pd.read_csv(SHARED / "fortunes.csv", dtype=str, keep_default_na=False)
    parts = split_frame(fortunes, val_fraction=0.30, test_fraction=0.0, seed=SEED, stratify=True)
    labelled, unlabelled = parts.val, parts.train
    labelled.to_csv(folder / "labelled.csv", index=False)
    text = (SHARED / "shakespeare.txt").read_text(encoding="utf-8")[:shakespeare_chars]
    # Shakespeare as documents of ~20 lines, so row-wise splitting and [EOS] packing treat it like the fortunes.
    lines = text.splitlines()
    plays = [" ".join(line.strip() for line in lines[i : i + 20]).strip() for i in range(0, len(lines), 20)]
    texts = unlabelled["text"].tolist() + [p for p in plays if p]
    pd.DataFrame({"text": texts}).to_csv(folder / "pretrain.csv", index=False)
    return {
        "fortunes_rows": len(fortunes),
        "labelled_rows": len(labelled),
        "unlabelled_fortunes": len(unlabelled),
        "shakespeare_chars": len(text),
        "pretrain_documents": len(texts),
        "pretrain_chars": int(sum(map(len, texts))),
    }


def base_config(task: str, name: str, data: Path, args: argparse.Namespace):
    from models.config import RunConfig

    config = RunConfig(task=task, name=name, backend=args.backend, workspace=args.workspace)
    config.data.path = str(data)
    config.data.seed = SEED
    config.tokenizer.kind = "wordpiece"
    config.tokenizer.vocab_size = args.vocab_size
    config.model.kind = "transformer"
    config.model.preset = args.size
    config.model.seq_len = args.seq_len
    config.train.batch_size = args.batch_size
    config.train.early_stopping_patience = None  # every arm trains the same number of steps
    config.train.log_every = 50
    config.train.checkpoint_every = 10_000
    return config


def pretrain(objective: str, data: Path, args: argparse.Namespace):
    from models.engine.train import train

    config = base_config(objective, f"bench-pretrain-{objective}", data, args)
    config.data.val_fraction = 0.02
    config.data.test_fraction = 0.02
    config.train.learning_rate = args.pretrain_lr
    config.train.epochs = 1000
    config.train.steps_per_epoch = 250  # a validation pass every 250 steps
    config.train.max_steps = args.pretrain_steps
    config.train.warmup_ratio = 0.05
    config.train.time_budget_s = args.pretrain_budget_s
    return timed(lambda: train(config))


def downstream(
    task: str, name: str, data: Path, parent, args: argparse.Namespace, *, finetune: bool, lr: float
):
    """A classifier/tagger on ``data``: fine-tuned from ``parent``, or from scratch with its tokenizer and size."""
    from models.architecture.presets import resolve_model_config
    from models.engine.train import run_training
    from models.run_dir import RunDir

    config = base_config(task, name, data, args)
    if task == "classifier":
        config.data.val_fraction, config.data.test_fraction = 1 / 6, 0.5  # of the 30%: 5% and 15% of all rows
    config.train.learning_rate = lr
    config.train.epochs = args.epochs if task == "classifier" else args.ner_epochs
    config.train.warmup_ratio = 0.1
    if finetune:
        config.finetune.from_run = str(parent.path)
        config.finetune.freeze_backbone_epochs = args.freeze_epochs
        config.finetune.backbone_lr_multiplier = args.backbone_lr_multiplier
    else:
        model = resolve_model_config(parent.config().model, parent.config().task)
        model.preset, model.causal, model.num_classes = (
            None,
            None,
            0,
        )  # same sizes, bidirectional, fresh weights
        config.model = model
    run = RunDir.create(config)
    if not finetune:
        shutil.copytree(parent.tokenizer_dir, run.tokenizer_dir)  # the engine reuses a run's saved tokenizer
    return timed(lambda: run_training(run))


def compare(task, title, data, methods, metric, args, results) -> list[list[Any]]:
    """Each method at every learning rate of its task's grid; the row reports the LR with the lowest validation
    loss (the test split never picks), and every LR's test score in the detail column."""
    rows = []
    for method, parent, finetune in methods:
        arms = []
        for lr in args.lr if task == "classifier" else (args.ner_lr or args.lr):
            name = f"bench-{task}-{method}-lr{lr:g}".replace(" ", "-")
            run, wall, cpu = downstream(task, name, data, parent, args, finetune=finetune, lr=lr)
            ev = run.eval_report() or {}
            best = run.status().get("best") or {}
            record = {
                "run": run.id,
                "lr": lr,
                "steps": run.status().get("step"),
                "best_val_loss": best.get("val_loss"),
                "best_epoch": best.get("epoch"),
                "wall_s": wall,
                "cpu_s": cpu,
                **_scalars(ev),
            }
            results[f"{title} {method} lr {lr:g}"] = record
            arms.append(record)
        chosen = min(
            arms, key=lambda r: r["best_val_loss"] if r["best_val_loss"] is not None else float("inf")
        )
        detail = ", ".join(f"lr {r['lr']:g}: {r.get(metric, float('nan')):.4f}" for r in arms)
        extra = (
            f"accuracy {chosen.get('accuracy', 0):.3f}"
            if metric == "macro_f1"
            else f"P {chosen.get('entity_precision', 0):.3f} R {chosen.get('entity_recall', 0):.3f}"
        )
        rows.append(
            [
                f"{title}, {method}",
                f"{metric} (test) at lr {chosen['lr']:g}",
                chosen.get(metric),
                f"{extra}; {chosen['steps']} steps; every lr: {detail}",
                f"{chosen['wall_s']:.0f} s / {chosen['cpu_s']:.0f} s",
            ]
        )
    return rows


def timed(fn) -> tuple[Any, float, float]:
    wall, cpu = time.time(), cpu_seconds()
    run = fn()
    return run, time.time() - wall, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--workspace", default=None, help="default: a fresh temporary folder")
    parser.add_argument("--objectives", nargs="+", default=["causal_lm"], choices=["causal_lm", "masked_lm"])
    parser.add_argument("--shakespeare-chars", type=int, default=1_000_000)
    parser.add_argument("--vocab-size", type=int, default=4000)
    parser.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--pretrain-steps", type=int, default=3000)
    parser.add_argument(
        "--pretrain-budget-s", type=float, default=1200.0, help="training-time cap per objective"
    )
    parser.add_argument("--pretrain-lr", type=float, default=2e-3)
    parser.add_argument("--pretrained", nargs="*", default=[], help="reuse runs: OBJECTIVE=RUN_PATH ...")
    parser.add_argument("--epochs", type=int, default=8, help="classifier epochs (fine-tune and scratch)")
    parser.add_argument("--ner-epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3], help="classifier LR grid")
    parser.add_argument(
        "--ner-lr", type=float, nargs="+", default=[1e-3, 3e-3], help="NER LR grid (every method)"
    )
    parser.add_argument("--freeze-epochs", type=int, default=0)
    parser.add_argument("--backbone-lr-multiplier", type=float, default=1.0)
    parser.add_argument("--skip-ner", action="store_true")
    parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    args.workspace = args.workspace or tempfile.mkdtemp(prefix="textlab-pretrain-finetune-")
    folder = Path(args.workspace)
    folder.mkdir(parents=True, exist_ok=True)

    from bench import report

    started = time.time()
    data = make_data(folder, args.shakespeare_chars)
    results: dict[str, Any] = {"data": data, "settings": {k: v for k, v in vars(args).items()}}
    rows: list[list[Any]] = []

    parents = {}
    reuse = dict(item.split("=", 1) for item in args.pretrained)
    for objective in args.objectives:
        if objective in reuse:
            from models.run_dir import RunDir

            run, wall, cpu = RunDir(reuse[objective]), 0.0, 0.0
        else:
            run, wall, cpu = pretrain(objective, folder / "pretrain.csv", args)
        ev = run.eval_report() or {}
        parents[objective] = run
        results[f"pretrain_{objective}"] = {
            "run": run.id,
            "steps": run.status().get("step"),
            "wall_s": wall,
            "cpu_s": cpu,
            **_scalars(ev),
        }
        rows.append(
            [
                f"pretrain {objective}",
                "test perplexity",
                ev.get("perplexity"),
                f"{run.status().get('step')} steps, token acc {ev.get('token_accuracy', 0):.3f}",
                f"{wall:.0f} s / {cpu:.0f} s",
            ]
        )

    reference = parents[args.objectives[0]]  # the scratch arms use its tokenizer and size
    methods = [("from scratch", reference, False)]
    methods += [(f"fine-tuned from {o}", parents[o], True) for o in args.objectives]
    rows += compare(
        "classifier", "fortunes 43 topics", folder / "labelled.csv", methods, "macro_f1", args, results
    )
    if not args.skip_ner:
        ner_methods = [m for m in methods if not m[2] or args.objectives[0] in m[0]]
        rows += compare(
            "token_classifier",
            "Twitter NER 10 types",
            SHARED / "ner_twitter.conll",
            ner_methods,
            "entity_f1",
            args,
            results,
        )

    results["total_wall_s"] = time.time() - started
    table = report.table(["run", "metric", "value", "detail", "wall / CPU time"], rows)
    notes = _notes(args, data)
    print(table)
    print(notes)
    if not args.no_report:
        report.write(
            f"pretrain_finetune_{args.backend}",
            f"Pretrain then fine-tune ({args.backend})",
            results,
            table,
            notes,
        )


def _scalars(report_: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report_.items() if isinstance(v, int | float | str) and k not in ("run", "task")}


def _notes(args: argparse.Namespace, data: dict[str, Any]) -> str:
    return (
        f"Backend {args.backend}, float32, CPU. Model: Transformer `{args.size}` preset, context {args.seq_len}, "
        f"WordPiece {args.vocab_size} trained by the pretraining run and reused by every arm. "
        f"Pretraining corpus: {data['unlabelled_fortunes']:,} fortunes.csv texts (labels dropped; none of them "
        f"is in the labelled set) + the first {data['shakespeare_chars']:,} characters of shakespeare.txt in "
        f"~20-line documents ({data['pretrain_chars']:,} characters in all); {args.pretrain_steps} steps max of "
        f"batch {args.batch_size} (cap {args.pretrain_budget_s:.0f} s), lr {args.pretrain_lr:g}. "
        f"Labelled data: a stratified 30% of fortunes.csv (seed {SEED}), split by the engine into train 10% / "
        f"val 5% / test 15% of all {data['fortunes_rows']:,} rows; every arm trains {args.epochs} epochs "
        f"(same steps), warm-up 10% + cosine, keeps its best-validation epoch. Every method runs at each learning "
        f"rate in {args.lr} (NER: {args.ner_lr}); the table reports the one with the lowest validation loss (test never chooses). "
        f"Fine-tunes: backbone frozen {args.freeze_epochs} epoch(s), backbone lr x{args.backbone_lr_multiplier:g}; "
        "from-scratch arms have the same architecture, size and tokenizer with fresh weights. "
        f"NER: ner_twitter.conll split 80/10/10 by sentence, {args.ner_epochs} epochs per arm, entity-level "
        "exact-match F1 (seqeval-style, micro). "
        f"Times are wall / process CPU seconds on a shared 2-core machine."
    )


if __name__ == "__main__":
    main()
