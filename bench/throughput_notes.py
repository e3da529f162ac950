"""Turns a bench.throughput result into its BENCHMARKS.md analysis: before/after, per-knob effects, the profile, and
the engine recommendation. Every figure here is read from the measured results."""

from __future__ import annotations

from typing import Any

from bench.common import median

GAIN = 1.03  # a knob must beat its baseline arm by 3% (median of paired ratios) before it is recommended


def analysis(results: dict[str, Any]) -> str:
    arms = results["arms"]
    parts = [before_after(arms), knobs(arms)]
    if results.get("profile"):
        parts.append(profile(results, arms))
    parts.append(recommendation(arms))
    return "\n\n".join(p for p in parts if p)


def _ratio(arm: dict[str, Any]) -> tuple[float, float]:
    return arm["ratio_vs_reference_median"], arm["cpu_ratio_vs_reference_median"]


def before_after(arms: dict[str, Any]) -> str:
    keras = {k: v for k, v in arms.items() if v["build"].get("jit_compile") is not None}
    if not keras:
        return ""

    def best(word: str) -> str | None:
        chosen = {k: v for k, v in keras.items() if word in k}
        return max(chosen, key=lambda k: _ratio(chosen[k])[0]) if chosen else None

    def describe(label: str) -> str:
        wall, cpu = _ratio(arms[label])
        return f"{label}, {wall:.2f}x the reference by wall clock ({cpu:.2f}x by CPU time)"

    before, defaults, after = (
        best(" before "),
        best("engine defaults"),
        max(keras, key=lambda k: _ratio(keras[k])[0]),
    )
    text = "**Before / after.** "
    if before:
        text += f"Before (the engine's previous CPU defaults), best backend: {describe(before)}. "
    if defaults:
        text += f"After (the engine's defaults now), best backend: {describe(defaults)}. "
    return text + f"Best arm overall: {describe(after)}."


def knob_effect(arms: dict[str, Any], label: str) -> tuple[float, float]:
    """Median over rounds of this arm's tokens/s divided by its base arm's in the same round (wall, CPU)."""
    arm, base = arms[label]["rounds"], arms[arms[label]["base"]]["rounds"]
    wall = median([a / b for a, b in zip(arm["wall"], base["wall"], strict=True)])
    cpu = median([a / b for a, b in zip(arm["cpu"], base["cpu"], strict=True)])
    return wall, cpu


def knobs(arms: dict[str, Any]) -> str:
    """Each tuned arm against the arm it changes one thing in, paired round by round."""
    lines = []
    for label, arm in arms.items():
        if arm.get("base") in arms:
            wall, cpu = knob_effect(arms, label)
            lines.append(f"- {label} vs {arm['base']}: x{wall:.2f} wall, x{cpu:.2f} CPU time")
    return "**Effect of each knob** (tokens/s relative to the arm it changes, same rounds):\n" + "\n".join(
        lines
    )


def profile(results: dict[str, Any], arms: dict[str, Any]) -> str:
    prof = results["profile"]
    lines = ["**Where the time goes** (`--profile`, CPU time):"]
    for label, entry in prof.items():
        ops = entry.get("ops")
        if ops:
            top = ", ".join(f"{k} {v:.1f}" for k, v in list(ops["top_ops_ms_per_step"].items())[:4])
            lines.append(
                f"- {label}: {ops['cpu_ms_per_step']:.1f} ms CPU per step (unprofiled); under torch.profiler "
                f"{ops['aten_ms_per_step']:.1f} ms per step inside {ops['aten_calls_per_step']:.0f} ATen op calls; "
                f"top ops (ms/step): {top}."
            )
        pipe = entry.get("pipeline")
        if pipe and label in arms:
            step_ms = results["tokens_per_batch"] / arms[label]["tokens_per_cpu_s_median"] * 1e3
            lines.append(
                f"- {label} input pipeline alone: {pipe['cpu_ms_per_batch']:.2f} ms CPU per batch "
                f"({pipe['ms_per_batch']:.2f} ms wall) + {pipe['build_cpu_ms']:.0f} ms CPU to build an epoch's "
                f"dataset, vs {step_ms:.0f} ms CPU per training step."
            )
    lines.append(
        "- Attention: with dropout 0 Keras' MultiHeadAttention calls ops.dot_product_attention (the fused path); "
        "on the torch backend that is the same SDPA CPU flash kernel the reference calls (see the top ops). "
        "`keras.config.enable_flash_attention()` adds nothing on CPU: on JAX it needs cuDNN (GPU) or a TPU and "
        "raises on CPU; on torch the SDPA CPU flash kernel is already selected without it."
    )
    shapes = next(iter(prof.values()))["gemm_us"].keys()
    lines.append("\nSingle matmul, CPU microseconds (m x k x n = tokens x in x out, float32, median):\n")
    lines.append("| arm | " + " | ".join(shapes) + " |")
    lines.append("| --- |" + " --- |" * len(shapes))
    for label, entry in prof.items():
        lines.append(f"| {label} | " + " | ".join(f"{entry['gemm_us'][s]:.0f}" for s in shapes) + " |")
    return "\n".join(lines)


def recommendation(arms: dict[str, Any]) -> str:
    recs = []

    def pays(label: str) -> bool:
        return label in arms and arms[label].get("base") in arms and knob_effect(arms, label)[1] >= GAIN

    if pays("tensorflow spe=16") or pays("jax spe=16"):
        recs.append(
            '`TrainConfig.steps_per_execution` "auto" = 16 for TensorFlow and JAX (Keras rejects values > 1 on '
            "PyTorch, so 1 there); the EngineMonitor already logs correctly with it, but stop requests and the "
            "time budget are then checked only every 16 steps"
        )
    defaults_jit = arms.get("tensorflow (engine defaults)", {}).get("build", {}).get("jit_compile")
    if "tensorflow jit_compile=True" in arms and not defaults_jit and not pays("tensorflow jit_compile=True"):
        recs.append(
            'keep `TrainConfig.jit_compile` "auto" (Keras resolves it to XLA off for TensorFlow on CPU; '
            "XLA on did not pay here)"
        )
    if not recs:
        return "**Recommended engine change:** none measured worth making in this run."
    return "**Recommended next engine changes:**\n" + "\n".join(f"{i}. {r}." for i, r in enumerate(recs, 1))
