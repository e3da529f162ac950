"""Every exported artifact of a run and of its relatives (teacher, students, parent, pruned copies), side by side."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models.run_dir import RunDir, run_dirs


@dataclass
class Artifact:
    """One exported bundle: where it comes from, how big, how faithful and how fast on its runtime."""

    run_id: str
    relation: str  # "this run", "teacher", "student", "parent", "pruned"
    model_kind: str
    params: int | None
    format: str
    quantization: str
    model_bytes: int | None
    zip_bytes: int | None
    keras_metric: str | None  # the run's headline metric on its test split (Keras), e.g. macro_f1
    keras_value: float | None
    runtime_accuracy: float | None  # the exported model's accuracy on the held-out examples it was checked on
    agreement: float | None  # top-1 agreement of the exported model with the run's Keras model
    agrees_with_teacher: float | None  # a student's Keras model vs its teacher's, on the test texts
    sparsity: float | None  # a pruned run's share of zeros in its pruned weights
    ms_per_call: float | None  # one example (a language model: one generated token), on the runtime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def artifacts(run: RunDir) -> list[Artifact]:
    """The bundles under ``run``'s exports/ and under its relatives', the run's own first."""
    rows: list[Artifact] = []
    for relative, relation in relatives(run):
        rows += [_artifact(relative, relation, report) for report in _reports(relative)]
    return rows


def relatives(run: RunDir) -> list[tuple[RunDir, str]]:
    """``run`` itself, the run it came from (a teacher, or the parent it was pruned or fine-tuned from) and
    the runs that came from it (students, pruned copies), read from each run's lineage.json."""
    out = [(run, "this run")]
    lineage = run.lineage() or {}
    if lineage.get("parent_path") and RunDir(lineage["parent_path"]).config_path.exists():
        out.append(
            (RunDir(lineage["parent_path"]), "teacher" if lineage.get("relation") == "teacher" else "parent")
        )
    for other in run_dirs(run.path.parent.parent):
        info = other.lineage() or {}
        if other.path != run.path and info.get("parent_id") == run.id:
            out.append((other, "student" if info.get("relation") == "teacher" else _child(other)))
    return out


def _child(run: RunDir) -> str:
    try:
        return "pruned" if run.config().prune.sparsity else "fine-tuned"
    except (OSError, ValueError, TypeError):
        return "fine-tuned"


def _reports(run: RunDir) -> list[dict[str, Any]]:
    found = []
    for path in sorted(run.exports_dir.glob("*/report.json")) if run.exports_dir.is_dir() else []:
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # a bundle being written, or damaged: the table shows the others
    return found


def _artifact(run: RunDir, relation: str, report: dict[str, Any]) -> Artifact:
    evaluation = run.eval_report() or {}
    metric = evaluation.get("headline_metric")
    checks = report.get("verification") or {}
    runtime = "onnxruntime" if report.get("format") == "onnx" else "litert"
    latency = checks.get(f"{runtime}_ms_per_call")
    if isinstance(latency, dict):  # per signature: the one a single prediction (a generated token) calls
        latency = latency.get("next_token", next(iter(latency.values()), None))
    # A language model with a key/value cache generates through it: its time per token is the one an app sees.
    latency = checks.get(f"{runtime}_kv_cache_ms_per_token", latency)
    zip_path = report.get("zip_path")
    pruning = evaluation.get("pruning") or {}
    teacher = evaluation.get("teacher") or {}
    return Artifact(
        run_id=run.id,
        relation=relation,
        model_kind=str(report.get("model_kind")),
        params=evaluation.get("params") or pruning.get("params"),
        format=str(report.get("format") or "tflite"),
        quantization=str(report.get("quantization")),
        model_bytes=report.get("model_bytes", report.get("tflite_bytes")),
        zip_bytes=_size(zip_path),
        keras_metric=metric,
        keras_value=evaluation.get(metric) if metric else None,
        runtime_accuracy=checks.get(f"{runtime}_accuracy"),
        agreement=checks.get("top1_agreement"),
        agrees_with_teacher=teacher.get("agreement"),
        sparsity=pruning.get("sparsity"),
        ms_per_call=latency,
    )


def _size(path: Any) -> int | None:
    try:
        return Path(path).stat().st_size if path else None
    except OSError:
        return None
