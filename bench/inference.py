"""Inference speed: generation tokens/s of a trained tiny char LM (models.engine.inference.generate_stream) and single-example
classification latency (models.engine.inference.classify), with LiteRT columns for the exported bundles
(models.export + models.export.run_bundle.Bundle, the runner an app ports). Keras and LiteRT calls alternate."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, SHARED, measured, median, shakespeare_slice
from bench.lm_configs import lm_config

PROMPT = "ROMEO:\nBut soft, what light"
TEXTS = [
    "Congratulations! You have won a free cruise, call now to claim",
    "ok see you at 7 then, bring the charger",
]


def train_models(workspace: str, backend: str, lm_steps: int, clf_steps: int) -> tuple[Any, Any]:
    """A tiny char LM (the Shakespeare benchmark's 4x128 model) and a tiny SMS-spam Transformer classifier."""
    from models.config import RunConfig
    from models.engine.train import train

    lm = lm_config("shakespeare", shakespeare_slice(), workspace, backend, max_steps=lm_steps, epochs=1)
    lm.train.checkpoint_every = 10**9
    clf = RunConfig(task="classifier", name="bench-inference-sms", backend=backend, workspace=workspace)
    sms = SHARED / "sms_spam.csv"
    clf.data.path = str(sms if sms.exists() else ROOT / "assets" / "demo" / "sms_spam_demo.csv")
    clf.tokenizer.kind = "wordpiece"
    clf.tokenizer.vocab_size = 2000
    clf.model.seq_len = 64
    clf.train.max_steps = clf_steps
    clf.train.epochs = 1
    return train(lm), train(clf)


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from models.engine.inference import classify, generate_stream, load_run

    t0 = time.perf_counter()
    if args.lm_run and args.clf_run:
        from models.run_dir import RunDir

        lm_run, clf_run = RunDir(Path(args.lm_run)), RunDir(Path(args.clf_run))
    else:
        workspace = tempfile.mkdtemp(prefix="textlab-inference-")
        lm_run, clf_run = train_models(workspace, args.backend, args.lm_steps, args.clf_steps)
    results: dict[str, Any] = {"training_s": time.perf_counter() - t0, "lm_run": lm_run.id, "clf_run": clf_run.id,
                               "lm_eval": lm_run.eval_report(), "clf_eval": clf_run.eval_report()}  # fmt: skip
    lm, clf = load_run(lm_run), load_run(clf_run)
    gen: dict[str, Any] = {
        "keras": lambda: len("".join(generate_stream(lm, PROMPT, max_new_tokens=args.tokens, seed=0)))
    }
    cls: dict[str, Any] = {"keras": lambda text: classify(clf, [text]), "keras predict_on_batch": direct(clf)}
    bundles = export_bundles(lm_run, clf_run, args) if args.backend == "tensorflow" else {}
    results["exports"] = {k: v["report"] for k, v in bundles.items()}
    for quant, b in bundles.items():
        gen[f"litert {quant}"] = lambda g=b["lm"]: len("".join(g.generate(PROMPT, args.tokens, 0.8, 0, 0)))
        cls[f"litert {quant}"] = b["clf"].classify

    for fn in gen.values():  # warm-up: tracing, interpreter allocation
        fn()
    for fn in cls.values():
        for _ in range(3):
            fn(TEXTS[0])
    gen_rates: dict[str, list[float]] = {k: [] for k in gen}
    latencies: dict[str, list[float]] = {k: [] for k in cls}
    for r in range(args.repeats):
        for name, fn in gen.items():
            count = 0

            def run(fn: Any = fn) -> None:
                nonlocal count
                count = fn()

            seconds = timed(run)
            gen_rates[name].append(count / seconds)
        for name, fn in cls.items():
            for i in range(args.latency_calls):
                latencies[name].append(timed(lambda fn=fn, i=i: fn(TEXTS[i % len(TEXTS)])) * 1000)
        print(
            f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f} tok/s" for k, v in gen_rates.items()),
            flush=True,
        )
    results["generation_tokens_per_s"] = {k: {"median": median(v), "runs": v} for k, v in gen_rates.items()}
    results["classify_latency_ms"] = {k: {"median": median(v), "p90": sorted(v)[int(0.9 * len(v))],
                                          "calls": len(v)} for k, v in latencies.items()}  # fmt: skip
    return results


def direct(loaded: Any) -> Any:
    """Diagnostic column: the same model and packing as classify, called with predict_on_batch instead of
    model.predict (which builds a data adapter and step loop on every call)."""
    import numpy as np

    from data.pipelines import pack_for_classification

    def run(text: str) -> Any:
        ids, _ = pack_for_classification(loaded.tokenizer, [text], loaded.seq_len)
        logits = np.asarray(loaded.model.predict_on_batch(ids))
        return np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()

    return run


def export_bundles(lm_run: Any, clf_run: Any, args: argparse.Namespace) -> dict[str, Any]:
    from models.export.exporter import export_runs
    from models.export.run_bundle import Bundle

    quants = args.quantizations.split(",")
    lm_reports = export_runs(lm_run, quants)
    clf_reports = export_runs(clf_run, quants)
    out = {}
    for quant, lm_report, clf_report in zip(quants, lm_reports, clf_reports, strict=True):
        out[quant] = {
            "lm": Bundle(lm_report.bundle_dir),
            "clf": Bundle(clf_report.bundle_dir),
            "report": {
                "lm_tflite_bytes": lm_report.tflite_bytes,
                "clf_tflite_bytes": clf_report.tflite_bytes,
                "lm_verification": lm_report.verification,
                "clf_verification": clf_report.verification,
            },  # fmt: skip
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="tensorflow", help="LiteRT columns need tensorflow (export)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for TF/XLA/torch (default 1)")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per generation")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-calls", type=int, default=20, help="single-example calls per round")
    parser.add_argument("--lm-steps", type=int, default=150)
    parser.add_argument("--clf-steps", type=int, default=60)
    parser.add_argument("--quantizations", default="float32,float16,int8")
    parser.add_argument(
        "--lm-run", help="a trained causal-LM run to use instead of training one (with --clf-run)"
    )
    parser.add_argument("--clf-run", help="a trained classifier run to use instead of training one")
    args = parser.parse_args()
    results = measured(args, measure, tokens_per_generation=args.tokens, repeats=args.repeats)

    from bench import report

    names = list(results["classify_latency_ms"])
    gen = results["generation_tokens_per_s"]
    rows = [
        ["generation (tokens/s, median)", *(round(gen[k]["median"], 1) if k in gen else "-" for k in names)],
        ["classification latency, 1 example (ms, median)",
         *(round(results["classify_latency_ms"][k]["median"], 2) for k in names)],
        ["classification latency (ms, p90)", *(round(results["classify_latency_ms"][k]["p90"], 2) for k in names)],
    ]  # fmt: skip
    table = report.table(
        ["measure", *(f"Keras ({args.backend})" if k == "keras" else k for k in names)], rows
    )
    notes = (
        "Generation rate counts generated characters (one token each for the char tokenizer). "
        f"Generation: {args.tokens} new tokens from the prompt {PROMPT!r}, temperature 0.8, sliding window of "
        "seq_len tokens (Keras: `models.engine.inference.generate_stream`, its key/value cache from "
        "models.engine.cached_decoding, one token per step inside the window and the slid window prefilled past it "
        "(bench.generation compares it with the full window), + keras-hub sampler; LiteRT: "
        "`models.export.run_bundle.Bundle.generate`, signature `next_token`, the full window per token). "
        f"{models_note(args)} Classification: "
        f'`models.engine.inference.classify` vs `Bundle.classify` on one SMS text per call ("keras predict_on_batch": '
        f"the same model called directly, a diagnostic). Medians over {args.repeats} rounds ({args.latency_calls} "
        f"latency calls per round); Keras and LiteRT calls alternate. Threads: {args.threads} for TF/XLA "
        f"(env as in bench.common.thread_env); the LiteRT interpreter uses its default. Total wall time "
        f"{results['wall_s']:.0f} s (including {'' if args.lm_run else 'training and '}export)."
    )
    if results["exports"]:
        table += "\n\n" + export_table(results)
        notes += " " + EXPORT_NOTES
    report.write("inference", "Inference: generation and classification latency", results, table, notes)
    print(table)


def models_note(args: argparse.Namespace) -> str:
    if args.lm_run and args.clf_run:
        return (
            f"Models: the runs {Path(args.lm_run).name} (char LM) and {Path(args.clf_run).name} (SMS classifier) "
            "made by `bench.engine_quality --workspace ...` (its 3-minute Shakespeare LM and SMS Transformer)."
        )
    return (
        f"Models: the 4x128 char LM (context 64) trained {args.lm_steps} steps on the Shakespeare slice and a "
        f"tiny Transformer classifier (seq_len 64) trained {args.clf_steps} steps on sms_spam."
    )


EXPORT_NOTES = (
    "Export table: `models.export.exporter.export_runs` on the two runs above, verified with the LiteRT "
    "interpreter on the held-out split (classifier: top-1 agreement with the Keras model over the test "
    "examples; LM: top-1 agreement of the next token over every position, max abs logit difference, "
    "perplexity of each); latency columns repeat the medians above."
)


def export_table(results: dict[str, Any]) -> str:
    from bench import report

    rows = []
    gen, cls = results["generation_tokens_per_s"], results["classify_latency_ms"]
    for quant, rep in results["exports"].items():
        c, m = rep["clf_verification"], rep["lm_verification"]
        rows.append(
            [
                f"SMS classifier, {quant}",
                f"{rep['clf_tflite_bytes'] / 1e6:.2f} MB",
                f"top-1 {c.get('top1_agreement', float('nan')):.4f} over {c.get('examples', '?')} examples; "
                f"max logit diff {c.get('max_abs_logit_diff', float('nan')):.2e}",
                f"{cls[f'litert {quant}']['median']:.2f} ms vs Keras {cls['keras']['median']:.1f} ms "
                f"(predict_on_batch {cls['keras predict_on_batch']['median']:.1f} ms)",
            ]
        )
        rows.append([
            f"Shakespeare char LM, {quant}", f"{rep['lm_tflite_bytes'] / 1e6:.2f} MB",
            f"next-token top-1 {m.get('top1_agreement', float('nan')):.4f}; max logit diff "
            f"{m.get('max_abs_logit_diff', float('nan')):.2e}; perplexity {m.get('litert_perplexity', 0):.3f} "
            f"(Keras {m.get('keras_perplexity', 0):.3f})",
            f"{1000 / gen[f'litert {quant}']['median']:.2f} ms/token vs Keras "
            f"{1000 / gen['keras']['median']:.1f} ms/token",
        ])  # fmt: skip
    return report.table(
        ["bundle", "model.tflite size", "agreement with Keras (LiteRT)", "latency, 1 example"], rows
    )


if __name__ == "__main__":
    main()
