"""A causal language model as a user trains it without settings: ``app train --task causal_lm --data FILE`` with
the engine's defaults (``--recipe none``) against the recipe (models.engine.lm_recipe), whole commands, on
corpora of different size and kind; scored on the final evaluation (the held-out test split).
Run alone: ``.venv/bin/python -m bench.lm_defaults [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import DEMO_SLICE, ROOT, SHARED

SMALL_CHARS = 100_000  # the small corpus: the demo slice's first 100,000 characters


def corpora(workdir: Path) -> dict[str, Path]:
    """name -> file: the demo slice, its first SMALL_CHARS characters, and shared/data/fortunes.csv (short
    quotations, one per row) where the shared folder is present."""
    small = workdir / "shakespeare_100k.txt"
    small.write_text(DEMO_SLICE.read_text(encoding="utf-8")[:SMALL_CHARS], encoding="utf-8")
    found = {"shakespeare 1 MB (one document)": DEMO_SLICE, "shakespeare 100 KB (one document)": small}
    if (SHARED / "fortunes.csv").is_file():
        found["fortunes.csv 2.7 MB (rows)"] = SHARED / "fortunes.csv"
    return found


def train(workdir: Path, data: Path, recipe: str) -> dict[str, Any]:
    """One whole ``app train --task causal_lm --data data --recipe recipe``: wall time, loss, steps, settings."""
    workspace = Path(tempfile.mkdtemp(dir=workdir))
    command = [sys.executable, "-m", "app", "--workspace", str(workspace), "train", "--task", "causal_lm",
               "--data", str(data), "--recipe", recipe]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stdout[-2000:]}")
    (run,) = list((workspace / "runs").iterdir())
    report = json.loads((run / "eval.json").read_text())
    status = json.loads((run / "status.json").read_text())
    config = json.loads((run / "config.json").read_text())
    return {"wall_s": round(wall, 1), "loss": round(report["loss"], 4), "steps": status.get("step"),
            "learning_rate": config["train"]["learning_rate"], "dropout": config["model"]["dropout"],
            "epochs": config["train"]["epochs"], "recipe": config.get("recipe", [])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    from bench import report

    workdir = Path(tempfile.mkdtemp(prefix="textlab-lm-defaults-"))
    results: dict[str, Any] = {}
    rows = []
    try:
        for name, path in corpora(workdir).items():
            before, after = train(workdir, path, "none"), train(workdir, path, "auto")
            results[name] = {"engine defaults": before, "recipe": after}
            for label, arm in (("engine defaults", before), ("recipe", after)):
                rows.append([name, label, f"{arm['learning_rate']:g}", arm["dropout"], arm["epochs"], arm["steps"],
                             arm["loss"], arm["wall_s"]])  # fmt: skip
            rows[-1] += [
                f"{after['loss'] - before['loss']:+.3f}",
                f"{after['wall_s'] / before['wall_s']:.2f}x",
            ]
            rows[-2] += ["", ""]
            print(rows[-2:], flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    table = report.table(
        ["corpus", "arm", "lr", "dropout", "epochs", "steps", "test loss", "wall s", "loss vs defaults",
         "wall vs defaults"], rows)  # fmt: skip
    notes = (
        "Each arm: `python -m app train --task causal_lm --data FILE --recipe none|auto`, nothing else given (the "
        "engine's default model: Transformer 'tiny', 2 layers x 64, context 128, batch 32, char tokenizer, 80/10/10 "
        "split), the whole command timed; test loss: the final evaluation's mean cross-entropy per character on "
        "the test split. 'engine defaults': AdamW lr 1e-3, dropout 0.1, 3 epochs. 'recipe': what "
        "models.engine.lm_recipe chooses (its reasons are in each run's config.json). One run per arm, the two arms "
        "of a corpus one after the other, nothing else running."
    )
    report.write("lm_defaults", "Language models: the engine's defaults vs the recipe", results, table, notes)
    print(table)


if __name__ == "__main__":
    main()
