"""Engine quality: SMS-spam classifiers (Transformer vs LSTM, macro-F1) and a 3-minute char-level Shakespeare LM."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def classifier_config(kind: str, data: Path, workspace: str, backend: str):
    from models.config import RunConfig

    config = RunConfig(task="classifier", name=f"bench-sms-{kind}", backend=backend, workspace=workspace)
    config.data.path = str(data)
    config.tokenizer.kind = "wordpiece"
    config.tokenizer.vocab_size = 4000
    config.model.kind = kind
    config.model.preset = "tiny"
    config.model.seq_len = 64
    config.model.bidirectional = kind == "lstm"
    config.train.epochs = 6
    config.train.batch_size = 32
    config.train.learning_rate = 2e-3
    config.train.early_stopping_patience = 2
    return config


def lm_config(data: Path, workspace: str, backend: str, budget_s: float):
    from models.config import RunConfig

    config = RunConfig(task="causal_lm", name="bench-shakespeare-char", backend=backend, workspace=workspace)
    config.data.path = str(data)
    config.data.val_fraction = 0.1
    config.data.test_fraction = 0.0
    config.tokenizer.kind = "char"
    config.model.kind = "transformer"
    config.model.preset = None
    config.model.hidden_dim = 128
    config.model.num_layers = 4
    config.model.num_heads = 4
    config.model.intermediate_dim = 512
    config.model.seq_len = 64
    config.model.dropout = 0.0
    config.train.batch_size = 32
    config.train.learning_rate = 2e-3
    config.train.epochs = 100
    config.train.steps_per_epoch = 250  # validation every 250 steps
    config.train.max_steps = 1000  # cosine decay ends near the budget on this machine (~5.5 steps/s)
    config.train.warmup_ratio = 0.02
    config.train.time_budget_s = budget_s
    config.train.log_every = 50
    config.train.checkpoint_every = 1000
    return config


def lm_run(data: Path, workspace: str, backend: str, budget_s: float) -> tuple[dict, list]:
    """One 3-minute LM run: its losses, and the longest wait between two training steps (raw, and less the
    validation pass inside it) from the epoch records the engine writes."""
    from models.engine.train import train

    t0 = time.time()
    run = train(lm_config(data, workspace, backend, budget_s))
    wall = time.time() - t0
    best = (run.status().get("best") or {}).get("val_loss")
    final = (run.eval_report() or {}).get("loss")  # the whole validation split (the run has no test split)
    epochs = [r for r in run.metrics() if r.get("kind") == "epoch"]
    train_s = epochs[-1].get("elapsed_s") if epochs else None
    gap = max((r.get("longest_step_gap_s", 0.0) for r in epochs), default=None)
    stall = max((r.get("longest_step_gap_less_validation_s", 0.0) for r in epochs), default=None)
    result = {
        "run": str(run.path),
        "best_val_loss": best,
        "final_val_loss": final,
        "last_val_loss": epochs[-1].get("val_loss") if epochs else None,
        "steps": run.status().get("step"),
        "training_s": train_s,
        "wall_s": wall,
        "longest_step_gap_s": gap,
        "longest_step_gap_less_validation_s": stall,
        "step_gaps_per_epoch_s": [r.get("longest_step_gap_s") for r in epochs],
    }
    row = [
        "Shakespeare 1 MB char LM, Transformer 4x128, ctx 64",
        "val loss (nats)",
        final,
        f"{run.status().get('step')} steps in {train_s:.0f} s training; best validation {best:.3f}; "
        f"longest step gap {gap:.2f} s "
        f"({stall:.2f} s besides validation)",
        f"{wall:.0f} s",
    ]
    return result, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--lm-budget-s", type=float, default=180.0)
    parser.add_argument("--skip-lm", action="store_true")
    parser.add_argument("--lm-runs", type=int, default=1, help="LM runs in a row (issue 16 asks for three)")
    parser.add_argument("--skip-classifiers", action="store_true")
    parser.add_argument(
        "--workspace", default=None, help="keep the runs here (default: a new temporary folder)"
    )
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend

    from bench import report
    from models.engine.train import train

    workspace = args.workspace or tempfile.mkdtemp(prefix="textlab-bench-")
    rows, results = [], {}
    if not args.skip_classifiers:
        for kind in ("transformer", "lstm"):
            t0 = time.time()
            run = train(classifier_config(kind, SHARED / "sms_spam.csv", workspace, args.backend))
            ev = run.eval_report() or {}
            wall = time.time() - t0
            results[f"sms_{kind}"] = {
                "run": str(run.path),
                "macro_f1": ev.get("macro_f1"),
                "accuracy": ev.get("accuracy"),
                "wall_s": wall,
                "steps": run.status().get("step"),
                "test_examples": ev.get("examples"),
            }
            rows.append(
                [
                    f"SMS spam classifier, {kind} (tiny, WordPiece 4k)",
                    "macro-F1 (test)",
                    ev.get("macro_f1"),
                    f"accuracy {ev.get('accuracy', 0):.4f}",
                    f"{wall:.0f} s",
                ]
            )
    if not args.skip_lm:
        data = ROOT / "assets" / "demo" / "shakespeare_1mb.txt"
        for index in range(args.lm_runs):
            key = "shakespeare_char_lm" + (f"_{index + 1}" if index else "")
            results[key], row = lm_run(data, workspace, args.backend, args.lm_budget_s)
            rows.append(row)
    headers = ["benchmark", "metric", "value", "detail", "wall time"]
    if not args.skip_classifiers:
        cls_rows = [r for r in rows if r[0].startswith("SMS")]
        report.write(
            f"engine_sms_{args.backend}",
            f"Engine: SMS-spam classifiers ({args.backend})",
            {k: v for k, v in results.items() if k.startswith("sms")},
            report.table(headers, cls_rows),
            f"Backend {args.backend}, float32, 80/10/10 stratified split of ../shared/data/sms_spam.csv, seed 1337.",
        )
    if not args.skip_lm:
        lm_rows = [r for r in rows if r[0].startswith("Shakespeare")]
        report.write(
            f"engine_shakespeare_{args.backend}",
            f"Engine: 3-minute character-level Shakespeare LM ({args.backend})",
            {k: v for k, v in results.items() if k.startswith("shakespeare")},
            report.table(headers, lm_rows),
            f"Backend {args.backend}, float32, the engine's CPU defaults (oneDNN, malloc tuning), 2 threads. "
            "90/10 split of assets/demo/shakespeare_1mb.txt; 4 layers x 128, 4 heads, FFN 512, batch 32, "
            "lr 2e-3 with 2% warm-up and cosine decay over max_steps 1000 (about what fits the budget here), "
            "validation every 250 steps on the engine's default 32,768 evenly spaced tokens of the validation "
            f"split (train.validation_tokens). Training stops at max_steps or at a {args.lm_budget_s:.0f} s time budget, "
            "whichever comes first; training time counts from the start (compilation included) to the end of the last validation pass, which "
            "runs after the step that crossed the budget. Val loss: the final evaluation's mean cross-entropy in "
            "nats per character over the whole validation split (the run has no test split); best validation: "
            "the best of the capped validations during training. Longest step gap: the longest time between two training steps' ends in the run (the "
            "first step, which compiles, excluded; an epoch boundary's validation pass, checkpoints and new "
            "data iterator included), from the engine's epoch records (longest_step_gap_s, and "
            "longest_step_gap_less_validation_s without the validation pass).",
        )
    table = report.table(headers, rows)
    print(table)


if __name__ == "__main__":
    main()
