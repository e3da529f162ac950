"""Generation tokens/s of a causal-LM run through models.engine.inference.generate_stream (what the Playground and
the CLI call): the key/value cache against the whole window per token, the window sliding by one token or
restarting on its newest tokens (models.decoding), and optionally the code at issue 16's filing (a checkout of
it, bench/generation_before.py) and the exported bundle in LiteRT; arms interleaved round by round."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import REPLY, ROOT, measured, median, thread_env
from bench.inference import PROMPT

BEFORE = "issue-time code"  # commit 9c2b643, whose 111.5 tokens/s issue 16 quotes
SLIDE = "full window, slide by 1"  # every token a whole window, the window moved one token at a time
FULL = "full window"  # the whole window per token, the window restarting on its newest tokens
CACHED = "cached"  # the default: keys/values reused; a prefill only when the window restarts
COMPILED = "cached, compiled step"  # the same cache stepped by the backend's compiled keras-hub call
LITERT_FULL, LITERT_CACHED = "LiteRT next_token", "LiteRT prefill + decode"


class Before:
    """bench/generation_before.py in its own process on ``checkout``: the code at the issue's filing."""

    def __init__(self, checkout: str, run: Path, seq_len: int, threads: int) -> None:
        env = {**os.environ, **thread_env(threads), "KERAS_BACKEND": "tensorflow"}
        env.pop("PYTHONPATH", None)
        script = str(ROOT / "bench" / "generation_before.py")
        self.proc = subprocess.Popen(
            [sys.executable, script, checkout, str(run), str(seq_len)], cwd=checkout, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
        )  # fmt: skip
        self._read()

    def generate(self, **ask: Any) -> tuple[str, float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(ask) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        return reply["text"], reply["seconds"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY) :])
        raise RuntimeError(f"bench/generation_before.py exited with {self.proc.wait()}")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from dataclasses import replace

    from models.engine.cached_decoding import cached_lm
    from models.engine.inference import generate, load_run
    from models.run_dir import RunDir

    loaded = load_run(RunDir(Path(args.run)))
    seq_len = loaded.seq_len
    lengths = [int(n) for n in args.tokens.split(",")]
    sampling = dict(temperature=args.temperature, top_k=args.top_k, seed=0)
    keras_arms = {SLIDE: dict(use_cache=False, keep=seq_len), FULL: dict(use_cache=False), CACHED: {}}
    arms: dict[str, Any] = {
        name: (lambda n, kw=kw, **s: generate(loaded, args.prompt, max_new_tokens=n, **kw, **s))
        for name, kw in keras_arms.items()
    }
    # The compiled path (what generation stepped with before the numpy twin; the TFLite export traces it) on a
    # second handle of the same model, so each arm keeps its own cached decoder.
    compiled = replace(loaded, cached_lm=cached_lm(loaded.model, seq_len))
    if compiled.cached_lm is not None:
        arms[COMPILED] = lambda n, **s: generate(compiled, args.prompt, max_new_tokens=n, **s)
    before = Before(args.before, Path(args.run), seq_len, args.threads) if args.before else None
    if before is not None:
        arms[BEFORE] = lambda n, **s: before.generate(prompt=args.prompt, max_new_tokens=n, **s)
    bundle = _litert_bundle(Path(args.run)) if args.litert else None
    if bundle is not None:
        for name, kv in ((LITERT_FULL, False), (LITERT_CACHED, True)):
            arms[name] = lambda n, kv=kv, **s: "".join(bundle.generate(args.prompt, n, kv_cache=kv, **s))
    try:
        first_s = {}
        for arm, call in arms.items():  # the first call traces (and with XLA compiles): timed apart
            t0 = time.perf_counter()
            call(lengths[0], **sampling)
            first_s[arm] = time.perf_counter() - t0
        greedy = {}
        for n in lengths:  # temperature 0: every arm with the default window must write the very same text
            texts = {
                _text(arms[a](n, temperature=0, top_k=0, seed=0)) for a in arms if a not in (BEFORE, SLIDE)
            }
            greedy[n] = len(texts) == 1
        rates: dict[int, dict[str, list[float]]] = {n: {arm: [] for arm in arms} for n in lengths}
        order = list(arms)
        for r in range(args.repeats):
            for n in lengths:
                for arm in order:
                    t0 = time.perf_counter()
                    out = arms[arm](n, **sampling)
                    # The old code's process times its own call (no pipe in the figure).
                    seconds = out[1] if isinstance(out, tuple) else time.perf_counter() - t0
                    rates[n][arm].append(len(_text(out)) / seconds)
            order.reverse()  # no arm always runs first in a round
            print(f"  round {r + 1}: " + "; ".join(
                f"{n}: " + ", ".join(f"{a} {v[-1]:.0f}/s" for a, v in rates[n].items()) for n in lengths
            ), flush=True)  # fmt: skip
    finally:
        if before is not None:
            before.close()
    base = BEFORE if before is not None else SLIDE
    return {
        "run": loaded.run.id,
        "seq_len": seq_len,
        "keep": _keep(seq_len),
        "model": loaded.model.name,
        "cached_path": _path(loaded.cached_lm),
        "compiled_path": _path(compiled.cached_lm),
        "baseline": base,
        "first_generation_s": first_s,
        "greedy_tokens_equal": {str(n): same for n, same in greedy.items()},
        "tokens_per_s": {
            str(n): {
                **{arm: {"median": median(v), "runs": v} for arm, v in per_arm.items()},
                "cached_vs_baseline": median(
                    [c / b for c, b in zip(per_arm[CACHED], per_arm[base], strict=True)]
                ),
                "cached_vs_slide": median(
                    [c / b for c, b in zip(per_arm[CACHED], per_arm[SLIDE], strict=True)]
                ),
                **(
                    {
                        "cached_vs_compiled": median(
                            [c / b for c, b in zip(per_arm[CACHED], per_arm[COMPILED], strict=True)]
                        )
                    }
                    if COMPILED in per_arm
                    else {}
                ),
            }
            for n, per_arm in rates.items()
        },
    }


def _path(lm: Any) -> str | None:
    return f"{type(lm).__module__}.{type(lm).__name__}" if lm is not None else None


def _text(out: Any) -> str:
    return out[0] if isinstance(out, tuple) else out


def _keep(seq_len: int) -> int:
    from models.decoding import default_keep

    return default_keep(seq_len)


def _litert_bundle(run: Path) -> Any:
    """The run's float32 TFLite bundle (exported now if it has none) in the reference runner."""
    from models.export import export_run
    from models.export.run_bundle import Bundle
    from models.run_dir import RunDir

    folder = run / "exports" / "float32"
    if not (folder / "metadata.json").exists():
        export_run(RunDir(run), "float32", max_examples=20)
    return Bundle(folder)


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
    parser.add_argument(
        "--before", help="a checkout of commit 9c2b643 (issue 16's filing) to time its generation"
    )
    parser.add_argument("--litert", action="store_true", help="also time the run's float32 bundle in LiteRT")
    parser.add_argument("--print-only", action="store_true", help="print the table; write no results")
    args = parser.parse_args()
    results = measured(args, measure, repeats=args.repeats, prompt=args.prompt, temperature=args.temperature,
                       top_k=args.top_k)  # fmt: skip

    from bench import report

    per_length = results["tokens_per_s"]
    arms = [a for a in next(iter(per_length.values())) if not a.startswith("cached_vs")]
    base = results["baseline"]
    ratios = [("cached_vs_baseline", f"cached / {base}"), ("cached_vs_slide", f"cached / {SLIDE}"),
              ("cached_vs_compiled", f"cached / {COMPILED}")]  # fmt: skip
    ratios = [(key, label) for key, label in ratios if key in next(iter(per_length.values()))]
    rows = [[f"{n} new tokens", *(round(r[a]["median"], 1) for a in arms), *(f"{r[k]:.2f}x" for k, _ in ratios),
             "yes" if results["greedy_tokens_equal"][n] else "NO"]
            for n, r in per_length.items()]  # fmt: skip
    first = results["first_generation_s"]
    rows.append(
        ["first generation (s, tracing + compiling)", *(round(first[a], 2) for a in arms), *("-" for _ in ratios),
         "-"]
    )  # fmt: skip
    table = report.table(
        ["generation (tokens/s, median)", *arms, *(label for _, label in ratios),
         "same greedy tokens (arms with the default window)"],
        rows,
    )  # fmt: skip
    notes = (
        f"Run {results['run']} ({results['model']}, seq_len {results['seq_len']}) on {args.backend}, "
        f"{args.threads} thread(s) (bench.common.thread_env). The Keras arms call "
        "`models.engine.inference.generate_stream` from the prompt "
        f"{args.prompt!r}, temperature {args.temperature}, top-k {args.top_k or 'off'}, seed 0. "
        f"'{SLIDE}': the model on the whole window for every token, the window moved one token at a time past "
        f"seq_len (keep = seq_len); '{FULL}': the whole window for every token, the window restarting on its "
        f"newest {_keep(results['seq_len'])} tokens when full (models.decoding.ContextWindow, the default); "
        f"'{CACHED}' (the default; {results['cached_path']}): the same window, "
        "keys/values reused, one token per step and a prefill when the window restarts. "
        + (f"'{COMPILED}': the same cache and window stepped by {results['compiled_path']} (the backend's "
           "compiled keras-hub decoder call, XLA on TensorFlow; what the TFLite export traces). "
           if results.get("compiled_path") else "")
        + (f"'{BEFORE}': commit 9c2b643's generate (one predict_on_batch on the whole window and one eager "
           "keras-hub sampler call per token, sliding by one token), run by bench/generation_before.py from a "
           f"checkout of that commit on the same run, in its own process (timed inside it). " if args.before else "")
        + (f"'{LITERT_FULL}' / '{LITERT_CACHED}': the run's float32 bundle in the reference runner "
           "(models.export.run_bundle.Bundle.generate, LiteRT's default threads), the same window rules. "
           if args.litert else "")
        + "Rates count generated characters (one token each for the char tokenizer). "
        f"Medians over {args.repeats} rounds, the arms' order reversed each round; ratios are medians of the "
        "per-round ratios. 'Same greedy tokens': at temperature 0 every arm with the default window (Keras and "
        f"LiteRT, cached or not) writes the same text. Total wall time {results['wall_s']:.0f} s."
    )  # fmt: skip
    print(table)
    if not args.print_only:
        report.write(f"generation_{args.backend}", f"Generation: key/value cache vs whole window ({args.backend})",
                     results, table, notes)  # fmt: skip


if __name__ == "__main__":
    main()
