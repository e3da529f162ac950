"""Quality per clock: char-level LM on the 1 MB Shakespeare slice (90/10), 4 layers x 4 heads x 128, context 64,
batch 12, 2000 steps: validation loss and wall time of a full models.engine.train.train run vs the PyTorch reference.

The reference trains on the engine's own batches in the engine's order (exported by the Keras worker) with the
engine's optimizer, schedule and epoch-end validation passes; both final models are scored by the same numpy code
on the same validation windows. Runs alternate (reference, Keras, Keras, reference, ...) for --repeats > 1.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import close_all, median, shakespeare_slice, start_workers, thread_env
from bench.lm_configs import lm_config
from bench.throughput import MALLOC, REFERENCE_MALLOC


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--backend", default="jax", help="the Keras backend (the fastest one in bench.throughput)"
    )
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for every framework (default 1)")
    parser.add_argument("--jit-compile", default="auto", choices=("auto", "true", "false"))
    parser.add_argument("--steps-per-execution", type=int, default=1)
    args = parser.parse_args()

    from bench import report

    workdir = Path(tempfile.mkdtemp(prefix="textlab-quality-"))
    t0 = time.time()
    try:
        results = measure(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["wall_s"] = time.time() - t0
    publish(report, results)


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    settings = {"max_steps": args.steps, "epochs": 1_000, "jit_compile": jit,
                "steps_per_execution": args.steps_per_execution}  # fmt: skip
    config = lm_config("shakespeare", shakespeare_slice(), str(workdir / "ws"), args.backend, **settings)
    # The engine's CPU defaults (oneDNN, in-process malloc tuning) apply to the Keras arm as they do to any
    # run; the reference gets the same malloc setting through its environment.
    knobs = [f"jit_compile={args.jit_compile}", f"spe={args.steps_per_execution}", "engine CPU defaults"]
    label = f"Keras engine ({args.backend}, {', '.join(knobs)})"
    keras_spec = {"kind": "keras", "backend": args.backend, "label": label, "config": config.to_dict(),
                  "env": {}}  # fmt: skip
    keras_worker = start_workers([keras_spec], args.threads, workdir)[0]
    batches = workdir / "batches.npz"
    exported = keras_worker.call("export", path=str(batches), steps=args.steps)
    ref_spec = {"kind": "reference", "label": REFERENCE_MALLOC, "data": str(batches), "env": MALLOC,
                "model": keras_worker.setup["model"], "train": keras_worker.setup["train"]}  # fmt: skip
    ref_worker = start_workers([ref_spec], args.threads, workdir)[0]
    runs: dict[str, list[dict[str, Any]]] = {keras_worker.label: [], ref_worker.label: []}
    try:
        for r in range(args.repeats):
            order = [ref_worker, keras_worker] if r % 2 == 0 else [keras_worker, ref_worker]
            for worker in order:
                out = worker.call("train_run", name=f"bench-quality-{r}")
                out.update(worker.call("score", path=str(batches)))
                runs[worker.label].append(out)
                print(
                    f"  {worker.label} run {r + 1}: val {out['val_loss']:.4f}, {out['wall_s']:.0f} s",
                    flush=True,
                )
    finally:
        close_all([keras_worker, ref_worker])
    tokens = args.steps * keras_worker.setup["tokens_per_batch"]
    arms = {}
    for label, rs in runs.items():
        arms[label] = {
            "val_loss_median": median([r["val_loss"] for r in rs]),
            "wall_s_median": median([r["wall_s"] for r in rs]),
            "training_s_median": median([r["training_s"] for r in rs]),
            "tokens_per_s_median": tokens / median([r["training_s"] for r in rs]),
            "runs": [{k: v for k, v in r.items() if k != "logged_tokens_per_s"} for r in rs],
        }
    return {
        "arms": arms,
        "reference": ref_worker.label,
        "keras": keras_worker.label,
        "steps": args.steps,
        "repeats": args.repeats,
        "threads": args.threads,
        "thread_env": thread_env(args.threads),
        "batches_per_epoch": exported["per_epoch"],
        "model": keras_worker.setup["model"],
        "train": keras_worker.setup["train"],
        "vocab_size": keras_worker.setup["vocab_size"],
        "env": {"keras": "engine defaults (oneDNN, in-process malloc tuning)", "reference": MALLOC},
    }


def publish(report: Any, results: dict[str, Any]) -> None:
    ref = results["arms"][results["reference"]]
    rows = []
    for label, arm in results["arms"].items():
        rows.append([
            label,
            round(arm["val_loss_median"], 4),
            f"{arm['wall_s_median']:.0f} s",
            f"{arm['training_s_median']:.0f} s",
            round(arm["tokens_per_s_median"]),
            f"{ref['training_s_median'] / arm['training_s_median']:.2f}x",
        ])  # fmt: skip
    table = report.table(
        ["arm", "val loss (nats/char)", "wall time", "training time", "tokens/s (training)", "speed vs reference"],
        rows,
    )  # fmt: skip
    t = results["train"]
    notes = (
        f"{results['steps']} steps of batch {t['batch_size']} x context {results['model']['seq_len']}, "
        f"vocab {results['vocab_size']} chars, dropout {results['model']['dropout']}, AdamW lr {t['learning_rate']} "
        f"(warmup {t['warmup_ratio']:.0%}, cosine to {t['min_lr_ratio']}x), weight decay {t['weight_decay']}, clip "
        f"{t['clip_norm']}; {results['batches_per_epoch']} batches per epoch, so the engine validates after "
        f"steps {results['batches_per_epoch']} and {results['steps']} and the reference does the same. Keras wall "
        "time = the whole `models.engine.train.train` call (data preparation, tokenizer, compilation, checkpoints every "
        f"{t['checkpoint_every']} steps, validation, final evaluation); training time = the engine's own elapsed_s "
        "at the last epoch end. Reference wall time = model construction + training loop + validation passes "
        "(its data arrive pre-batched). Val loss: mean cross-entropy over every position of the validation "
        f"windows, computed by the same numpy code for both. Threads: {results['threads']} per framework. "
        f"Process environment: Keras {results['env']['keras'] or 'default'}, reference "
        f"{results['env']['reference'] or 'default'}. "
        f"Medians of {results['repeats']} run(s) per arm; total benchmark wall time {results['wall_s']:.0f} s."
    )
    report.write("quality_per_clock", "Quality per clock: Shakespeare char LM, engine vs PyTorch reference",
                 results, table, notes)  # fmt: skip
    print(table)


if __name__ == "__main__":
    main()
