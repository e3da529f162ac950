"""Formatting helpers: engine and data records -> DataFrames and Markdown the tabs display (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

TRAIN_SERIES = "train loss"
VAL_SERIES = "val loss"


def loss_frame(records: Iterable[Mapping[str, Any]], run_label: str | None = None) -> pd.DataFrame:
    """Train loss per logged step and val loss at the step each epoch was measured: columns step, loss, series."""
    records = list(records)
    rows = [
        (int(r["step"]), float(r["loss"]), TRAIN_SERIES)
        for r in records
        if r.get("kind") == "step" and r.get("step") is not None and _finite(r.get("loss"))
    ]
    rows += [(int(r["step"]), float(r["val_loss"]), VAL_SERIES) for r in _val_epochs(records)]
    # Typed even when empty: a chart keeps the axis types of the frame it is given.
    frame = pd.DataFrame(rows, columns=["step", "loss", "series"]).astype(
        {"step": "int64", "loss": "float64"}
    )
    if run_label is not None:
        frame["series"] = run_label + " · " + frame["series"]
    return frame


def score_frame(records: Iterable[Mapping[str, Any]], perplexity: bool = False) -> pd.DataFrame:
    """What the loss does not show, per measured epoch: validation accuracy, macro-F1, entity F1 (scores in
    [0, 1]); for a language model, train and val perplexity (exp of the loss) instead. Columns step, value,
    series."""
    records = list(records)
    rows: list[tuple[int, float, str]] = []
    if perplexity:
        rows += [
            (int(r["step"]), math.exp(min(float(r["loss"]), 50.0)), "train perplexity")
            for r in records
            if r.get("kind") == "step" and r.get("step") is not None and _finite(r.get("loss"))
        ]
        rows += [
            (int(r["step"]), math.exp(min(float(r["val_loss"]), 50.0)), "val perplexity")
            for r in _val_epochs(records)
        ]
    else:
        for r in _val_epochs(records):
            for key, value in r.items():
                if key.startswith("val_") and key != "val_loss" and _finite(value) and 0 <= float(value) <= 1:
                    rows.append((int(r["step"]), float(value), "val " + key[4:].replace("_", " ")))
    return pd.DataFrame(rows, columns=["step", "value", "series"]).astype(
        {"step": "int64", "value": "float64"}
    )


def learning_rate_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The learning-rate schedule as the optimizer applied it, per logged step: columns step, learning_rate."""
    rows = [
        (int(r["step"]), float(r["learning_rate"]))
        for r in records
        if r.get("kind") == "step" and r.get("step") is not None and _finite(r.get("learning_rate"))
    ]
    return pd.DataFrame(rows, columns=["step", "learning_rate"]).astype(
        {"step": "int64", "learning_rate": "float64"}
    )


def _val_epochs(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Epoch records with a validation loss, one per epoch number: the last one logged, in step order.

    A run stopped mid-epoch and resumed may have logged the interrupted epoch before its real end (older
    runs did); the epoch's final record is the one that counts.
    """
    by_epoch: dict[Any, Mapping[str, Any]] = {}
    for r in records:
        if r.get("kind") == "epoch" and r.get("step") is not None and _finite(r.get("val_loss")):
            by_epoch[r.get("epoch", len(by_epoch))] = r
    return sorted(by_epoch.values(), key=lambda r: int(r["step"]))


def overlay_frame(curves: Mapping[str, Iterable[Mapping[str, Any]]]) -> pd.DataFrame:
    """Loss curves of several runs in one frame, one series per run and curve."""
    # Short legend names ("run 1 · train loss"): the caption says which run is which.
    frames = [loss_frame(records, run_label=f"run {i}") for i, records in enumerate(curves.values(), start=1)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return loss_frame([])
    return pd.concat(frames, ignore_index=True)


# Config fields that say nothing about how two runs differ (where they live, why a recipe chose).
_DIFF_SKIP = ("workspace", "recipe")


def config_diff_frame(configs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The config.json fields that differ between runs: a row per dotted field, a column per run ("run 1")."""
    flat = {label: _flatten(config) for label, config in configs.items()}
    keys = sorted({key for fields in flat.values() for key in fields if not key.startswith(_DIFF_SKIP)})
    rows = [
        [key, *values]
        for key in keys
        if len(set(values := [_cell(fields.get(key)) for fields in flat.values()])) > 1
    ]
    return pd.DataFrame(rows, columns=["setting", *flat])


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            fields |= _flatten(value, f"{prefix}{key}.")
        else:
            fields[f"{prefix}{key}"] = value
    return fields


def _cell(value: Any) -> str:
    """A config value as the diff table shows it ('' for unset)."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def count_points(records: Iterable[Mapping[str, Any]]) -> int:
    """Logged train-loss steps plus evaluated epochs: what the loss chart shows."""
    return len(loss_frame(records))


def chart_caption(curves: Mapping[str, list[Mapping[str, Any]]]) -> str:
    """What the chart holds per run, e.g. 'run-a: 30 train points, 2 val epochs'."""
    parts = []
    for run_id, records in curves.items():
        frame = loss_frame(records)
        train, val = int((frame.series == TRAIN_SERIES).sum()), int((frame.series == VAL_SERIES).sum())
        parts.append(f"{run_id}: {train} train point{'s' * (train != 1)}, {val} val epoch{'s' * (val != 1)}")
    return " · ".join(parts) or "no runs selected"


def progress_markdown(run_id: str | None, status: Mapping[str, Any], records: list[Mapping[str, Any]]) -> str:
    """One status line for a run: state, step of total, epoch, last loss, val loss, ETA, chart points."""
    if not run_id:
        return "No run yet. Pick a dataset, set the options and press **Start training**."
    state = str(status.get("state", "unknown"))
    last_step = next((r for r in reversed(records) if r.get("kind") == "step"), {})
    last_epoch = next((r for r in reversed(records) if r.get("kind") == "epoch"), {})
    step = int(status.get("step") or last_step.get("step") or 0)
    total = status.get("total_steps") or last_step.get("total_steps")
    parts = [f"**{state}**"]
    if total:
        parts.append(f"step {step}/{int(total)} ({100.0 * step / max(1, int(total)):.0f}%)")
    else:
        parts.append(f"step {step}")
    if status.get("epoch"):
        parts.append(f"epoch {status['epoch']}")
    if _finite(last_step.get("loss")):
        parts.append(f"loss {float(last_step['loss']):.4f}")
    if _finite(last_epoch.get("val_loss")):
        parts.append(f"val loss {float(last_epoch['val_loss']):.4f}")
    for key, value in last_epoch.items():  # a task's own validation scores (e.g. a tagger's entity F1)
        if key.startswith("val_") and key not in ("val_loss", "val_accuracy") and _finite(value):
            parts.append(f"val {key[4:].replace('_', ' ')} {float(value):.3f}")
    if state in ("running", "queued") and _finite(status.get("eta_s")):
        parts.append(f"ETA {format_duration(float(status['eta_s']))}")
    elif state == "running":  # no step timed yet since (re)starting: no guess rather than a wild one
        parts.append("ETA after the first steps")
    parts.append(f"{count_points(records)} chart points")
    line = " · ".join(parts)
    message = str(status.get("message") or "")
    return f"Run `{run_id}`: {line}" + (f"\n\n{message}" if message else "")


def progress_fraction(status: Mapping[str, Any]) -> float:
    total = status.get("total_steps") or 0
    return min(1.0, float(status.get("step") or 0) / total) if total else 0.0


def format_duration(seconds: float | None) -> str:
    """12.3 -> '12s', 125 -> '2m 05s', 3725 -> '1h 02m'."""
    if seconds is None or not _finite(seconds):
        return ""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


RUN_COLUMNS = ["id", "name", "task", "model", "data", "backend", "state", "step", "best", "duration"]
# Lower is better for these headline metrics (the others are scores: higher is better).
_LOWER_IS_BETTER = ("loss", "perplexity")


def runs_frame(summaries: Iterable[Any]) -> pd.DataFrame:
    """RunSummary objects -> the Runs table."""
    rows = []
    for s in summaries:
        best = f"{s.best_metric} {s.best_value:.4f}" if s.best_value is not None else ""
        task = s.task + (f" (from {s.from_run})" if s.from_run else "")
        duration = format_duration(s.duration_s)
        rows.append([s.id, s.name, task, s.kind, s.data, s.backend, s.state, s.step, best, duration])
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _best_first(s: Any) -> tuple:
    """Runs with a headline metric first, grouped by metric, the best value of each group first."""
    if s.best_value is None:
        return (1, "", 0.0)
    lower = any(word in s.best_metric for word in _LOWER_IS_BETTER)
    return (0, s.best_metric, s.best_value if lower else -s.best_value)


RUN_ORDERS: dict[str, Any] = {
    "newest first": None,  # list_runs' own order
    "oldest first": lambda s: s.id,
    "best score first": _best_first,
    "longest first": lambda s: -(s.duration_s or 0.0),
    "name": lambda s: ((s.name or s.id).lower(), s.id),
}


def arrange_runs(summaries: list[Any], query: str = "", order: str = "newest first") -> list[Any]:
    """The runs whose id, name, task, model, data or state hold every word of ``query``, in ``order``."""
    words = (query or "").lower().split()
    kept = [
        s
        for s in summaries
        if all(w in " ".join((s.id, s.name, s.task, s.kind, s.data, s.state)).lower() for w in words)
    ]
    key = RUN_ORDERS.get(order)
    return sorted(kept, key=key) if key else kept


def run_choices(
    summaries: Iterable[Any], tasks: tuple[str, ...] | None = None, with_state: bool = True
) -> list[tuple[str, str]]:
    """(label, run path) dropdown choices, optionally only runs of the given tasks."""
    return [
        (f"{s.id} · {s.task}" + (f" · {s.state}" if with_state else ""), s.path)
        for s in summaries
        if tasks is None or s.task in tasks
    ]


def class_balance_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Examples per label (most frequent first); empty without a label column."""
    if "label" not in frame.columns:
        return pd.DataFrame({"label": pd.Series([], dtype=str), "count": pd.Series([], dtype="int64")})
    counts = frame["label"].astype(str).value_counts()
    return pd.DataFrame({"label": counts.index.tolist(), "count": counts.to_numpy().tolist()})


def length_histogram_frame(frame: pd.DataFrame, bins: int = 12) -> pd.DataFrame:
    """Text length (characters) histogram with readable bin labels, in order: columns length, count."""
    if "text" not in frame.columns or frame.empty:
        return pd.DataFrame({"length": pd.Series([], dtype=str), "count": pd.Series([], dtype="int64")})
    lengths = frame["text"].astype(str).str.len()
    low, high = int(lengths.min()), int(lengths.max())
    width = max(1, math.ceil((high - low + 1) / bins))
    edges = list(range(low, high + width + 1, width))
    counts = pd.cut(lengths, bins=edges, right=False).value_counts(sort=False).to_numpy().tolist()
    labels = [str(a) if b - a == 1 else f"{a}-{b - 1}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return pd.DataFrame({"length": labels, "count": counts[: len(labels)]})


def preview_frame(frame: pd.DataFrame, rows: int = 20, max_chars: int = 200) -> pd.DataFrame:
    """First rows with long texts cut, so a 1 MB corpus does not land in the browser."""
    head = frame.head(rows).copy()
    for column in head.columns:
        if head[column].dtype == object or str(head[column].dtype).startswith("str"):
            head[column] = (
                head[column].astype(str).map(lambda s: s if len(s) <= max_chars else s[:max_chars] + "…")
            )
    return head


STATS_HIDDEN = ("source", "format", "labelled", "classes", "warnings", "text_column", "label_column")


def stats_markdown(stats: Mapping[str, Any], warnings: Iterable[str] = ()) -> str:
    """data.stats.describe output (and loader warnings) as a compact two-column Markdown table."""
    items = [(_title(k), _compact(v)) for k, v in stats.items() if k not in STATS_HIDDEN and v is not None]
    half = (len(items) + 1) // 2
    left, right = items[:half], items[half:] + [("", "")] * (half - len(items[half:]))
    lines = ["| statistic | value | statistic | value |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for (a, b), (c, d) in zip(left, right, strict=True)]
    warning_lines = [f"- ⚠️ {w}" for w in warnings]
    if warning_lines:
        lines += ["", "**Warnings**", *warning_lines]
    return "\n".join(lines)


def error_markdown(err: BaseException | str) -> str:
    """A user-facing error box: the message only, never a traceback."""
    return f"### ❌ Problem\n\n{err}"


def eval_markdown(report: Mapping[str, Any] | None) -> str:
    """Headline metrics and the per-class table of an eval.json report."""
    if not report:
        return "No evaluation report yet (it is written when the run completes)."
    scalars = [
        f"**{_title(k)}** {_fmt(v)}"
        for k, v in report.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "examples"
    ]
    text = " · ".join(scalars)
    if "examples" in report:
        text += f" · on {report['examples']} {report.get('split', 'test')} examples"
    baseline = baseline_text(report)
    if baseline:
        text += f"\n\n**Baseline:** {baseline}"
    per_class = report.get("per_class") or {}
    if per_class:
        text += "\n\n| label | precision | recall | F1 | support |\n|---|---|---|---|---|\n"
        text += "\n".join(
            f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
            for label, m in per_class.items()
        )
    return text


def baseline_text(report: Mapping[str, Any] | None) -> str:
    """One line comparing the model with the classic baseline its evaluation fitted; '' when there is none."""
    baseline = (report or {}).get("baseline")
    if not baseline:
        return ""
    if "error" in baseline:
        return f"{baseline.get('name', 'baseline')} could not be fitted: {baseline['error']}"
    gap = round(report.get("macro_f1", 0.0) - baseline["macro_f1"], 3)  # as shown: 3 decimals
    verdict = (
        f"the model is ahead by {gap:.3f}" if gap > 0 else f"the baseline is ahead by {-gap:.3f}" if gap < 0
        else "a tie at 3 decimals"
    )  # fmt: skip
    return (
        f"{baseline['name']} ({baseline['features']}, fitted in {baseline['fit_s']:.1f} s on the same training "
        f"split) scores macro-F1 {baseline['macro_f1']:.3f} vs the model's {report.get('macro_f1', 0.0):.3f}: "
        f"{verdict}."
    )


def confusion_cells_frame(report: Mapping[str, Any] | None) -> pd.DataFrame:
    """The confusion matrix as cells (true, predicted, count, share of the true label's examples)."""
    columns = ["true", "predicted", "count", "share"]
    if not report or "confusion_matrix" not in report:
        return pd.DataFrame(columns=columns)
    labels = [str(label) for label in report.get("labels", [])]
    rows = []
    for true, counts in zip(labels, report["confusion_matrix"], strict=True):
        total = sum(counts) or 1
        rows += [[true, predicted, int(n), n / total] for predicted, n in zip(labels, counts, strict=True)]
    return pd.DataFrame(rows, columns=columns)


def per_class_f1_frame(report: Mapping[str, Any] | None) -> pd.DataFrame:
    """F1 and support per class (or entity type) of an eval.json report, in the report's order."""
    per_class = (report or {}).get("per_class") or {}
    rows = [[str(label), float(m["f1"]), int(m["support"])] for label, m in per_class.items()]
    return pd.DataFrame(rows, columns=["label", "f1", "support"])


def export_markdown(report: Mapping[str, Any]) -> str:
    """models.export's ExportReport (as a dict) as a short summary and a verification table."""
    flex = report.get("flex_ops") or []
    # Bundles exported before ONNX existed name their size tflite_bytes.
    size = report.get("model_bytes", report.get("tflite_bytes"))
    lines = [
        f"**Exported** `{report.get('run_id')}` ({report.get('task')}, {report.get('model_kind')}) "
        f"as {report.get('quantization')} in {report.get('conversion_s')} s",
        f"- {'ONNX' if report.get('format') == 'onnx' else 'TFLite'} model: "
        f"{_bytes(size)}; zip: {_bytes(report.get('zip_bytes'))}",
        f"- Signatures: {', '.join(report.get('signatures') or [])}; {len(report.get('operators') or [])} "
        + ("operators, built-in only" if not flex else f"operators, Flex ops: {', '.join(flex)}"),
        f"- Files: {', '.join(report.get('files') or [])}",
        f"- Bundle folder: `{report.get('bundle_dir')}`",
    ]
    verification = report.get("verification") or {}
    if verification:
        lines += ["", "| verification | value |", "|---|---|"]
        lines += [f"| {_title(k)} | {_compact(v)} |" for k, v in verification.items()]
    return "\n".join(lines)


ARTIFACT_COLUMNS = [
    "run",
    "relation",
    "model",
    "parameters",
    "format",
    "weights",
    "model size",
    "zip",
    "test score (Keras)",
    "exported accuracy",
    "agrees with Keras",
    "agrees with teacher",
    "sparsity",
    "ms per example",
]


def artifacts_frame(rows: Iterable[Any]) -> pd.DataFrame:
    """models.export.artifacts rows as the Export tab's side-by-side table (every artifact of a run and of
    its teacher, students, parent and pruned copies)."""
    table = []
    for a in rows:
        score = f"{a.keras_metric} {_figure(a.keras_value)}" if a.keras_metric else ""
        table.append(
            [
                a.run_id,
                a.relation,
                a.model_kind,
                f"{a.params:,}" if a.params else "",
                "ONNX" if a.format == "onnx" else "TFLite",
                a.quantization,
                _bytes(a.model_bytes),
                _bytes(a.zip_bytes),
                score,
                _figure(a.runtime_accuracy),
                _figure(a.agreement),
                _figure(a.agrees_with_teacher),
                f"{a.sparsity:.0%}" if a.sparsity is not None else "",
                _figure(a.ms_per_call),
            ]
        )
    return pd.DataFrame(table, columns=ARTIFACT_COLUMNS).astype(str)


def _figure(value: Any) -> str:
    return "" if value is None else _fmt(value)


def _bytes(n: Any) -> str:
    if not isinstance(n, int | float) or n <= 0:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _title(key: str) -> str:
    return str(key).replace("_", " ")


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{_title(k)} {_compact(v)}" for k, v in list(value.items())[:12])
    if isinstance(value, list | tuple):
        return ", ".join(_compact(v) for v in value[:12]) + (" …" if len(value) > 12 else "")
    return str(value)
