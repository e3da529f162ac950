"""Teacher vs distilled student vs the same student trained directly, on the same split, as a user runs them.

Per labelled set: the teacher is what `python -m app train --data FILE` gives (the default recipe); the student
is `distill --from TEACHER --model KIND --size SIZE` (its other settings from the recipe); the direct arm is
`train --data FILE --model KIND --size SIZE`, the same architecture and settings without a teacher. Every run is
exported at float32 and int8 (`export RUN --quantization all`) and read back by LiteRT: model.tflite size,
agreement with Keras, and milliseconds per single-example call. Whole commands are timed.

    .venv/bin/python -m bench.distillation --json bench/results/distillation.json
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
    arm: dict[str, Any] = {
        "run": run.name,
        "kind": json.loads((run / "config.json").read_text())["model"]["kind"],
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
    student = ["--model", args.kind, "--size", args.size, "--quiet"]
    teacher, teacher_s = cli(workspace, "train", "--data", str(path), "--quiet")
    direct, direct_s = cli(workspace, "train", "--data", str(path), *student)
    augment = [] if args.augment is None else ["--augment", str(args.augment)]
    distilled, distilled_s = cli(workspace, "distill", "--from", teacher.name, *augment, *student)
    arms = {
        "teacher": (teacher, teacher_s),
        "direct": (direct, direct_s),
        "distilled": (distilled, distilled_s),
    }
    for run, _ in arms.values():
        cli(workspace, "export", run.name, "--quantization", "all")
    out = {arm: scored(run, wall) for arm, (run, wall) in arms.items()}
    print(json.dumps({name: out}, indent=1), flush=True)
    return out


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
                    f"{arm} ({a['kind']})",
                    round(a["macro_f1"], 4),
                    f"{a['macro_f1'] / teacher_f1:.1%}",
                    f"{f32['tflite_bytes'] / 1024:.0f}",
                    f"{i8['tflite_bytes'] / 1024:.0f}",
                    f"{f32['tflite_bytes'] / teacher_bytes:.3f}",
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
        "LiteRT ms float32",
        "LiteRT ms int8",
        "int8 agreement with Keras",
        "train wall s",
    ]
    return table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=["sms_spam", "fortunes"])
    parser.add_argument("--kind", default="bag", help="the student's model kind (and the direct arm's)")
    parser.add_argument("--size", default="tiny", help="the student's size preset")
    parser.add_argument("--augment", type=int, help="distill --augment N (default: the engine's choice)")
    parser.add_argument("--workspace", default="/tmp/textlab-bench-distill")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    workspace = Path(args.workspace)
    results = {}
    for name in args.only:
        path = SHARED / f"{name}.csv"
        if not path.exists():
            raise SystemExit(f"{path} is missing: this benchmark reads ../shared/data")
        results[name] = run_set(name, path, workspace / name, args)
    settings = {"kind": args.kind, "size": args.size, "augment": args.augment}
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": settings, "results": results}, indent=2) + "\n")
    write(
        "distillation",
        "Distillation: teacher vs distilled student vs the same student trained directly",
        {"settings": settings, "results": results},
        markdown(results),
    )


if __name__ == "__main__":
    main()
