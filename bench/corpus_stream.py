"""Streamed LM corpora at ~10 MB, ~100 MB and ~1 GB: tokenization throughput, time to the first training step
cold (encoding the corpus) and from the token cache, a resume, peak RSS and training tokens/s.

Each arm is a whole ``app train`` (or ``app resume``) command in its own process, one after another, in a fresh
workspace per corpus, timed from the process start to the first logged training step (``log_every`` 1) by
watching the run's metrics.jsonl; peak RSS from ``wait4``. Corpora are the demo's public-domain Shakespeare
slice repeated to each size (bench/.data/, git-ignored). ``TEXTLAB_STREAM_MB=0`` makes every size stream.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import DEMO_SLICE, ROOT
from bench.corpus_memory import DATA

STEPS = 30


def corpus_file(megabytes: int) -> Path:
    """The demo slice repeated to ``megabytes`` MB (written copy by copy: the bench holds one copy)."""
    path = DATA / f"shakespeare_{megabytes}mb.txt"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        text = DEMO_SLICE.read_bytes()
        copies = -(-megabytes * 1_000_000 // len(text))
        with open(path.with_suffix(".part"), "wb") as out:
            for _ in range(copies):
                out.write(text)
        os.replace(path.with_suffix(".part"), path)
    return path


def config_file(workspace: Path, data: Path, tokenizer: str, max_steps: int) -> Path:
    """A run config: the engine's defaults for a causal LM, with ``log_every`` 1 to time the first step."""
    from models.config import RunConfig

    config = RunConfig(task="causal_lm", name="stream", workspace=str(workspace))
    config.data.path = str(data)
    config.tokenizer.kind = tokenizer
    config.train.max_steps = max_steps
    config.train.log_every = 1
    config.train.checkpoint_every = 10
    path = workspace / f"config-{max_steps}.json"
    config.save(path)
    return path


def timed(
    command: list[str], workspace: Path, run: Path | None = None, kill_after_step: int | None = None
) -> dict[str, Any]:
    """Run ``command`` (a new run in ``workspace``, or the existing ``run`` it resumes): wall time, seconds to
    the run's first newly logged step, peak RSS, the run dir; killed once it logs ``kill_after_step``."""
    env = dict(os.environ, TEXTLAB_STREAM_MB="0")
    runs = workspace / "runs"
    known = set(runs.glob("*")) if runs.exists() else set()
    before = _steps(run) if run else []
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first_step, status, usage = None, None, None
    while True:  # wait4 with WNOHANG, not poll(): poll would reap the child and lose its rusage
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        run = run or next(iter(set(runs.glob("*")) - known), None)
        steps = _steps(run) if run else []
        if len(steps) > len(before) and first_step is None:
            first_step = time.perf_counter() - start
        if kill_after_step and steps and steps[-1] >= kill_after_step:
            process.send_signal(signal.SIGKILL)
            _, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.05)
    code = os.waitstatus_to_exitcode(status)
    if code and not kill_after_step:
        raise SystemExit(
            f"{' '.join(command)} failed (exit {code}): {process.stderr.read().decode()[-2000:]}"
        )
    return {"wall_s": round(time.perf_counter() - start, 1),
            "first_step_s": None if first_step is None else round(first_step, 1),
            "peak_mb": round(usage.ru_maxrss / 1024), "run": str(run) if run else None}  # fmt: skip


def _steps(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(x)["step"] for x in lines if '"kind": "step"' in x and x.endswith("}")]


def tokens_per_s(run: Path) -> float:
    rates = [r["tokens_per_s"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
             if r.get("kind") == "step" and r["step"] > 5]  # fmt: skip
    return round(sorted(rates)[len(rates) // 2]) if rates else float("nan")


def measure(megabytes: int, tokenizer: str) -> dict[str, Any]:
    data = corpus_file(megabytes)
    workspace = Path(tempfile.mkdtemp(prefix="textlab-stream-"))
    app = [sys.executable, "-m", "app", "--workspace", str(workspace)]
    try:
        cfg = config_file(workspace, data, tokenizer, STEPS)
        cold = timed(app + ["train", "--config", str(cfg), "--quiet"], workspace)
        report = json.loads((Path(cold["run"]) / "data_report.json").read_text())
        long_cfg = config_file(workspace, data, tokenizer, 400)
        cached = timed(app + ["train", "--config", str(long_cfg), "--quiet"], workspace, kill_after_step=25)
        resumed = timed(app + ["resume", cached["run"], "--quiet"], workspace, run=Path(cached["run"]),
                        kill_after_step=60)  # fmt: skip
        return {
            "megabytes": round(data.stat().st_size / 1e6, 1),
            "tokens": report["tokens"],
            "streamed": report["streamed"],
            "cold": {**cold, "tokens_per_s": tokens_per_s(Path(cold["run"]))},
            "cached": {**cached, "cache": json.loads((Path(cached["run"]) / "data_report.json").read_text())["streamed"]["cache"]},
            "resume": resumed,
        }  # fmt: skip
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000], help="corpus sizes in MB")
    parser.add_argument("--tokenizer", default="wordpiece", choices=("wordpiece", "char"))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    from bench import report

    results = {"tokenizer": args.tokenizer, "steps": STEPS, "sizes": {}}
    rows = []
    for size in args.sizes:
        entry = measure(size, args.tokenizer)
        results["sizes"][size] = entry
        s, cold, cached, resume = entry["streamed"], entry["cold"], entry["cached"], entry["resume"]
        rows.append([f"{entry['megabytes']:,} MB", f"{sum(entry['tokens'].values()):,}", s["mb_per_s"],
                     s["encode_seconds"], cold["first_step_s"], cached["first_step_s"], resume["first_step_s"],
                     max(cold["peak_mb"], cached["peak_mb"], resume["peak_mb"]), cold["tokens_per_s"]])  # fmt: skip
        print(rows[-1], flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    table = report.table(
        ["corpus", "tokens", "tokenization MB/s", "encoding s", "first step s (cold)", "first step s (cache)",
         "first step s (resume)", "peak RSS MB", "training tokens/s"], rows)  # fmt: skip
    notes = (
        f"Whole commands, one at a time, nothing else running: `app train --config C` (the engine's causal-LM "
        f"defaults: transformer tiny, seq_len 128, batch 32; {args.tokenizer} tokenizer; {STEPS} steps) in a fresh "
        "workspace (cold: the tokenizer learns from a 16 MB sample and the corpus is encoded into token shards), "
        "then a second run of the same corpus (cache: the shards are reused), killed after step 25 and resumed "
        "(`app resume RUN`: its first new step). First step = process start to the first logged training step "
        "(log_every 1), including imports, tokenizer, encoding, model build and compilation. Peak RSS: the largest "
        "of the three processes (wait4's ru_maxrss; about 0.9-1.0 GB of it is TensorFlow's import alone). "
        "Training tokens/s: the median of the cold run's step logs after step 5."
    )
    report.write("corpus_stream", "Streamed corpora: 10 MB, 100 MB and 1 GB", results, table, notes)
    print(table)


if __name__ == "__main__":
    main()
