"""Decoder-block changes from the modded-nanogpt line (rotary positions, QK-norm, no biases) on the language-model
recipe, measured before building any of them into the product: keras-hub's TransformerDecoder (the engine's model)
has no switch for them, so each arm is a bench-only block of our own, trained on the engine's own data pipeline,
compile settings (models.engine.compile.compile_model) and steps, and scored on the whole validation split.

The first block arm repeats keras-hub's computation (pre-norm, learned positions, biases) so the block's own cost
and loss are known before any change is read against it. Run alone:
``.venv/bin/python -m bench.block_ablation [--steps 800] [--seeds 1]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import DEMO_SLICE
from bench.lm_configs import lm_config
from bench.nanogpt import RECIPE_MODEL, RECIPE_TRAIN

# name -> block options (None: the engine's keras-hub model).
ARMS: dict[str, dict[str, bool] | None] = {
    "engine model (keras-hub decoder)": None,
    "own block (the same computation)": {},
    "rotary positions (no learned ones)": {"rotary": True},
    "QK-norm": {"qk_norm": True},
    "no biases": {"no_bias": True},
    "rotary + QK-norm + no biases": {"rotary": True, "qk_norm": True, "no_bias": True},
}


def build_model(cfg: Any, rotary: bool = False, qk_norm: bool = False, no_bias: bool = False) -> Any:
    """A causal LM of pre-norm blocks like keras-hub's TransformerDecoder, with the changes asked for."""
    import keras
    import keras_hub
    from keras import layers, ops

    width, heads = cfg.hidden_dim, cfg.num_heads
    head_dim = width // heads

    def init() -> Any:  # a new instance per weight: one unseeded instance gives every weight the same values
        return keras.initializers.TruncatedNormal(stddev=0.02)

    def dense(units: int, **kw: Any) -> Any:
        return layers.Dense(units, use_bias=not no_bias, kernel_initializer=init(), **kw)

    def norm() -> Any:
        return layers.LayerNormalization(epsilon=1e-5, center=not no_bias)

    ids = keras.Input((cfg.seq_len,), dtype="int32", name="token_ids")
    embedding = keras_hub.layers.ReversibleEmbedding(
        cfg.vocab_size, width, embeddings_initializer=init(), reverse_dtype="float32"
    )
    x = embedding(ids)
    if not rotary:
        x = x + keras_hub.layers.PositionEmbedding(cfg.seq_len, initializer=init())(x)
    rope = keras_hub.layers.RotaryEmbedding() if rotary else None
    for _ in range(cfg.num_layers):
        qkv = dense(3 * width)(norm()(x))
        q, k, v = (
            ops.reshape(part, (-1, cfg.seq_len, heads, head_dim)) for part in ops.split(qkv, 3, axis=-1)
        )
        if qk_norm:  # per head, no weights (modded-nanogpt's RMS norm)
            q, k = _rms(q), _rms(k)
        if rope is not None:
            q, k = rope(q), rope(k)
        mixed = ops.dot_product_attention(q, k, v, is_causal=True)
        x = x + dense(width)(ops.reshape(mixed, (-1, cfg.seq_len, width)))
        x = x + dense(width)(dense(cfg.intermediate_dim, activation="gelu")(norm()(x)))
    logits = embedding(norm()(x), reverse=True)
    return keras.Model(ids, layers.Activation("linear", dtype="float32")(logits))


def _rms(x: Any) -> Any:
    from keras import ops

    return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + 1e-6)


def run_arm(
    name: str, options: dict[str, bool] | None, steps: int, seed: int, workdir: Path
) -> dict[str, Any]:
    """Train one arm for ``steps`` steps on the recipe's data and settings; its time and validation loss."""
    import keras

    from models.architecture.presets import resolve_model_config
    from models.engine import lineage
    from models.engine.compile import compile_model
    from models.run_dir import RunDir
    from models.tasks import prepare

    config = lm_config("shakespeare", DEMO_SLICE, str(workdir), "tensorflow", max_steps=steps, **RECIPE_TRAIN)
    for key, value in RECIPE_MODEL.items():
        setattr(config.model, key, value)
    config.train.seed = seed
    config.name = f"block-{seed}"
    keras.utils.set_random_seed(seed)
    run = RunDir.create(config)
    prepared = prepare(config, run, None)
    config.model.vocab_size = prepared.tokenizer.vocab_size
    start = time.perf_counter()
    if options is None:
        model = lineage.initial_model(config, run)
    else:
        model = build_model(resolve_model_config(config.model, config.task), **options)
    compile_model(model, config, steps)
    history = model.fit(prepared.train_factory(0).repeat().take(steps), epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    loss = model.evaluate(prepared.test, return_dict=True, verbose=0)["loss"]
    return {
        "arm": name,
        "seed": seed,
        "params": int(model.count_params()),
        "train_loss": float(history.history["loss"][-1]),
        "val_loss": float(loss),
        "build_and_train_s": seconds,
        "jit_compile": bool(model.jit_compile),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=800, help="steps per arm (the recipe's at nanoGPT's 2,000)"
    )
    parser.add_argument("--seeds", type=int, default=1, help="runs per arm, seeds 1337, 1338, ...")
    args = parser.parse_args()
    from models.engine.runtime import select_backend, tune_malloc

    select_backend("tensorflow")
    tune_malloc()
    from bench import report

    runs = []
    with tempfile.TemporaryDirectory(prefix="textlab-block-") as tmp:
        for seed in range(1337, 1337 + args.seeds):
            for (
                name,
                options,
            ) in ARMS.items():  # seeds outermost: the arms alternate through the machine's drift
                runs.append(run_arm(name, options, args.steps, seed, Path(tmp) / f"{len(runs)}"))
                print(runs[-1], flush=True)
    rows, base = [], None
    for name in ARMS:
        mine = [r for r in runs if r["arm"] == name]
        loss = sum(r["val_loss"] for r in mine) / len(mine)
        seconds = sum(r["build_and_train_s"] for r in mine) / len(mine)
        base = base or (loss, seconds)
        rows.append([name, mine[0]["params"], round(loss, 3), round(seconds, 1),
                     f"{loss - base[0]:+.3f}", f"{seconds / base[1]:.2f}x"])  # fmt: skip
    table = report.table(
        ["arm", "parameters", "val loss", "build + train s", "loss vs engine", "time vs engine"], rows
    )
    notes = (
        f"Each arm: {args.steps} steps of the recipe (bench.nanogpt's RECIPE_MODEL and RECIPE_TRAIN: 2 layers x 4 "
        "heads x 128, context 64, dropout 0, tied head, AdamW with the engine's warm-up, cosine decay, weight decay "
        "and clipping, jit_compile=True) on the engine's pipeline for assets/demo/shakespeare_1mb.txt (char "
        "tokenizer, 90/10 split), one process, TensorFlow, both cores. Val loss: `model.evaluate` on the whole "
        f"validation split after training; figures are means over {args.seeds} seed(s). 'build + train s': from "
        "building the model to the end of `fit` (compilation included; data preparation and evaluation not). "
        "QK-norm: an RMS norm without weights on each head's queries and keys; rotary: keras_hub.layers."
        "RotaryEmbedding on queries and keys, no learned position table; no biases: no Dense or LayerNorm "
        "offsets. One run after the other, nothing else running."
    )
    report.write("block_ablation", "Decoder-block changes (rotary, QK-norm, no biases), bench-only blocks",
                 {"runs": runs, "steps": args.steps, "seeds": args.seeds}, table, notes)  # fmt: skip
    print(table)


if __name__ == "__main__":
    main()
