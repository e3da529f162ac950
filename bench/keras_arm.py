"""The Keras side of a benchmark, in its own process: the engine's data preparation, model, compile settings and
callback, fitted exactly as models.engine.train does it, plus full models.engine.train.train runs."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.common import GEMM_BATCH, GEMM_SHAPES, Meter, mean_cross_entropy, time_calls, torch_op_profile

LOG_EVERY = 10  # the engine default: EngineMonitor writes a metrics line every 10 steps


class KerasArm:
    """One backend, one RunConfig. ``fit`` times the engine's own ``model.fit`` call on its own tf.data pipeline."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from models.config import RunConfig
        from models.engine.runtime import select_backend, tune_malloc

        self.spec = spec
        self.config = RunConfig.from_dict(spec["config"])
        # As models.engine.train.run_training does: the backend (and its oneDNN default) before Keras is imported.
        select_backend(self.config.backend)
        tune_malloc()

        import keras

        from models.run_dir import RunDir
        from models.tasks import prepare

        if spec.get("flash_attention") is not None:
            # Read when keras' MultiHeadAttention is built; on CPU it only matters with dropout 0 (below).
            (
                keras.config.enable_flash_attention
                if spec["flash_attention"]
                else keras.config.disable_flash_attention
            )()
        keras.utils.set_random_seed(self.config.train.seed)
        self.run = RunDir.create(self.config)
        self.prepared = prepare(self.config, self.run, None)
        self.config.model.vocab_size = self.prepared.tokenizer.vocab_size
        if self.prepared.labels is not None:
            self.config.model.num_classes = len(self.prepared.labels)
        self.per_epoch = self.config.train.steps_per_epoch or self.prepared.batches_per_pass
        self.model: Any = None
        self.monitor: Any = None
        self.epoch = 0

    def describe(self) -> dict[str, Any]:
        import dataclasses

        import keras

        from models.architecture.presets import resolve_model_config

        return {
            "backend": keras.backend.backend(),
            "keras": keras.__version__,
            "vocab_size": self.config.model.vocab_size,
            "model": dataclasses.asdict(resolve_model_config(self.config.model, self.config.task)),
            "train": self.config.to_dict()["train"],
            "tokens_per_batch": self.prepared.tokens_per_batch,
            "batches_per_pass": self.prepared.batches_per_pass,
            "flash_attention": keras.config.is_flash_attention_enabled(),
        }

    # -- throughput -----------------------------------------------------------------------------------
    def build(self, total_steps: int = 100_000, warmup_steps: int = 0) -> dict[str, Any]:
        """Build and compile the engine's model (models.engine.lineage + models.engine.compile.compile_model), then run
        ``warmup_steps`` so tracing / XLA compilation is done before anything is timed."""
        from models.engine import lineage
        from models.engine.callbacks import EngineMonitor
        from models.engine.compile import compile_model

        t0 = time.perf_counter()
        self.model = lineage.initial_model(self.config, self.run)
        compile_model(self.model, self.config, total_steps)
        self.monitor = EngineMonitor(
            self.run,
            start_step=0,
            total_steps=total_steps,
            tokens_per_batch=self.prepared.tokens_per_batch,
            log_every=LOG_EVERY,
            checkpoint_every=10**9,  # checkpoints are I/O, not training throughput
            save_checkpoint=lambda step: None,
            started_at=time.time(),
        )
        built = time.perf_counter() - t0
        warm = self.fit(warmup_steps) if warmup_steps else {"seconds": 0.0}
        return {
            "build_s": built,
            "warmup_s": warm["seconds"],
            "params": int(self.model.count_params()),
            "jit_compile": bool(self.model.jit_compile),
            "steps_per_execution": int(self.model.steps_per_execution),
        }

    def fit(self, steps: int) -> dict[str, Any]:
        """One engine epoch of ``steps`` steps: the same dataset chain, fit arguments and callback as models.engine.train."""
        data = self.prepared.train_factory(self.epoch).repeat().take(steps)
        self.monitor.begin_fit(self.epoch)
        with Meter() as meter:
            history = self.model.fit(
                data,
                epochs=self.epoch + 1,
                initial_epoch=self.epoch,
                callbacks=[self.monitor],
                shuffle=False,
                verbose=0,
            )
        self.epoch += 1
        return {
            **meter.rates(steps, steps * self.prepared.tokens_per_batch),
            "loss": float(history.history["loss"][-1]),
            "engine_tokens_per_s": self._logged_rate(),
        }

    def _logged_rate(self) -> float | None:
        """The engine's own tokens_per_s (metrics.jsonl) of the last logging window of the last fit."""
        rows = [r for r in self.run.metrics() if r.get("kind") == "step" and r.get("epoch") == self.epoch]
        return rows[-1]["tokens_per_s"] if rows else None

    def profile(self, steps: int, path: str, top: int = 40) -> dict[str, Any]:
        """cProfile of one fit (Python-level view: where host time goes around the compiled step)."""
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        result = self.fit(steps)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(out.getvalue())
        return result

    # -- where the time goes (bench.throughput --profile) ---------------------------------------------------
    def pipeline_probe(self, steps: int) -> dict[str, Any]:
        """Cost of the engine's input pipeline alone: building an epoch's dataset (once per epoch in the engine,
        once per round here) and then pulling ``steps`` batches from it."""
        t0, c0 = time.perf_counter(), time.process_time()
        batches = self.prepared.train_factory(self.epoch).repeat().take(steps + 1).as_numpy_iterator()
        next(batches)
        t1, c1 = time.perf_counter(), time.process_time()
        for _ in batches:
            pass
        return {"build_ms": (t1 - t0) * 1e3, "build_cpu_ms": (c1 - c0) * 1e3,
                "ms_per_batch": (time.perf_counter() - t1) / steps * 1e3,
                "cpu_ms_per_batch": (time.process_time() - c1) / steps * 1e3}  # fmt: skip

    def gemm_probe(self) -> dict[str, Any]:
        """Single-matmul speed of this backend at the model's shapes (as the compiled step would run it)."""
        import keras

        backend = keras.backend.backend()
        m = self.prepared.tokens_per_batch
        rng = np.random.default_rng(0)
        out = {}
        for k, n in (*GEMM_SHAPES, (self.config.model.hidden_dim, self.config.model.vocab_size)):
            a, b = rng.random((GEMM_BATCH, m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
            call = matmul_call(backend, a, b, bool(self.model.jit_compile))
            out[f"{m}x{k}x{n}"] = time_calls(call, repeats=5) / GEMM_BATCH
        return {"gemm_us": out}

    def op_profile(self, steps: int) -> dict[str, Any]:
        """torch backend only: CPU ms per step with and without torch.profiler's view of the ATen ops."""
        return torch_op_profile(lambda: self.fit(steps), steps)

    def dump_weights(self, path: str, rows: int = 4) -> dict[str, Any]:
        """Save every weight by variable path, plus this model's logits on the first validation windows."""
        import keras

        x = next(self.prepared.val.as_numpy_iterator())[0][:rows]
        logits = keras.ops.convert_to_numpy(self.model(x, training=False))
        np.savez(
            path,
            __x__=x,
            __logits__=logits,
            **{w.path: keras.ops.convert_to_numpy(w) for w in self.model.weights},
        )
        return {"weights": len(self.model.weights)}

    # -- same data for the reference ----------------------------------------------------------------------
    def export(self, path: str, steps: int) -> dict[str, Any]:
        """Save the engine's training batches (epoch by epoch, in order) and its validation windows to ``path``."""
        xs, ys, epoch, left = [], [], 0, steps
        while left > 0:
            take = min(self.per_epoch, left)
            for x, y in self.prepared.train_factory(epoch).take(take).as_numpy_iterator():
                xs.append(x)
                ys.append(y)
            left -= take
            epoch += 1
        val = list(self.prepared.val.as_numpy_iterator()) if self.prepared.val is not None else []
        np.savez(
            path,
            x=np.stack(xs),
            y=np.stack(ys),
            val_x=np.concatenate([v[0] for v in val]) if val else np.zeros((0, 0), np.int32),
            val_y=np.concatenate([v[1] for v in val]) if val else np.zeros((0, 0), np.int32),
            per_epoch=self.per_epoch,
        )
        return {"batches": len(xs), "per_epoch": self.per_epoch}

    # -- quality: the full engine ---------------------------------------------------------------------
    def train_run(self, name: str) -> dict[str, Any]:
        """A complete models.engine.train.train run with this arm's config (fresh run directory, fresh model)."""
        import dataclasses

        from models.engine.train import train

        config = dataclasses.replace(self.config, name=name)
        t0 = time.perf_counter()
        run = train(config)
        wall = time.perf_counter() - t0
        epochs = [r for r in run.metrics() if r.get("kind") == "epoch"]
        steps_rows = [r for r in run.metrics() if r.get("kind") == "step"]
        status = run.status()
        self.last_run = run
        return {
            "wall_s": wall,
            "training_s": epochs[-1]["elapsed_s"] if epochs else None,
            "steps": status.get("step"),
            "state": status.get("state"),
            "val_loss_engine": epochs[-1].get("val_loss") if epochs else None,
            "logged_tokens_per_s": [r["tokens_per_s"] for r in steps_rows],
            "eval": run.eval_report(),
            "run": str(run.path),
        }

    def score(self, path: str, batch_size: int = 64) -> dict[str, Any]:
        """Token-mean validation cross-entropy of the last train_run's final model on the exported windows."""
        import keras

        import models.architecture.builders  # noqa: F401  registers the custom layers for safe loading

        model = keras.models.load_model(self.last_run.model_path, compile=False, safe_mode=True)
        data = np.load(path)
        return {
            "val_loss": mean_cross_entropy(
                lambda x: model.predict(x, verbose=0), data["val_x"], data["val_y"], batch_size
            )
        }


def matmul_call(backend: str, a: np.ndarray, b: np.ndarray, jit: bool) -> Any:
    """A no-argument callable that runs ``a[i] @ b`` for every i in one call (one compiled function where the
    backend compiles), so per-call dispatch cost is spread over len(a) matmuls."""
    count = len(a)
    if backend == "jax":
        import jax

        f, x, y = (
            jax.jit(lambda p, q: [p[i] @ q for i in range(count)]),
            jax.numpy.asarray(a),
            jax.numpy.asarray(b),
        )
        return lambda: jax.block_until_ready(f(x, y))
    if backend == "tensorflow":
        import tensorflow as tf

        g = tf.function(lambda p, q: [tf.matmul(p[i], q) for i in range(count)], jit_compile=jit)
        x, y = tf.constant(a), tf.constant(b)
        return lambda: g(x, y)
    import torch

    x, y = torch.from_numpy(a), torch.from_numpy(b)
    return lambda: [x[i] @ y for i in range(count)]
