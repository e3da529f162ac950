"""Plain-PyTorch nanoGPT-style reference of our Transformer causal LM (same blocks, sizes, init and optimizer)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# Mirrors models/architecture/transformer.py: keras-hub TransformerDecoder(normalize_first=True, activation="gelu" (exact erf
# GELU, Keras' default approximate=False), layer_norm_epsilon=1e-5), TruncatedNormal(0.02) kernels, zero biases.
LAYER_NORM_EPSILON = 1e-5
INIT_STD = 0.02


@dataclass
class GPTConfig:
    """The sizes that define the architecture (the same fields as models.config.ModelConfig)."""

    vocab_size: int
    seq_len: int
    hidden_dim: int
    num_layers: int
    num_heads: int
    intermediate_dim: int
    dropout: float = 0.0
    tie_embeddings: bool = True

    @classmethod
    def from_model_config(cls, cfg: Any) -> GPTConfig:
        fields = (
            "vocab_size",
            "seq_len",
            "hidden_dim",
            "num_layers",
            "num_heads",
            "intermediate_dim",
            "dropout",
        )
        return cls(**{f: getattr(cfg, f) for f in fields}, tie_embeddings=bool(cfg.tie_embeddings))


class Block(nn.Module):
    """Pre-norm decoder block: x + Drop(Attn(LN(x))), then x + Drop(W2 GELU(W1 LN(x))), as keras-hub does it."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        h = cfg.hidden_dim
        self.num_heads = cfg.num_heads
        self.dropout = cfg.dropout
        self.ln_attn = nn.LayerNorm(h, eps=LAYER_NORM_EPSILON)
        self.qkv = nn.Linear(h, 3 * h)  # Keras keeps separate q/k/v kernels + biases: same parameter count
        self.proj = nn.Linear(h, h)
        self.attn_out_dropout = nn.Dropout(cfg.dropout)
        self.ln_ff = nn.LayerNorm(h, eps=LAYER_NORM_EPSILON)
        self.ff_in = nn.Linear(h, cfg.intermediate_dim)
        self.ff_out = nn.Linear(cfg.intermediate_dim, h)
        self.ff_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        q, k, v = self.qkv(self.ln_attn(x)).split(h, dim=-1)
        q, k, v = (z.view(b, t, self.num_heads, h // self.num_heads).transpose(1, 2) for z in (q, k, v))
        # Keras MHA drops attention probabilities at the same rate (dropout_p here).
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        x = x + self.attn_out_dropout(self.proj(y.transpose(1, 2).reshape(b, t, h)))
        return x + self.ff_dropout(self.ff_out(F.gelu(self.ff_in(self.ln_ff(x)))))


class GPT(nn.Module):
    """Token + learned position embeddings, dropout, pre-norm blocks, final LayerNorm, tied or untied logits."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.hidden_dim)
        self.position_embedding = nn.Embedding(cfg.seq_len, cfg.hidden_dim)
        self.embeddings_dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.final_norm = nn.LayerNorm(cfg.hidden_dim, eps=LAYER_NORM_EPSILON)
        self.head = None if cfg.tie_embeddings else nn.Linear(cfg.hidden_dim, cfg.vocab_size, bias=False)
        self.apply(_init)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.embeddings_dropout(self.token_embedding(ids) + self.position_embedding(positions))
        for block in self.blocks:
            x = block(x)
        x = self.final_norm(x)
        return x @ self.token_embedding.weight.T if self.head is None else self.head(x)


def _init(module: nn.Module) -> None:
    # Keras TruncatedNormal(stddev) cuts at two standard deviations.
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.trunc_normal_(module.weight, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


@torch.no_grad()
def load_keras_weights(model: GPT, weights: dict[str, np.ndarray]) -> None:
    """Copy a Keras textlab LM's weights (by variable path) into ``model``: proves the two are the same network
    when their logits then agree."""

    def put(param: torch.Tensor, value: np.ndarray) -> None:
        assert tuple(param.shape) == value.shape, (param.shape, value.shape)
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    h = model.cfg.hidden_dim
    put(model.token_embedding.weight, weights["token_embedding/embeddings"])
    put(model.position_embedding.weight, weights["position_embedding/embeddings"])
    for i, block in enumerate(model.blocks):
        p = f"transformer_layer_{i}/"
        qkv = [weights[f"{p}self_attention/{n}/kernel"].reshape(h, h).T for n in ("query", "key", "value")]
        put(block.qkv.weight, np.concatenate(qkv))
        put(block.qkv.bias, np.concatenate([weights[f"{p}self_attention/{n}/bias"].reshape(h) for n in
                                            ("query", "key", "value")]))  # fmt: skip
        put(block.proj.weight, weights[f"{p}self_attention/attention_output/kernel"].reshape(h, h).T)
        put(block.proj.bias, weights[f"{p}self_attention/attention_output/bias"])
        for norm, name in (
            (block.ln_attn, "self_attention_layer_norm"),
            (block.ln_ff, "feedforward_layer_norm"),
        ):
            put(norm.weight, weights[f"{p}{name}/gamma"])
            put(norm.bias, weights[f"{p}{name}/beta"])
        for dense, name in (
            (block.ff_in, "feedforward_intermediate_dense"),
            (block.ff_out, "feedforward_output_dense"),
        ):
            put(dense.weight, weights[f"{p}{name}/kernel"].T)
            put(dense.bias, weights[f"{p}{name}/bias"])
    put(model.final_norm.weight, weights["final_norm/gamma"])
    put(model.final_norm.bias, weights["final_norm/beta"])
    if model.head is not None:
        put(model.head.weight, weights["logits/kernel"].T)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def lr_lambda(total_steps: int, warmup_ratio: float, min_lr_ratio: float):
    """Multiplier of the engine's schedule (Keras CosineDecay with linear warmup from 0, decay to alpha)."""
    warmup = int(total_steps * warmup_ratio)
    decay = max(1, total_steps - warmup)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return step / warmup
        progress = min(step - warmup, decay) / decay
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class Trainer:
    """The engine's optimisation in plain PyTorch: AdamW (Keras defaults: eps 1e-7, decay on every variable),
    global-norm clipping, warmup + cosine schedule, token-mean cross-entropy over weighted positions."""

    def __init__(self, cfg: GPTConfig, train: Any, total_steps: int, seed: int = 1337) -> None:
        torch.manual_seed(seed)
        self.model = GPT(cfg)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=train.learning_rate, betas=(0.9, 0.999), eps=1e-7,
            weight_decay=train.weight_decay,
        )  # fmt: skip
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(total_steps, train.warmup_ratio, train.min_lr_ratio)
        )
        self.clip_norm = train.clip_norm

    def step(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
        self.model.train()
        logits = self.model(torch.from_numpy(x).long())
        loss = token_loss(logits, torch.from_numpy(y).long(), None if w is None else torch.from_numpy(w))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_norm:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
        self.optimizer.step()
        self.schedule.step()
        return float(loss.detach())  # a host sync each step, as the engine's per-step callback does

    @torch.no_grad()
    def logits(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        return self.model(torch.from_numpy(x).long()).numpy()


def token_loss(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
    if w is None:
        return losses.mean()
    w = w.reshape(-1).to(losses.dtype)
    return (losses * w).sum() / w.sum().clamp_min(1.0)


def main() -> None:
    """Print the reference's parameter count for the benchmark sizes (a quick self-check)."""
    cfg = GPTConfig(
        vocab_size=65, seq_len=64, hidden_dim=128, num_layers=4, num_heads=4, intermediate_dim=512
    )
    print(f"GPT {cfg}: {count_params(GPT(cfg)):,} parameters")


if __name__ == "__main__":
    main()
