"""Training throughput (tokens/s) of our Transformer LM through the engine on each Keras backend vs plain PyTorch.

Each arm is its own process (bench.worker), set up and compiled once; then the arms take turns (rotating the
order every round) fitting the same number of steps, so each ratio compares measurements taken side by side.
Reported: per-arm medians over rounds and the median of the per-round ratios to the reference, by wall clock
(what a user waits for) and by process CPU time (work done; robust to other load on a shared machine).
``--profile`` adds where the time goes: op time vs framework overhead (torch.profiler, torch backend vs the
reference), the input pipeline's cost per batch, and single-thread GEMM speed of each backend.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Worker, close_all, median, shakespeare_slice, start_workers, thread_env
from bench.lm_configs import WORKLOADS, lm_config
from models.config import BACKENDS

# The engine's CPU defaults (models/engine/runtime.py): oneDNN kernels for TensorFlow, glibc malloc tuning in-process.
# The "before" arms switch them off the way a user would; the reference gets the same malloc setting as the
# arms it is compared with, since it is a process setting.
BEFORE_ENV = {"TF_ENABLE_ONEDNN_OPTS": "0", "TEXTLAB_MALLOC_TUNING": "0"}
MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": "33554432",
    "MALLOC_TRIM_THRESHOLD_": "4294967296",
    "MALLOC_TOP_PAD_": "268435456",
}
REFERENCE = "PyTorch reference"
REFERENCE_MALLOC = "PyTorch reference + malloc tuning"
EXPORT_BATCHES = 64  # the reference cycles over this many of the engine's own batches


def before_label(backend: str) -> str:
    return (
        f"{backend} before (Eigen matmuls, glibc malloc defaults)"
        if backend == "tensorflow"
        else (f"{backend} before (glibc malloc defaults)")
    )


DEFAULT_ARMS = [
    {"backend": b, "label": f"{b} (engine defaults)", "ref": REFERENCE_MALLOC, "base": before_label(b)}
    for b in BACKENDS
]
# The speed work: every knob tried, measured in the same run as the arm it changes ("base").
TUNED_ARMS = [
    *({"backend": b, "label": before_label(b), "env": BEFORE_ENV} for b in BACKENDS),
    {"backend": "tensorflow", "label": "tensorflow jit_compile=True", "train": {"jit_compile": True},
     "ref": REFERENCE_MALLOC, "base": "tensorflow (engine defaults)"},
    {"backend": "tensorflow", "label": "tensorflow spe=16", "train": {"steps_per_execution": 16},
     "ref": REFERENCE_MALLOC, "base": "tensorflow (engine defaults)"},
    {"backend": "tensorflow", "label": "tensorflow jit_compile=True, spe=16", "ref": REFERENCE_MALLOC,
     "train": {"jit_compile": True, "steps_per_execution": 16}, "base": "tensorflow jit_compile=True"},
    {"backend": "jax", "label": "jax spe=16", "train": {"steps_per_execution": 16}, "ref": REFERENCE_MALLOC,
     "base": "jax (engine defaults)"},
]  # fmt: skip
# Tried and left out of the default run (no gain, or minutes to compile): `--variants slow` adds them.
SLOW_ARMS = [
    {"backend": "torch", "label": "torch jit_compile=True (torch.compile)", "train": {"jit_compile": True},
     "ref": REFERENCE_MALLOC, "base": "torch (engine defaults)"},
]  # fmt: skip


def arms_for(variants: list[str]) -> list[dict[str, Any]]:
    chosen = {"defaults": DEFAULT_ARMS, "tuned": TUNED_ARMS, "slow": SLOW_ARMS}
    return [{"kind": "keras", "train": {}, "ref": REFERENCE, **arm} for v in variants for arm in chosen[v]]


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    data = shakespeare_slice()
    specs = []
    for arm in arms_for(args.variants):
        config = lm_config(args.workload, data, str(workdir / "ws"), arm["backend"], **arm["train"])
        specs.append({**arm, "config": config.to_dict()})
    first = start_workers(specs[:1], args.threads, workdir)[0]
    batches = workdir / "batches.npz"
    first.call("export", path=str(batches), steps=EXPORT_BATCHES)
    first.call("build")  # an untrained engine model, only to prove the reference is the same network
    first.call("dump_weights", path=str(workdir / "weights.npz"))
    ref_base = {
        "kind": "reference",
        "data": str(batches),
        "model": first.setup["model"],
        "train": first.setup["train"],
    }
    ref_specs = [{**ref_base, "label": REFERENCE}]
    if any(spec["ref"] == REFERENCE_MALLOC for spec in specs):
        ref_specs.append({**ref_base, "label": REFERENCE_MALLOC, "env": MALLOC, "base": REFERENCE})
    refs = start_workers(ref_specs, args.threads, workdir)
    workers = [*refs, first]
    same = refs[0].call("check_same_network", path=str(workdir / "weights.npz"))
    print(f"  same network: {same}", flush=True)
    workers += start_workers(specs[1:], args.threads, workdir)
    failed: dict[str, str] = {}
    try:
        builds = build_all(workers, args.warmup, failed)
        workers = [w for w in workers if w.label not in failed]
        rounds = run_rounds(workers, args)
        profile = run_profile(workers, args.steps) if args.profile else None
    finally:
        close_all(workers)
    arms = {}
    for w in workers:
        r = rounds[w.label]
        arms[w.label] = {
            "compared_with": w.spec.get("ref", w.label),
            "base": w.spec.get("base"),
            "tokens_per_s_median": median(r["wall"]),
            "ratio_vs_reference_median": median(r["wall_ratio"]),
            "tokens_per_cpu_s_median": median(r["cpu"]),
            "cpu_ratio_vs_reference_median": median(r["cpu_ratio"]),
            "engine_logged_tokens_per_s_median": median(r["logged"]) if r["logged"] else None,
            "rounds": r,
            "env": w.spec.get("env", {}),
            "setup": w.setup,
            "build": builds[w.label],
        }
    return {"arms": arms, "reference": REFERENCE, "failed": failed, "profile": profile, "same_network": same,
            "model": first.setup["model"], "train": first.setup["train"],
            "params": builds[REFERENCE]["params"], "tokens_per_batch": first.setup["tokens_per_batch"]}  # fmt: skip


def build_all(workers: list[Worker], warmup: int, failed: dict[str, str]) -> dict[str, Any]:
    """Build + compile + warm up each arm in turn; an arm that cannot build is reported, not fatal."""
    builds = {}
    for w in workers:
        try:
            builds[w.label] = w.call("build", warmup_steps=warmup)
            print(f"  built {w.label}: {builds[w.label]}", flush=True)
        except RuntimeError as err:
            failed[w.label] = str(err)
            print(f"  FAILED {w.label}: {err}", flush=True)
    return builds


def run_rounds(workers: list[Worker], args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    keys = ("wall", "cpu", "wall_ratio", "cpu_ratio", "sys_share", "page_faults", "logged")
    out: dict[str, dict[str, list[float]]] = {w.label: {k: [] for k in keys} for w in workers}
    for r in range(args.rounds):
        order = workers[r % len(workers) :] + workers[: r % len(workers)]
        results = {w.label: w.call("fit", steps=args.steps) for w in order}
        for w in workers:
            label, res = w.label, results[w.label]
            ref = w.spec.get("ref", label)  # a reference arm is compared with itself
            row = out[label]
            row["wall"].append(res["tokens_per_s"])
            row["cpu"].append(res["tokens_per_cpu_s"])
            row["wall_ratio"].append(res["tokens_per_s"] / results[ref]["tokens_per_s"])
            row["cpu_ratio"].append(res["tokens_per_cpu_s"] / results[ref]["tokens_per_cpu_s"])
            row["sys_share"].append(res["sys_share"])
            row["page_faults"].append(res["page_faults_per_step"])
            if res.get("engine_tokens_per_s"):
                row["logged"].append(res["engine_tokens_per_s"])
        print(
            f"  round {r + 1}: " + ", ".join(f"{k} {v['tokens_per_s']:.0f}" for k, v in results.items()),
            flush=True,
        )
    return out


def run_profile(workers: list[Worker], steps: int) -> dict[str, Any]:
    """Op time vs overhead (torch-side arms), pipeline cost per batch, and GEMM speed, one arm per backend."""
    out: dict[str, Any] = {}
    for w in workers:
        if w.spec["kind"] == "keras" and w.spec.get("train"):
            continue  # same process setup as another arm: nothing new to see
        key = w.spec.get("backend", "reference")
        entry = {"gemm_us": w.call("gemm_probe")["gemm_us"]}
        if key in ("torch", "reference"):
            entry["ops"] = w.call("op_profile", steps=min(steps, 10))
        if key != "reference":
            entry["pipeline"] = w.call("pipeline_probe", steps=steps)
        out[w.label] = entry
        print(f"  profile {w.label}: {entry}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="shakespeare")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for every framework (default 1)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=32, help="training steps per arm per round")
    parser.add_argument("--warmup", type=int, default=16, help="untimed steps after compiling")
    parser.add_argument("--variants", default="defaults,tuned", help="comma list of: defaults, tuned, slow")
    parser.add_argument("--profile", action="store_true", help="also profile (op time, pipeline, GEMM)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (worker logs, run dirs)")
    args = parser.parse_args()
    args.variants = args.variants.split(",")

    from bench import report

    workdir = Path(tempfile.mkdtemp(prefix="textlab-throughput-"))
    t0 = time.time()
    try:
        results = measure(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results.update({"workload": args.workload, "threads": args.threads, "thread_env": thread_env(args.threads),
                    "rounds": args.rounds, "steps_per_round": args.steps, "warmup_steps": args.warmup,
                    "wall_s": time.time() - t0})  # fmt: skip
    publish(report, results)


def publish(report: Any, results: dict[str, Any]) -> None:
    from bench.throughput_notes import analysis

    rows = []
    for label, arm in results["arms"].items():
        build, last = arm["build"], arm["rounds"]
        logged = arm["engine_logged_tokens_per_s_median"]
        rows.append([
            label,
            arm["compared_with"],
            round(arm["tokens_per_s_median"]),
            f"{arm['ratio_vs_reference_median']:.2f}x",
            round(arm["tokens_per_cpu_s_median"]),
            f"{arm['cpu_ratio_vs_reference_median']:.2f}x",
            f"{median(last['sys_share']):.0%}",
            round(median(last["page_faults"])),
            round(logged) if logged else "-",
            build.get("jit_compile", "-"),
            build.get("steps_per_execution", "-"),
            f"{build['build_s'] + build['warmup_s']:.0f} s",
        ])  # fmt: skip
    for label, error in results["failed"].items():
        rows.append([label, "-", "failed", "-", "-", "-", "-", "-", "-", "-", "-", error[:90]])
    table = report.table(
        ["arm", "compared with", "tokens/s (wall)", "vs ref. (wall)", "tokens per CPU-s", "vs ref. (CPU)",
         "kernel share of CPU", "page faults / step", "engine-logged tokens/s", "jit_compile",
         "steps_per_execution", "build + warm-up"],
        rows,
    )  # fmt: skip
    m, t = results["model"], results["train"]
    env = ", ".join(f"{k}={v}" for k, v in results["thread_env"].items() if k != "TF_CPP_MIN_LOG_LEVEL")
    same = results["same_network"]
    notes = (
        f"Workload `{results['workload']}`: char-level causal LM on the 1 MB Shakespeare slice, {m['num_layers']} "
        f"layers x {m['hidden_dim']} wide, {m['num_heads']} heads, FFN {m['intermediate_dim']}, context "
        f"{m['seq_len']}, batch {t['batch_size']} ({results['tokens_per_batch']} tokens/step), dropout "
        f"{m['dropout']}, tied embeddings, {results['params']:,} parameters in both frameworks, float32. Keras "
        "arms: the engine's pipeline (models.tasks.prepare), model (models.engine.lineage), compile "
        "(models.engine.compile.compile_model) and EngineMonitor callback, one `model.fit` per round as models.engine.train calls "
        "it. The reference (bench/torch_reference.py) trains on the engine's own batches. Same network: with the "
        f"engine model's weights copied in, the reference's logits differ by at most "
        f"{same['max_abs_logit_diff']:.1e} (logits up to {same['logit_scale']:.1f}). Medians over "
        f"{results['rounds']} rounds x {results['steps_per_round']} steps per arm (order rotated each round) after "
        f"{results['warmup_steps']} untimed warm-up steps; ratios are medians of per-round ratios to the arm in "
        f"\"compared with\". Threads: {results['threads']} for every framework ({env}; torch.set_num_threads and "
        "tf.config.threading set to match). Process environment of tuned arms: "
        + "; ".join(f"{k}: {' '.join(f'{a}={b}' for a, b in v['env'].items())}" for k, v in results["arms"].items()
                    if v["env"])
        + f". Total wall time {results['wall_s']:.0f} s. The machine is shared: the CPU-time columns are the "
        "steadier measure of work done; the wall-clock ones are what a user waits for."
    )  # fmt: skip
    name = f"throughput_{results['workload']}" + (
        "" if results["threads"] == 1 else f"_t{results['threads']}"
    )
    title = f"Training throughput ({results['workload']}, {results['threads']} thread(s))"
    report.write(name, title, results, table, notes + "\n\n" + analysis(results))
    print(table)
    print(analysis(results))


if __name__ == "__main__":
    main()
