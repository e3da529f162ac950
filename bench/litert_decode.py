"""LiteRT ms per generated token by window length: next_token on the whole window vs decode over the key/value
cache, for Transformer LMs of one size (random weights: timing only) exported as the product exports them.

Each length builds the model (models.architecture.builders), traces models.export.graph.endpoints into one
SavedModel, converts it at float32 (models.export.convert) and times the two signatures in one interpreter,
alternating, on the same inputs a generation past the middle of the window would give them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import measured, median

VOCAB = 96  # about a character vocabulary


def _model_config(seq_len: int, layers: int, width: int) -> Any:
    from models.config import ModelConfig

    return ModelConfig(
        kind="transformer", preset=None, vocab_size=VOCAB, seq_len=seq_len, hidden_dim=width,
        num_layers=layers, num_heads=4, intermediate_dim=4 * width, dropout=0.0,
    )  # fmt: skip


def _timed(call: Any, calls: int) -> float:
    """ms per call over ``calls`` calls."""
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) * 1000 / calls


def _time_signatures(runtime: Any, seq_len: int, rounds: int, calls: int) -> dict[str, list[float]]:
    """ms per call of next_token and decode in ``rounds`` rounds, arms alternating."""
    from models.export.graph import DECODE, NEXT_TOKEN

    position = np.array([seq_len * 3 // 4], np.int32)  # a token past the middle: the window's usual state
    window = np.random.default_rng(0).integers(5, VOCAB, (1, seq_len)).astype(np.int32)
    # The key/value cache: every decode input but the token and its position (keys_0, values_0, ...).
    cache = {
        spec["name"]: np.zeros(spec["shape"], dtype=np.float32)
        for spec in runtime.signature_io()[DECODE]["inputs"]
        if spec["name"] not in ("token_id", "position")
    }
    arms = {
        NEXT_TOKEN: (runtime.signature(NEXT_TOKEN), {"token_ids": window, "position": position}),
        DECODE: (
            runtime.signature(DECODE),
            {"token_id": window[:, position[0] : position[0] + 1], "position": position, **cache},
        ),
    }
    for runner, inputs in arms.values():  # warm-up: first invocations allocate
        _timed(lambda runner=runner, inputs=inputs: runner(**inputs), 20)
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    for _ in range(rounds):
        for arm, (runner, inputs) in arms.items():
            times[arm].append(_timed(lambda runner=runner, inputs=inputs: runner(**inputs), calls))
    return times


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from models.architecture.builders import build_model
    from models.export.convert import convert, saved_model
    from models.export.graph import endpoints, inference_copy
    from models.export.runtimes import LiteRT

    rows = []
    for seq_len in args.lengths:
        model = inference_copy(build_model(_model_config(seq_len, args.layers, args.width), "causal_lm"))
        with saved_model(endpoints(model, "generate", seq_len)) as traced:
            content = convert(traced, "float32").content
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.tflite"
            path.write_bytes(content)
            times = _time_signatures(LiteRT(path), seq_len, args.rounds, args.calls)
        row = {
            "seq_len": seq_len,
            "model_kb": round(len(content) / 1024),
            **{f"{arm}_ms": median(values) for arm, values in times.items()},
            "runs": times,
        }
        row["speedup"] = row["next_token_ms"] / row["decode_ms"]
        print(f"  seq_len {seq_len}: " + ", ".join(f"{a} {row[f'{a}_ms']:.3f} ms" for a in times), flush=True)
        rows.append(row)
    return {"layers": args.layers, "width": args.width, "vocab": VOCAB, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100, help="calls per arm per round")
    parser.add_argument(
        "--backend", default="tensorflow", help=argparse.SUPPRESS
    )  # export runs on TensorFlow
    parser.add_argument("--threads", type=int, default=1, help="threads for TensorFlow while exporting")
    parser.add_argument("--print-only", action="store_true", help="print the table; write no results")
    args = parser.parse_args()
    results = measured(args, measure)

    from bench import report

    table = report.table(
        ["window (seq_len)", "model.tflite KiB", "next_token ms/token", "decode ms/token", "decode speed-up"],
        [[r["seq_len"], r["model_kb"], round(r["next_token_ms"], 3), round(r["decode_ms"], 3),
          f"{r['speedup']:.2f}x"] for r in results["rows"]],
    )  # fmt: skip
    notes = (
        f"Transformer LMs of {args.layers} layers x {args.width} wide, 4 heads, vocabulary {VOCAB}, random "
        "weights (timing only), one per window length, exported as `export` exports a Transformer LM (float32; "
        "models.export.graph.endpoints: next_token on the padded window, decode = one token over the "
        "key/value cache). One LiteRT interpreter per model with its default threads (XNNPACK on); a call = the "
        f"signature runner's call from Python, inputs as a generation at position 3/4 of the window gives them. "
        f"Medians over {args.rounds} rounds of {args.calls} calls per arm, arms alternating. "
        f"Total wall time {results['wall_s']:.0f} s."
    )
    print(table)
    if not args.print_only:
        report.write(
            "litert_decode", "LiteRT: a generated token's cost by window length", results, table, notes
        )


if __name__ == "__main__":
    main()
