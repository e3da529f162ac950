"""Shared benchmark plumbing: equal thread settings, the 1 MB Shakespeare slice, medians, worker processes."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
DEMO_SLICE = ROOT / "assets" / "demo" / "shakespeare_1mb.txt"
REPLY = "@@bench "  # prefix of a worker's reply line; TF/Keras may print anything else on stdout
SLICE_BYTES = 1_000_000


def thread_env(threads: int) -> dict[str, str]:
    """Environment that gives TensorFlow, XLA (JAX, TF jit_compile), PyTorch and OpenMP the same thread count.

    Set before any framework is imported; bench.worker also calls the runtime setters (torch.set_num_threads,
    tf.config.threading) because some libraries read the environment only once.
    """
    env = {
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    # XLA:CPU runs Eigen on all cores unless told otherwise; one thread needs both flags.
    if threads == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    else:
        env["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}"
    return env


def measured(args: Any, measure: Any, **fields: Any) -> dict[str, Any]:
    """``measure(args)`` on ``args.backend`` with ``args.threads`` threads, its results stamped with both,
    ``fields`` and the wall time. Set before Keras is imported: the backend and thread pools are read once."""
    os.environ.update(thread_env(args.threads))
    os.environ["KERAS_BACKEND"] = args.backend
    t0 = time.time()
    results = measure(args)
    results.update({"backend": args.backend, "threads": args.threads, **fields, "wall_s": time.time() - t0})
    return results


def shakespeare_slice() -> Path:
    """The demo slice if a colleague has bundled it, else the first ~1 MB of shared/data/shakespeare.txt cut at a
    line boundary (written to a temp file, so nothing in the repository changes)."""
    if DEMO_SLICE.exists():
        return DEMO_SLICE
    source = SHARED / "shakespeare.txt"
    if not source.exists():
        raise SystemExit(f"neither {DEMO_SLICE} nor {source} exists: the LM benchmarks need one of them")
    text = source.read_bytes()[:SLICE_BYTES]
    out = Path(tempfile.gettempdir()) / "textlab-bench-shakespeare_1mb.txt"
    out.write_bytes(text[: text.rfind(b"\n") + 1])
    return out


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def arm_label(arm: dict[str, Any]) -> str:
    return arm.get("label") or arm["kind"]


class Worker:
    """One benchmark subprocess (``python -m bench.worker``) that sets up once, then answers JSON commands.

    One process per Keras backend (a process can host only one) and one for the PyTorch reference; they are
    driven one at a time, so measurements never overlap.
    """

    def __init__(self, spec: dict[str, Any], threads: int, workdir: Path) -> None:
        self.label = arm_label(spec)
        self.spec = spec
        env = {**os.environ, **thread_env(threads), "PYTHONPATH": str(ROOT), **spec.get("env", {})}
        if "XLA_EXTRA" in env:  # an arm's extra XLA flags go after the thread flags
            env["XLA_FLAGS"] = f"{env['XLA_FLAGS']} {env.pop('XLA_EXTRA')}"
        if spec.get("backend"):
            env["KERAS_BACKEND"] = spec["backend"]
        self.log = open(workdir / f"{self.label.replace(' ', '_').replace('/', '_')}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", json.dumps({**spec, "threads": threads})],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            bufsize=1,
        )
        self.setup = self._read()

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(REPLY):
                reply = json.loads(line[len(REPLY) :])
                if "error" in reply:
                    raise RuntimeError(f"{self.label}: {reply['error']} (log: {self.log.name})")
                return reply
        raise RuntimeError(f"{self.label}: worker exited with {self.proc.wait()} (log: {self.log.name})")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("quit")
            except (RuntimeError, BrokenPipeError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def start_workers(specs: list[dict[str, Any]], threads: int, workdir: Path) -> list[Worker]:
    """Start workers one after another (set-up and compilation must not overlap other measurements)."""
    workers = []
    for spec in specs:
        t0 = time.perf_counter()
        workers.append(Worker(spec, threads, workdir))
        print(f"  started {workers[-1].label} in {time.perf_counter() - t0:.0f} s", flush=True)
    return workers


def close_all(workers: list[Worker]) -> None:
    for worker in workers:
        worker.close()


def mean_cross_entropy(predict: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 64) -> float:
    """Token-mean cross-entropy of ``predict(x_batch) -> logits`` over every position (the same code scores
    every arm, so no framework's loss reduction can differ)."""
    total, count = 0.0, 0
    for start in range(0, len(x), batch_size):
        logits = np.asarray(predict(x[start : start + batch_size]), dtype=np.float64)
        total += float(token_nll(logits, y[start : start + batch_size]).sum())
        count += y[start : start + batch_size].size
    return total / count


class Meter:
    """Wall time, process CPU time (user + system, all threads) and minor page faults over a ``with`` block."""

    def __enter__(self) -> Meter:
        self._t, self._r = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        return self

    def __exit__(self, *exc: object) -> None:
        r = resource.getrusage(resource.RUSAGE_SELF)
        self.wall = time.perf_counter() - self._t
        self.user, self.sys = r.ru_utime - self._r.ru_utime, r.ru_stime - self._r.ru_stime
        self.page_faults = r.ru_minflt - self._r.ru_minflt

    def rates(self, steps: int, tokens: int) -> dict[str, float]:
        cpu = max(self.user + self.sys, 1e-9)
        return {
            "seconds": self.wall,
            "steps": steps,
            "tokens_per_s": tokens / self.wall,
            "tokens_per_cpu_s": tokens / cpu,
            "sys_share": self.sys / cpu,  # time in the kernel: page faults, thread wake-ups
            "page_faults_per_step": self.page_faults / steps,
        }


GEMM_SHAPES = ((128, 128), (128, 512), (512, 128))  # (k, n) of the model's matmuls, m = tokens per batch
GEMM_BATCH = 16  # matmuls per timed call, so a backend's per-call dispatch cost does not hide its GEMM speed


def time_calls(call: Any, repeats: int = 50, samples: int = 5) -> float:
    """Median CPU microseconds per call (process CPU time, so other load on the machine barely moves it)."""
    call()
    per_call = []
    for _ in range(samples):
        c0 = time.process_time()
        for _ in range(repeats):
            call()
        per_call.append((time.process_time() - c0) / repeats * 1e6)
    return median(per_call)


def token_nll(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-token negative log-likelihood from logits, in float64 numpy (the same code scores both arms)."""
    logits = logits - logits.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(logits).sum(axis=-1))
    return log_z - np.take_along_axis(logits, y[..., None].astype(np.int64), axis=-1)[..., 0]


def torch_op_profile(run: Any, steps: int, top: int = 6) -> dict[str, Any]:
    """CPU ms per step of ``run`` (``steps`` steps, unprofiled), and torch.profiler's time per step inside ATen ops
    (self time, summed). Comparing two arms' ATen times tells whether one does more op work or more work around
    the ops (Python, framework)."""
    from torch.profiler import ProfilerActivity, profile

    cpu = []
    for _ in range(3):
        c0 = time.process_time()
        run()
        cpu.append((time.process_time() - c0) / steps * 1e3)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    events = sorted(
        (e for e in prof.key_averages() if e.key.startswith("aten::")), key=lambda e: -e.self_cpu_time_total
    )
    return {
        "cpu_ms_per_step": median(cpu),
        "aten_ms_per_step": sum(e.self_cpu_time_total for e in events) / steps / 1e3,
        "aten_calls_per_step": sum(e.count for e in events) / steps,
        "top_ops_ms_per_step": {e.key: e.self_cpu_time_total / steps / 1e3 for e in events[:top]},
    }
