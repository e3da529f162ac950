"""Teacher vs distilled student vs the same student trained directly, on the same split, as a user runs them.

Per labelled set: the teacher is what `python -m app train --data FILE` gives (the default recipe); the student
is `distill --from TEACHER` (the engine's default student; `--kind`/`--size` name another), its other settings
from the recipe; the direct arm is `train --data FILE --model KIND --size SIZE` with the student's kind and size
(and `--max-ngrams N`, a linear student's n-gram count: N n-grams, the most frequent, where the student keeps
its teacher's heaviest N), the same architecture and settings without a teacher. Every run is
exported at float32 and int8 (`export RUN --quantization all`) and read back by LiteRT: model.tflite size,
agreement with Keras, and milliseconds per single-example call. Whole commands are timed.

    .venv/bin/python -m bench.distillation --seeds 1337 7 --json bench/results/distillation.json

With several ``--seeds`` the student and direct arms run once per seed (their initialisation, order and perturbed
copies change; the split and the teacher do not); with several ``--split-seeds`` each split gets its own teacher
(the linear kinds are deterministic: only another split tells a difference from noise). The first split's and
seed's runs are the ones exported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import table, write

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
QUANTIZATIONS = ("float32", "int8")


def cli(workspace: Path, *argv: str) -> tuple[Path | None, float]:
    """Run `python -m app --workspace W ARGV`; the new run's folder (if one was made) and the wall seconds."""
    runs = workspace / "runs"
    before = set(runs.glob("*")) if runs.is_dir() else set()
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "app", "--workspace", str(workspace), *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr[-3000:]}")
    new = sorted(set(runs.glob("*")) - before) if runs.is_dir() else []
    return (new[-1] if new else None), wall


def scored(run: Path, wall: float) -> dict[str, Any]:
    """A finished run's test scores, size and LiteRT figures per quantization (after its export)."""
    report = json.loads((run / "eval.json").read_text())
    model = json.loads((run / "config.json").read_text())["model"]
    arm: dict[str, Any] = {
        "run": run.name,
        "kind": model["kind"],
        "preset": model["preset"] if model["kind"] not in ("linear", "crf") else None,
        "params": report.get("params"),
        "macro_f1": report["macro_f1"],
        "accuracy": report["accuracy"],
        "train_wall_s": round(wall, 1),
    }
    if "teacher" in report:
        arm["teacher"] = report["teacher"]
    for q in QUANTIZATIONS:
        exported = json.loads((run / "exports" / q / "report.json").read_text())
        checks = exported["verification"]
        arm[q] = {
            "tflite_bytes": exported["tflite_bytes"],
            "agreement": checks.get("top1_agreement"),
            "tflite_accuracy": checks.get("litert_accuracy"),
            "ms_per_call": (checks.get("litert_ms_per_call") or {}).get("classify"),
        }
    return arm


def run_set(name: str, path: Path, workspace: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Per split seed: its teacher, then the student and the direct arm at each seed (the first split's and
    seed's runs exported)."""
    chosen = [*(["--model", args.kind] if args.kind else []), *(["--size", args.size] if args.size else [])]
    augment = [] if args.augment is None else ["--augment", str(args.augment)]
    arms: dict[str, tuple[Path, float]] = {}
    seeds: dict[str, dict[str, float]] = {}
    for split in args.split_seeds:
        data = ["--data", str(path), "--split-seed", str(split)]
        teacher, teacher_s = cli(workspace, "train", *data, "--quiet")
        arms.setdefault("teacher", (teacher, teacher_s))
        for seed in args.seeds:
            seeded = ["--seed", str(seed), "--quiet"]
            distilled, distilled_s = cli(
                workspace, "distill", "--from", teacher.name, *augment, *chosen, *seeded
            )
            # The direct arm: the architecture the student got (the engine's choice unless --kind/--size say).
            taught = json.loads((distilled / "config.json").read_text())
            model, cap = taught["model"], taught["tokenizer"].get("max_ngrams")
            student = ["--model", model["kind"], "--size", model["preset"]]
            student += ["--max-ngrams", str(cap)] if cap else []  # as many n-grams, the most frequent
            direct, direct_s = cli(workspace, "train", *data, *student, *seeded)
            arms.setdefault("direct", (direct, direct_s))
            arms.setdefault("distilled", (distilled, distilled_s))
            key = f"{split}/{seed}"
            runs = (("teacher", teacher), ("direct", direct), ("distilled", distilled))
            seeds[key] = {arm: macro_f1(run) for arm, run in runs}
            print(name, key, seeds[key], flush=True)
    for run, _ in arms.values():
        cli(workspace, "export", run.name, "--quantization", "all")
    out: dict[str, Any] = {arm: scored(run, wall) for arm, (run, wall) in arms.items()}
    out["seeds"] = seeds
    print(json.dumps({name: out}, indent=1), flush=True)
    return out


def macro_f1(run: Path) -> float:
    return float(json.loads((run / "eval.json").read_text())["macro_f1"])


def seed_table(results: dict[str, dict[str, Any]]) -> str:
    """Per set, split seed and seed: the teacher's, the direct arm's and the student's test macro-F1, the
    student's share of its teacher's, and the means."""
    rows = []
    arms = ("teacher", "direct", "distilled")
    for name, result in results.items():
        seeds = result["seeds"]
        for key, f1 in seeds.items():
            share = f1["distilled"] / f1["teacher"] if f1.get("teacher") else None
            rows.append([name, key, *(round(f1.get(a, float("nan")), 4) for a in arms), _share(share)])
        means = [sum(f1.get(a, float("nan")) for f1 in seeds.values()) / len(seeds) for a in arms]
        rows.append([name, "mean", *(round(m, 4) for m in means), _share(means[2] / means[0])])
    headers = ["data", "split seed / seed", "teacher", "direct", "distilled", "distilled / teacher"]
    return table(headers, rows)


def _share(value: float | None) -> str:
    return "" if value is None or value != value else f"{value:.1%}"


def markdown(results: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name, arms in results.items():
        teacher_f1 = arms["teacher"]["macro_f1"]
        teacher_bytes = arms["teacher"]["float32"]["tflite_bytes"]
        for arm in ("teacher", "direct", "distilled"):
            a = arms[arm]
            f32, i8 = a["float32"], a["int8"]
            rows.append(
                [
                    name,
                    f"{arm} ({a['kind']}{' ' + a['preset'] if a.get('preset') else ''})",
                    round(a["macro_f1"], 4),
                    f"{a['macro_f1'] / teacher_f1:.1%}",
                    f"{f32['tflite_bytes'] / 1024:.0f}",
                    f"{i8['tflite_bytes'] / 1024:.0f}",
                    f"{f32['tflite_bytes'] / teacher_bytes:.3f}",
                    a["params"],
                    f32["ms_per_call"],
                    i8["ms_per_call"],
                    i8["agreement"],
                    a["train_wall_s"],
                ]
            )
    headers = [
        "data",
        "arm (kind)",
        "test macro-F1",
        "of teacher's",
        "float32 KiB",
        "int8 KiB",
        "size / teacher's (float32)",
        "parameters",
        "LiteRT ms float32",
        "LiteRT ms int8",
        "int8 agreement with Keras",
        "train wall s",
    ]
    return table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=["sms_spam", "fortunes"])
    parser.add_argument("--kind", help="the student's model kind (default: the engine's choice)")
    parser.add_argument("--size", help="the student's size preset (default: the engine's choice)")
    parser.add_argument("--augment", type=int, help="distill --augment N (default: the engine's choice)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337], help="the student arms' --seed each")
    parser.add_argument(
        "--split-seeds", type=int, nargs="+", default=[1337], help="a teacher per train/val/test split seed"
    )
    parser.add_argument("--workspace", default="/tmp/textlab-bench-distill")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--section", default="distillation", help="BENCHMARKS.md section (another name keeps an earlier one)"
    )
    args = parser.parse_args()
    workspace = Path(args.workspace)
    results = {}
    for name in args.only:
        path = SHARED / f"{name}.csv"
        if not path.exists():
            raise SystemExit(f"{path} is missing: this benchmark reads ../shared/data")
        results[name] = run_set(name, path, workspace / name, args)
    settings = {
        "kind": args.kind,
        "size": args.size,
        "augment": args.augment,
        "seeds": args.seeds,
        "split_seeds": args.split_seeds,
    }
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": settings, "results": results}, indent=2) + "\n")
    write(
        args.section,
        "Distillation: teacher vs distilled student vs the same student trained directly"
        + ("" if args.section == "distillation" else f" ({', '.join(args.only)})"),
        {"settings": settings, "results": results},
        markdown(results) + "\n\n" + seed_table(results),
    )


if __name__ == "__main__":
    main()
