"""The PyTorch reference side of a benchmark, in its own process: bench.torch_reference trained on the batches the
engine's pipeline produced (exported by a Keras worker), in the same order."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import numpy as np

from bench.common import GEMM_BATCH, GEMM_SHAPES, Meter, mean_cross_entropy, time_calls, torch_op_profile


class ReferenceArm:
    def __init__(self, spec: dict[str, Any]) -> None:
        import torch

        from bench.torch_reference import GPTConfig

        self.spec = spec
        self.data = np.load(spec["data"])
        self.gpt = GPTConfig.from_model_config(SimpleNamespace(**spec["model"]))
        self.train_cfg = SimpleNamespace(**spec["train"])
        self.torch = torch
        self.trainer: Any = None
        self.cursor = 0

    def describe(self) -> dict[str, Any]:
        return {
            "torch": self.torch.__version__,
            "threads": self.torch.get_num_threads(),
            "interop_threads": self.torch.get_num_interop_threads(),
            "batches": int(self.data["x"].shape[0]),
        }

    def build(self, total_steps: int = 100_000, warmup_steps: int = 0) -> dict[str, Any]:
        from bench.torch_reference import Trainer, count_params

        t0 = time.perf_counter()
        self.trainer = Trainer(self.gpt, self.train_cfg, total_steps, seed=self.train_cfg.seed)
        if self.spec.get("torch_compile"):
            self.trainer.model = self.torch.compile(self.trainer.model)
        built = time.perf_counter() - t0
        warm = self.fit(warmup_steps) if warmup_steps else {"seconds": 0.0}
        return {"build_s": built, "warmup_s": warm["seconds"], "params": count_params(self.trainer.model)}

    def fit(self, steps: int) -> dict[str, Any]:
        x, y = self.data["x"], self.data["y"]
        loss = float("nan")
        with Meter() as meter:
            for _ in range(steps):
                i = self.cursor % len(x)
                loss = self.trainer.step(x[i], y[i])
                self.cursor += 1
        return {**meter.rates(steps, steps * x.shape[1] * x.shape[2]), "loss": loss}

    def check_same_network(self, path: str) -> dict[str, Any]:
        """Load the Keras model's weights into a fresh reference model and compare logits on the same input."""
        from bench.torch_reference import GPT, load_keras_weights

        saved = dict(np.load(path))
        model = GPT(self.gpt)
        load_keras_weights(model, {k: v for k, v in saved.items() if not k.startswith("__")})
        model.eval()
        with self.torch.no_grad():
            logits = model(self.torch.from_numpy(saved["__x__"]).long()).numpy()
        diff = np.abs(logits - saved["__logits__"])
        return {
            "max_abs_logit_diff": float(diff.max()),
            "logit_scale": float(np.abs(saved["__logits__"]).max()),
        }

    def gemm_probe(self) -> dict[str, Any]:
        from bench.keras_arm import matmul_call

        m = int(self.data["x"].shape[1] * self.data["x"].shape[2])
        rng = np.random.default_rng(0)
        out = {}
        for k, n in (*GEMM_SHAPES, (self.gpt.hidden_dim, self.gpt.vocab_size)):
            a, b = rng.random((GEMM_BATCH, m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
            out[f"{m}x{k}x{n}"] = time_calls(matmul_call("torch", a, b, False), repeats=5) / GEMM_BATCH
        return {"gemm_us": out}

    def op_profile(self, steps: int) -> dict[str, Any]:
        return torch_op_profile(lambda: self.fit(steps), steps)

    def train_run(self, name: str = "") -> dict[str, Any]:
        """Every exported batch once, in order, with a validation pass at each engine epoch end (as the engine
        runs one), like a nanoGPT script with eval_interval = the engine's epoch length."""
        from bench.torch_reference import Trainer

        t0 = time.perf_counter()
        x, y = self.data["x"], self.data["y"]
        per_epoch = int(self.data["per_epoch"])
        self.trainer = Trainer(self.gpt, self.train_cfg, len(x), seed=self.train_cfg.seed)
        t1 = time.perf_counter()
        val_losses = []
        for i in range(len(x)):
            self.trainer.step(x[i], y[i])
            if (i + 1) % per_epoch == 0 or i + 1 == len(x):
                val_losses.append(self._val_loss(self.train_cfg.batch_size))
        end = time.perf_counter()
        return {"wall_s": end - t0, "training_s": end - t1, "steps": len(x), "val_losses": val_losses}

    def score(self, path: str | None = None, batch_size: int = 64) -> dict[str, Any]:
        return {"val_loss": self._val_loss(batch_size)}

    def _val_loss(self, batch_size: int) -> float:
        return mean_cross_entropy(self.trainer.logits, self.data["val_x"], self.data["val_y"], batch_size)
