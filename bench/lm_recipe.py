"""The language-model recipe's ablation: textlab's recipe arm of ``bench.nanogpt`` with one setting changed at
a time (depth, batch, learning rate, XLA, head tying, optimiser), each a whole ``app train --config`` on the demo
slice for the same number of steps, scored on the whole validation split.

Run alone: ``.venv/bin/python -m bench.lm_recipe [--steps 900] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.common import DEMO_SLICE
from bench.lm_configs import train_command
from bench.nanogpt import RECIPE_MODEL, RECIPE_TRAIN

VALIDATIONS = 8  # per arm

# name -> (model changes, train changes) from the recipe; "recipe" is the arm bench.nanogpt runs.
ABLATIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "recipe": ({}, {}),
    "XLA off": ({}, {"jit_compile": False}),
    "lr 1e-3 (nanoGPT's)": ({}, {"learning_rate": 1e-3}),
    "lr 4e-3": ({}, {"learning_rate": 4e-3}),
    "4 layers (nanoGPT's depth)": ({"num_layers": 4}, {}),
    "batch 12 (nanoGPT's)": ({}, {"batch_size": 12}),
    "batch 32": ({}, {"batch_size": 32}),
    "untied output head": ({"tie_embeddings": False}, {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=900, help="steps per arm (the recipe's at nanoGPT's 2,000)"
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    from bench import report

    workdir = Path(tempfile.mkdtemp(prefix="textlab-lm-recipe-"))
    results: dict[str, Any] = {"steps": args.steps, "recipe": {"model": RECIPE_MODEL, "train": RECIPE_TRAIN}}
    rows = []
    try:
        for i, (label, (model, train)) in enumerate(ABLATIONS.items()):
            arm = train_command(workdir, f"arm{i}", DEMO_SLICE, args.steps, VALIDATIONS,
                                {**RECIPE_MODEL, **model}, {**RECIPE_TRAIN, **train})  # fmt: skip
            results[label] = arm
            rows.append([label, arm["val_loss"], arm["wall_s"]])
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    base = results["recipe"]
    for row in rows:
        row += [f"{row[1] - base['val_loss']:+.3f}", f"{row[2] / base['wall_s']:.2f}x"]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    table = report.table(
        ["arm (one change from the recipe)", "val loss", "wall s", "loss vs recipe", "wall vs recipe"], rows
    )
    notes = (
        f"Each arm: `app train --config C` on assets/demo/shakespeare_1mb.txt (90/10, char tokenizer), "
        f"{args.steps} steps, validation every 1/{VALIDATIONS} of them, the whole command timed, the final evaluation's loss "
        "on the whole validation split. The recipe: 2 layers x 4 heads x 128, context 64, dropout 0, batch "
        f"{RECIPE_TRAIN['batch_size']}, AdamW lr {RECIPE_TRAIN['learning_rate']:g} (5% warm-up, cosine to 10%, "
        "weight decay 0.1, clip 1.0), tied head, jit_compile=True. "
        "One run per arm, one after the other, nothing else running."
    )
    report.write("lm_recipe", "A language model's recipe, one change at a time", results, table, notes)
    print(table)


if __name__ == "__main__":
    main()
