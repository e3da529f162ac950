"""nanoGPT's CPU Shakespeare recipe, run from a fetched nanoGPT checkout, side by side with textlab's whole
``app train`` command on the same file, split and steps: wall time, validation loss on the whole validation
split, and the time each needs to reach nanoGPT's final validation loss.

nanoGPT is not vendored: pass the path of a checkout (``--nanogpt DIR``; e.g. ``git clone
https://github.com/karpathy/nanoGPT``). The bench copies it to a temporary folder, writes the demo slice as
``data/shakespeare_char/input.txt`` and runs nanoGPT's own ``prepare.py`` (90/10 character split) and
``train.py`` with the README's CPU command. textlab trains the same network (4 layers x 4 heads x 128, context
64, batch 12, dropout 0) with nanoGPT's optimiser settings through ``app train --config``. Both final models
are scored on every position of the same non-overlapping validation windows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import DEMO_SLICE, REPLY, ROOT

# nanoGPT README, "I only have a macbook": the CPU recipe (plus --max_iters/--lr_decay_iters per budget).
NANOGPT_ARGS = ["config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "--eval_iters=20",
                "--log_interval=1", "--block_size=64", "--batch_size=12", "--n_layer=4", "--n_head=4",
                "--n_embd=128", "--dropout=0.0", "--always_save_checkpoint=True"]  # fmt: skip
# nanoGPT's train_shakespeare_char.py optimiser, in TrainConfig terms (Keras AdamW keeps beta2 0.999, not 0.99).
TEXTLAB_TRAIN = {"batch_size": 12, "learning_rate": 1e-3, "weight_decay": 0.1, "warmup_ratio": 0.05,
                 "min_lr_ratio": 0.1, "clip_norm": 1.0, "epochs": 1000, "steps_per_epoch": 250,
                 "log_every": 50}  # fmt: skip
# textlab's faster recipe for the same budget (ablation in BENCHMARKS.md): half the depth, a larger batch at a
# higher rate, XLA on, and STEP_SHARE of nanoGPT's steps. Quality per CPU-second at this scale comes from the
# number of updates a small model gets, not from its depth: the arm is scored like the other two.
RECIPE_MODEL = {"num_layers": 2}
RECIPE_TRAIN = {**TEXTLAB_TRAIN, "batch_size": 16, "learning_rate": 8e-3, "jit_compile": True}
STEP_SHARE = 0.4
# The recipe's batch grows with the square root of the budget, from 16 at nanoGPT's 2,000 steps, in multiples of
# 8: a longer run reaches a lower loss, where larger batches pay (the critical batch size grows as the loss falls,
# McCandlish et al. 2018, "An Empirical Model of Large-Batch Training"). At 0.4x the steps and batch 16 the
# recipe fell behind nanoGPT's loss at 2x and 4x the budget (BENCHMARKS.md, commit 5abf99e).
BASE_BUDGET = 2000
VALIDATIONS = 4  # per textlab run
ARMS = ("same", "recipe")
ARM_LABELS = {
    "same": "nanoGPT's network and settings",
    "recipe": "textlab's recipe (2 layers, batch {batch}, lr 8e-3, XLA)",
}


def recipe_batch(steps: int) -> int:
    """The recipe arm's batch for a budget of nanoGPT ``steps``: 16 x sqrt(steps / BASE_BUDGET), to a multiple
    of 8 and at least 16 (16 at 2,000 steps, 24 at 4,000, 32 at 8,000)."""
    return max(16, 8 * round(2 * math.sqrt(steps / BASE_BUDGET)))


def nanogpt_copy(source: Path, workdir: Path) -> Path:
    """nanoGPT's files in ``workdir`` with the demo slice prepared by its own prepare.py."""
    if not (source / "train.py").is_file():
        raise SystemExit(f"{source} is not a nanoGPT checkout (no train.py); pass --nanogpt DIR")
    copy = workdir / "nanogpt"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".git", "out*", "*.bin"))
    data = copy / "data" / "shakespeare_char"
    shutil.copyfile(DEMO_SLICE, data / "input.txt")
    subprocess.run([sys.executable, "prepare.py"], cwd=data, check=True, capture_output=True)
    return copy


def watched(command: list[str], cwd: Path, marker: Any) -> tuple[float, list[tuple[float, Any]]]:
    """Run ``command``; its wall time and ``(seconds, marker(line))`` for each stdout line ``marker`` reads."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    points = []
    for line in process.stdout:
        found = marker(line)
        if found is not None:
            points.append((round(time.perf_counter() - start, 2), found))
    if process.wait():
        raise SystemExit(f"{' '.join(command)} failed (exit {process.returncode})")
    return time.perf_counter() - start, points


def run_nanogpt(copy: Path, steps: int) -> dict[str, Any]:
    out = copy / f"out-{steps}"
    args = [*NANOGPT_ARGS, f"--max_iters={steps}", f"--lr_decay_iters={steps}", f"--out_dir={out}"]

    def marker(line: str) -> tuple[int, float] | None:  # "step 250: train loss 2.48, val loss 2.52"
        if line.startswith("step ") and "val loss" in line:
            return int(line.split()[1].rstrip(":")), float(line.rsplit(" ", 1)[1])
        return None

    wall, points = watched([sys.executable, "train.py", *args], copy, marker)
    scored = subprocess.run([sys.executable, "-m", "bench.nanogpt", "--score", str(out / "ckpt.pt"),
                             "--nanogpt", str(copy)], cwd=ROOT, check=True, capture_output=True, text=True)  # fmt: skip
    val = json.loads(next(x for x in scored.stdout.splitlines() if x.startswith(REPLY))[len(REPLY) :])
    return {"wall_s": round(wall, 1), "val_loss": val["val_loss"], "estimates": points}


def score_checkpoint(checkpoint: str, copy: str) -> dict[str, float]:
    """Mean cross-entropy of a nanoGPT checkpoint over every position of the validation split's
    non-overlapping 64-token windows (val.bin), with nanoGPT's own model code."""
    import numpy as np
    import torch

    sys.path.insert(0, copy)
    from model import GPT, GPTConfig  # nanoGPT's model.py

    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = GPT(GPTConfig(**saved["model_args"]))
    model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in saved["model"].items()})
    model.eval()
    val = np.fromfile(Path(copy) / "data" / "shakespeare_char" / "val.bin", dtype=np.uint16).astype(np.int64)
    n = (len(val) - 1) // 64
    x = torch.from_numpy(val[: n * 64].reshape(n, 64))
    y = torch.from_numpy(val[1 : n * 64 + 1].reshape(n, 64))
    total = 0.0
    with torch.no_grad():
        for i in range(0, n, 128):
            logits, _ = model(x[i : i + 128], y[i : i + 128])  # targets given: logits at every position
            total += torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), y[i : i + 128].reshape(-1), reduction="sum"
            ).item()
    return {"val_loss": total / y.numel()}


def run_textlab(workdir: Path, steps: int, arm: str = "same") -> dict[str, Any]:
    """textlab's whole ``app train`` for nanoGPT's ``steps``: its network and settings (``same``) or textlab's
    recipe (``recipe``: RECIPE_MODEL, RECIPE_TRAIN at recipe_batch's batch, STEP_SHARE of the steps)."""
    from bench.lm_configs import train_command

    recipe = {**RECIPE_TRAIN, "batch_size": recipe_batch(steps)}
    train, model = (TEXTLAB_TRAIN, {}) if arm == "same" else (recipe, RECIPE_MODEL)
    own_steps = steps if arm == "same" else round(steps * STEP_SHARE)
    # 4 validations whatever the steps. nanoGPT estimates its loss 8 times on 20 batches of 12 x 64 tokens per
    # split; textlab validates on the engine's default 32,768 tokens of the validation split.
    return train_command(workdir, f"nanogpt-{arm}-{steps}", DEMO_SLICE, own_steps, VALIDATIONS, model, train)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nanogpt", default=os.environ.get("NANOGPT_DIR", "/tmp/nanogpt"),
                        help="a nanoGPT checkout (default $NANOGPT_DIR or /tmp/nanogpt)")  # fmt: skip
    parser.add_argument("--budgets", type=int, nargs="+", default=[2000], help="steps per side-by-side pair")
    parser.add_argument(
        "--same-at",
        type=int,
        nargs="*",
        help="budgets that also run textlab with nanoGPT's "
        "network and settings (default: the first budget; the recipe arm runs at every budget)",
    )
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--score", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.score:
        print(REPLY + json.dumps(score_checkpoint(args.score, args.nanogpt)), flush=True)
        return
    from bench import report

    workdir = Path(tempfile.mkdtemp(prefix="textlab-nanogpt-"))
    results: dict[str, Any] = {
        "budgets": {},
        "nanogpt_args": NANOGPT_ARGS,
        "textlab_train": TEXTLAB_TRAIN,
        "recipe": {
            "model": RECIPE_MODEL,
            "train": RECIPE_TRAIN,
            "step_share": STEP_SHARE,
            "batch_by_budget": {steps: recipe_batch(steps) for steps in args.budgets},
        },
    }
    rows = []
    try:
        copy = nanogpt_copy(Path(args.nanogpt), workdir)
        results["nanogpt_commit"] = _commit(Path(args.nanogpt))
        for steps in args.budgets:
            ref = run_nanogpt(copy, steps)
            entry: dict[str, Any] = {"nanogpt": ref}
            same_at = args.budgets[:1] if args.same_at is None else args.same_at
            for arm in ARMS if steps in same_at else ("recipe",):
                ours = run_textlab(workdir, steps, arm)
                reached = next((t for t, _, v in ours["curve"] if v <= ref["val_loss"]), None)
                entry[arm] = {**ours, "training_s_to_target": reached}
                label = ARM_LABELS[arm].format(batch=recipe_batch(steps))
                rows.append([steps, label, ours["steps"], ref["val_loss"], ours["val_loss"],
                             ref["wall_s"], ours["wall_s"], f"{ours['wall_s'] / ref['wall_s']:.2f}x",
                             "yes" if ours["val_loss"] <= ref["val_loss"] else "no",
                             "-" if reached is None else f"{reached:.0f} s of training"])  # fmt: skip
                print(rows[-1], flush=True)
            results["budgets"][steps] = entry
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    table = report.table(
        ["nanoGPT steps", "textlab arm", "textlab steps", "nanoGPT val loss", "textlab val loss", "nanoGPT wall s",
         "textlab wall s", "textlab / nanoGPT wall", "textlab's final loss at or below nanoGPT's",
         "textlab's first validation at or below nanoGPT's final loss"], rows)  # fmt: skip
    notes = (
        f"nanoGPT at commit {results.get('nanogpt_commit', '?')} (a fetched checkout, outside the repo), "
        f"`python train.py {' '.join(NANOGPT_ARGS)} --max_iters=N --lr_decay_iters=N` (the README's CPU command; "
        "always_save_checkpoint so the final model is the one scored), on its own prepare.py split of "
        "assets/demo/shakespeare_1mb.txt (90/10 by characters). textlab: `app train --config C`, the same network "
        "and nanoGPT's optimiser settings (lr 1e-3, 5% warm-up, cosine to 1e-4, weight decay 0.1, clip 1.0; Keras "
        "AdamW's beta2 is 0.999 where nanoGPT sets 0.99), 90/10 split (val_fraction 0.1, test 0), validation "
        f"every 1/{VALIDATIONS} of the steps on the engine's default 32,768 evenly spaced tokens of the validation "
        "split (the final evaluation reads all of it). The recipe arm: the same width, heads "
        "and context with 2 layers, lr 8e-3 (same warm-up, decay, clip), jit_compile=True, "
        f"{STEP_SHARE:g} x nanoGPT's steps, and a batch of 16 x sqrt(nanoGPT's steps / {BASE_BUDGET:,}) rounded to "
        "a multiple of 8 (16, 24, 32 at 2,000, 4,000, 8,000 steps). Wall time: the "
        "whole command each (imports, data, compilation, checkpoints, validation). "
        "Val loss: mean cross-entropy over every position of the validation split's non-overlapping 64-character "
        "windows (nanoGPT's checkpoint scored with its own model.py; textlab's final evaluation). 'Reaches ... "
        "after': the training time of textlab's first (capped) validation at or below nanoGPT's final loss. Both use both "
        "cores (each framework's default threads), one after the other, nothing else running."
    )
    report.write("nanogpt", "nanoGPT's CPU recipe vs textlab, side by side", results, table, notes)
    print(table)


def _commit(path: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    main()
