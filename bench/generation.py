"""Generation tokens/s of a causal-LM run: the key/value cache vs the full window per token, both through
models.engine.inference.generate_stream (what the Playground and the CLI call), in interleaved rounds."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.common import measured, median
from bench.inference import PROMPT

ARMS = {"full window": False, "cached": True}  # arm -> generate_stream(use_cache=...)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from models.engine.inference import generate, load_run
    from models.run_dir import RunDir

    loaded = load_run(RunDir(Path(args.run)))
    lengths = [int(n) for n in args.tokens.split(",")]
    sampling = dict(temperature=args.temperature, top_k=args.top_k, seed=0)
    first_s = {}
    for arm, use_cache in ARMS.items():  # the first call traces (and with XLA compiles): timed apart
        t0 = time.perf_counter()
        generate(loaded, args.prompt, max_new_tokens=lengths[0], use_cache=use_cache, **sampling)
        first_s[arm] = time.perf_counter() - t0
    greedy = {}
    for n in lengths:  # temperature 0: both arms must write the very same text
        texts = {
            generate(loaded, args.prompt, max_new_tokens=n, temperature=0, use_cache=c) for c in ARMS.values()
        }
        greedy[n] = len(texts) == 1
    rates: dict[int, dict[str, list[float]]] = {n: {arm: [] for arm in ARMS} for n in lengths}
    order = list(ARMS)
    for r in range(args.repeats):
        for n in lengths:
            for arm in order:
                t0 = time.perf_counter()
                text = generate(loaded, args.prompt, max_new_tokens=n, use_cache=ARMS[arm], **sampling)
                rates[n][arm].append(len(text) / (time.perf_counter() - t0))
        order.reverse()  # neither arm always runs first in a round
        print(
            f"  round {r + 1}: "
            + "; ".join(
                ", ".join(f"{n} tokens {a} {v[-1]:.0f}/s" for a, v in rates[n].items()) for n in lengths
            ),
            flush=True,
        )
    return {
        "run": loaded.run.id,
        "seq_len": loaded.seq_len,
        "model": loaded.model.name,
        "cached_path": type(loaded.cached_lm).__name__ if loaded.cached_lm is not None else None,
        "first_generation_s": first_s,
        "greedy_tokens_equal": {str(n): same for n, same in greedy.items()},
        "tokens_per_s": {
            str(n): {
                **{arm: {"median": median(v), "runs": v} for arm, v in per_arm.items()},
                "speedup_median": median(
                    [c / f for c, f in zip(per_arm["cached"], per_arm["full window"], strict=True)]
                ),
            }
            for n, per_arm in rates.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", help="a causal-LM run directory (workspace/runs/<id>)")
    parser.add_argument("--backend", default="tensorflow", help="Keras backend to load the run on")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for TF/XLA/torch (default 1)")
    parser.add_argument(
        "--tokens", default="32,64,200", help="new tokens per generation, comma-separated lengths"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--print-only", action="store_true", help="print the table; write no results")
    args = parser.parse_args()
    results = measured(args, measure, repeats=args.repeats, prompt=args.prompt, temperature=args.temperature,
                       top_k=args.top_k)  # fmt: skip

    from bench import report

    rows = []
    for n, r in results["tokens_per_s"].items():
        rows.append([
            f"{n} new tokens", round(r["full window"]["median"], 1), round(r["cached"]["median"], 1),
            f"{r['speedup_median']:.2f}x", "yes" if results["greedy_tokens_equal"][n] else "NO",
        ])  # fmt: skip
    first = results["first_generation_s"]
    rows.append(["first generation (s, tracing + compiling)", round(first["full window"], 2),
                 round(first["cached"], 2), "-", "-"])  # fmt: skip
    table = report.table(
        ["generation", "full window (tokens/s)", "cached (tokens/s)", "speed-up (median of rounds)",
         "same greedy tokens"],
        rows,
    )  # fmt: skip
    cached = results["cached_path"]
    notes = (
        f"Run {results['run']} ({results['model']}, seq_len {results['seq_len']}) on {args.backend}, "
        f"{args.threads} thread(s) (bench.common.thread_env). Both arms call "
        "`models.engine.inference.generate_stream` from the prompt "
        f"{args.prompt!r}, temperature {args.temperature}, top-k {args.top_k or 'off'}, seed 0: 'full window' "
        "(use_cache=False) runs the model on the last seq_len tokens for every token; 'cached' "
        f"(models.engine.cached_decoding.{cached or 'CachedLM'}: a Transformer's keys/values, an LSTM's state) "
        "prefills the prompt once and then feeds one token per step; once the text passes seq_len the window "
        "slides by one token, so every token prefills the slid window (the same tokens as the full window and "
        "the LiteRT runner). Rates count generated characters (one token each for the char tokenizer). "
        f"Medians over {args.repeats} rounds, the arms' order reversed each round; the speed-up is the median of "
        "the per-round ratios. 'Same greedy tokens': temperature 0 gives identical text on both arms. "
        + ("" if cached else "This model has no cached path: both arms ran the full window. ")
        + f"Total wall time {results['wall_s']:.0f} s."
    )
    print(table)
    if not args.print_only:
        report.write(f"generation_{args.backend}", f"Generation: key/value cache vs full window ({args.backend})",
                     results, table, notes)  # fmt: skip


if __name__ == "__main__":
    main()
