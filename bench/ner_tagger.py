"""Named-entity taggers against a CRF on word features (sklearn-crfsuite), side by side on the engine's split.

The sets: ner_twitter.conll (../shared/data) and the two of bench.ner_datasets (Hebrew news words, Chinese news
characters; run `python -m bench.ner_datasets` first), one after another in one process.

Every column uses the token-classifier task's own split of the CoNLL file (data.splits.split_frame over
sentences, val 0.1, test 0.1, seed 1337) and is scored by models.tasks.token_classifier.entity_metrics
(entity-level exact match, checked against seqeval in tests/data/test_bio_decoding.py). The CRF is the classic
peer: lbfgs, L1/L2 picked on the validation split, features of the word and its neighbours (lowercase form,
prefixes and suffixes, shape, case, digits), the feature set of the sklearn-crfsuite tutorial.

    .venv/bin/python -m bench.ner_datasets && .venv/bin/python -m bench.ner_tagger --json bench/results/ner_tagger.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, SHARED
from bench.datasets import DATA

SEED = 1337
CRF_REGULARISATION = ((0.1, 0.01), (0.05, 0.05), (0.5, 0.01), (0.01, 0.1))  # (c1, c2), picked on validation
# What the default recipe (the CRF kind) is compared with: the neural tagger's recipe, an ordinary run.
ARMS: dict[str, list[str]] = {
    "default recipe": [],
    "BiLSTM on word features (--model lstm)": ["--model", "lstm"],
}
# The pretrained + fine-tuned tagger: a masked LM (Transformer tiny, WordPiece) pretrained on the file's own
# training sentences (the LM split of a CoNLL file is the tagger's: same sentences, same seed; no val/test text),
# then fine-tuned as a tagger with the BiLSTM recipe's optimisation (up to 30 epochs, early stopping on
# validation entity F1).
PRETRAIN = ["--objective", "masked_lm", "--model", "transformer", "--size", "tiny", "--tokenizer", "wordpiece",
            "--vocab-size", "4000", "--seq-len", "128", "--max-steps", "1500", "--learning-rate", "0.002"]  # fmt: skip
FINETUNE = ["--epochs", "30", "--learning-rate", "0.001"]
FINETUNED = "pretrained (masked LM) + fine-tuned Transformer"
SETS = (SHARED / "ner_twitter.conll", DATA / "nemo_hebrew.conll", DATA / "msra_chinese.conll")


def word_features(words: list[str], i: int) -> dict[str, Any]:
    """The sklearn-crfsuite tutorial's features for word i (and its neighbours')."""

    def of(word: str, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}lower": word.lower(),
            f"{prefix}suffix3": word[-3:],
            f"{prefix}suffix2": word[-2:],
            f"{prefix}prefix3": word[:3],
            f"{prefix}istitle": word.istitle(),
            f"{prefix}isupper": word.isupper(),
            f"{prefix}isdigit": word.isdigit(),
            f"{prefix}hashtag": word.startswith("#"),
            f"{prefix}mention": word.startswith("@"),
        }

    features = {"bias": 1.0, **of(words[i], "")}
    features |= of(words[i - 1], "-1:") if i > 0 else {"BOS": True}
    features |= of(words[i + 1], "+1:") if i + 1 < len(words) else {"EOS": True}
    return features


def crf_run(sentences: list[list[str]], tags: list[list[str]], parts: Any) -> dict[str, Any]:
    import sklearn_crfsuite

    from models.tasks.token_classifier import entity_metrics

    def xy(frame: Any) -> tuple[list, list]:
        rows = frame.index.tolist()
        return (
            [[word_features(sentences[r], i) for i in range(len(sentences[r]))] for r in rows],
            [tags[r] for r in rows],
        )

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        xy(p) for p in (parts.train, parts.val, parts.test)
    )
    started, best = time.perf_counter(), None
    for c1, c2 in CRF_REGULARISATION:
        crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=c1, c2=c2, max_iterations=100)
        crf.fit(x_train, y_train)
        f1 = entity_metrics(y_val, crf.predict(x_val))["entity_f1"]
        if best is None or f1 > best[0]:
            best = (f1, crf, (c1, c2))
    assert best is not None
    metrics = entity_metrics(y_test, best[1].predict(x_test))
    return {**_headline(metrics), "c1_c2": best[2], "wall_s": round(time.perf_counter() - started, 1)}


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = ("entity_f1", "entity_precision", "entity_recall", "entity_macro_f1", "entities", "word_accuracy")
    per_type = {kind: round(v["f1"], 3) for kind, v in metrics["per_type"].items() if v["support"]}
    return {**{k: metrics[k] for k in keep}, "per_type_f1": per_type}


def tagger_run(
    path: Path, workspace: str, name: str, flags: list[str], command: str = "train"
) -> dict[str, Any]:
    """``python -m app train --task token_classifier --data FILE`` plus ``flags``, in this process, timed."""
    from app.cli import main

    started = time.perf_counter()
    argv = ["--workspace", workspace, command, "--task", "token_classifier", "--data", str(path)]
    code = main([*argv, "--name", f"bench-ner {name}", "--quiet", *flags])
    wall = time.perf_counter() - started
    runs = Path(workspace, "runs").iterdir()  # one tagger per workspace (and its pretraining run, if any)
    (run,) = (r for r in runs if json.loads((r / "config.json").read_text())["task"] == "token_classifier")
    report = json.loads((run / "eval.json").read_text()) if code == 0 else {}
    config = json.loads((run / "config.json").read_text())
    status = json.loads((run / "status.json").read_text())
    return {**(_headline(report) if report else {"error": code}), "wall_s": round(wall, 1), "run": run.name,
            "best_epoch": (status.get("best") or {}).get("epoch"), "recipe": config.get("recipe")}  # fmt: skip


def finetuned_run(path: Path, workspace: str) -> dict[str, Any]:
    """``python -m app pretrain`` (PRETRAIN) on the file, then ``finetune --from`` it as a tagger, both timed."""
    from app.cli import main

    started = time.perf_counter()
    argv = [
        "--workspace",
        workspace,
        "pretrain",
        "--data",
        str(path),
        "--name",
        "bench-ner pretrain",
        "--quiet",
    ]
    code = main([*argv, *PRETRAIN, "--seed", str(SEED)])
    pretrain_s = time.perf_counter() - started
    (parent,) = Path(workspace, "runs").iterdir()
    if code != 0:
        return {"error": code, "run": parent.name}
    history = [json.loads(line) for line in (parent / "metrics.jsonl").read_text().splitlines() if line]
    val_loss = [h["val_loss"] for h in history if "val_loss" in h]
    flags = ["--from", str(parent), *FINETUNE, "--seed", str(SEED)]
    result = tagger_run(path, workspace, FINETUNED, flags, command="finetune")
    return {
        **result,
        "pretrain_s": round(pretrain_s, 1),
        "pretrain_val_loss": val_loss[-1] if val_loss else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", default=[p for p in SETS if p.exists()])
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--only", help="run only the taggers whose name contains this")
    parser.add_argument("--no-peer", action="store_true", help="skip the CRF")
    parser.add_argument(
        "--split-seeds",
        type=int,
        nargs="*",
        default=[],
        help="more split seeds on which the CRF peer and the default recipe also run (a test split of a few "
        "hundred entities moves F1 by a few points from one split to the next)",
    )
    args = parser.parse_args()
    results = {}
    for path in args.data:
        results[path.stem] = compare(path, args.only, args.no_peer)
        if args.split_seeds:
            results[path.stem]["split_seeds"] = other_splits(path, args.split_seeds, results[path.stem])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


def compare(path: Path, only: str | None, no_peer: bool) -> dict[str, Any]:
    """The peer and every arm on one CoNLL file, on the token-classifier task's own split."""
    import tempfile

    import pandas as pd

    from data.conll import load_conll
    from data.splits import split_frame

    data = load_conll(path)
    frame = pd.DataFrame({"text": [" ".join(words) for words in data.sentences]})
    parts = split_frame(frame, 0.1, 0.1, seed=SEED, stratify=False)  # as models.tasks.token_classifier
    # The data path as seen from the repository (../shared/..., bench/.data/...), not this machine's.
    shown = os.path.relpath(path.resolve(), ROOT)
    results: dict[str, Any] = {"data": shown, "sentences": len(data.sentences)}
    if not no_peer:
        results["CRF (sklearn-crfsuite)"] = crf_run(data.sentences, data.tags, parts)
        print(json.dumps({path.stem: {"CRF": results["CRF (sklearn-crfsuite)"]}}), flush=True)
    workspace = tempfile.mkdtemp(prefix="textlab-ner-")
    for name, flags in ARMS.items():
        if only and only not in name:
            continue
        results[name] = tagger_run(path, tempfile.mkdtemp(dir=workspace), name, [*flags, "--seed", str(SEED)])
        print(json.dumps({path.stem: {name: results[name]}}), flush=True)
    if not only or only in FINETUNED:
        results[FINETUNED] = finetuned_run(path, tempfile.mkdtemp(dir=workspace))
        print(json.dumps({path.stem: {FINETUNED: results[FINETUNED]}}), flush=True)
    return results


def other_splits(path: Path, seeds: list[int], first: dict[str, Any]) -> dict[str, Any]:
    """Entity F1 of the CRF peer and of the default recipe on the splits of more seeds, and the means over
    those and the main split (SEED)."""
    import tempfile

    import pandas as pd

    from data.conll import load_conll
    from data.splits import split_frame

    data = load_conll(path)
    frame = pd.DataFrame({"text": [" ".join(words) for words in data.sentences]})
    f1 = {
        SEED: {
            "peer": first["CRF (sklearn-crfsuite)"]["entity_f1"],
            "default": first["default recipe"]["entity_f1"],
        }
    }
    for seed in seeds:
        parts = split_frame(frame, 0.1, 0.1, seed=seed, stratify=False)
        peer = crf_run(data.sentences, data.tags, parts)["entity_f1"]
        default = tagger_run(
            path,
            tempfile.mkdtemp(prefix="textlab-ner-"),
            f"default {seed}",
            ["--split-seed", str(seed), "--seed", str(seed)],
        )
        f1[seed] = {"peer": peer, "default": default["entity_f1"]}
        print(json.dumps({path.stem: {"split seed": seed, **f1[seed]}}), flush=True)
    means = {arm: round(sum(v[arm] for v in f1.values()) / len(f1), 4) for arm in ("peer", "default")}
    return {"entity_f1": {str(k): v for k, v in f1.items()}, "mean": means}


if __name__ == "__main__":
    main()
