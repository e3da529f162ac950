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
