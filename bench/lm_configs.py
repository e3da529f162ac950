"""The language-model workloads the benchmarks share (RunConfig builders), so throughput and quality measure the
same model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# name -> (model fields, train fields). "shakespeare" is nanoGPT's CPU Shakespeare-char recipe (4 layers, 4 heads,
# width 128, context 64, batch 12, dropout 0); "engine-default" is what a run gets when the user changes nothing
# (transformer preset "tiny", seq_len 128, batch 32, dropout 0.1).
WORKLOADS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "shakespeare": (
        {"preset": None, "hidden_dim": 128, "num_layers": 4, "num_heads": 4, "intermediate_dim": 512,
         "seq_len": 64, "dropout": 0.0},
        {"batch_size": 12},
    ),
    "engine-default": ({"preset": "tiny", "seq_len": 128, "dropout": 0.1}, {"batch_size": 32}),
}  # fmt: skip


def lm_config(workload: str, data: Path, workspace: str, backend: str, **train: Any) -> Any:
    """A char-level causal-LM RunConfig on ``data`` (90/10 split); ``train`` overrides TrainConfig fields."""
    from models.config import RunConfig

    model_fields, train_fields = WORKLOADS[workload]
    config = RunConfig(
        task="causal_lm", name=f"bench-{workload}-{backend}", backend=backend, workspace=workspace
    )
    config.data.path = str(data)
    config.data.val_fraction = 0.1
    config.data.test_fraction = 0.0
    config.tokenizer.kind = "char"
    config.model.kind = "transformer"
    for key, value in {**model_fields}.items():
        setattr(config.model, key, value)
    for key, value in {**train_fields, **train}.items():
        setattr(config.train, key, value)
    return config


def train_command(
    workdir: Path,
    name: str,
    data: Path,
    steps: int,
    validations: int,
    model: dict[str, Any],
    train: dict[str, Any],
) -> dict[str, Any]:
    """One whole ``app train --config`` (TensorFlow) of the shakespeare workload on ``data`` with ``model`` and
    ``train`` changes, ``steps`` steps and ``validations`` validation passes (ceil: none after a stub epoch):
    wall time, final evaluation loss, validation curve (elapsed_s, step, val_loss) and training time."""
    import json
    import subprocess
    import sys
    import time

    workspace = workdir / f"ws-{name}"
    train = {**train, "steps_per_epoch": -(-steps // validations)}
    config = lm_config("shakespeare", data, str(workspace), "tensorflow", max_steps=steps, **train)
    for key, value in model.items():
        setattr(config.model, key, value)
    config.name = name
    path = workdir / f"{name}.json"
    config.save(path)
    command = [sys.executable, "-m", "app", "--workspace", str(workspace), "train", "--config", str(path)]
    start = time.perf_counter()
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stdout[-2000:]}")
    (run,) = list((workspace / "runs").iterdir())
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    report = json.loads((run / "eval.json").read_text())
    status = json.loads((run / "status.json").read_text())
    curve = [(r["elapsed_s"], r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    return {"wall_s": round(wall, 1), "val_loss": report["loss"], "curve": curve, "steps": steps,
            "training_s": status.get("elapsed_s") or (curve[-1][0] if curve else None)}  # fmt: skip
