"""export_run: a finished run -> a verified TFLite or ONNX bundle folder and zip under <run>/exports/."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from data.errors import DataError
from models import tasks
from models.export.bundle import StagedBundle
from models.export.convert import Converted, check_quantization, convert, saved_model
from models.export.graph import DECODE, PREFILL, endpoints, inference_copy
from models.export.heldout import HeldOut, held_out
from models.export.metadata import (
    LABELS_FILE,
    METADATA_FILE,
    MODEL_FILES,
    REPORT_FILE,
    TOKENIZER_FILE,
    VOCAB_FILE,
    build_metadata,
)
from models.export.quantizations import ONNX, QUANTIZATIONS, TFLITE, bundle_name
from models.export.runtimes import open_model
from models.export.verify import verify
from models.run_dir import RunDir
from models.tasks.token_classifier import chain_decoding


@dataclass
class ExportReport:
    """What was exported, where, how big, and how closely its runtime (LiteRT, onnxruntime) reproduces Keras."""

    run_id: str
    task: str
    model_kind: str
    quantization: str
    bundle_dir: str
    zip_path: str
    model_bytes: int
    signatures: list[str]
    operators: list[str]
    flex_ops: list[str]
    verification: dict[str, Any]
    conversion_s: float
    created: str
    format: str = TFLITE
    zip_bytes: int = 0  # known only after the zip is written, so absent from the bundle's own report.json
    files: list[str] = field(default_factory=list)

    @property
    def builtin_ops_only(self) -> bool:
        return not self.flex_ops

    @property
    def tflite_bytes(self) -> int:
        """The size's name from before ONNX bundles: benches and readers of report.json use it."""
        return self.model_bytes if self.format == TFLITE else 0

    def to_dict(self) -> dict[str, Any]:
        legacy = {"tflite_bytes": self.model_bytes} if self.format == TFLITE else {}
        return {**dataclasses.asdict(self), **legacy, "builtin_ops_only": self.builtin_ops_only}


def export_run(
    run: RunDir,
    quantization: str = "float32",
    *,
    fmt: str = TFLITE,
    allow_flex: bool = False,
    max_examples: int = 200,
    unroll_lstm: bool = False,
) -> ExportReport:
    """Export ``run`` to ``<run>/exports/<name>/`` and ``<run>/exports/<run_id>-<name>.zip``.

    ``name`` is the quantization for TFLite ("float32"), "onnx-float32" for ONNX (quantizations.bundle_name).
    Needs the TensorFlow backend (a run trained on JAX or PyTorch is loaded from its .keras file). The
    bundle is verified in its runtime (LiteRT, onnxruntime) on up to ``max_examples`` held-out examples
    before it is published; report.json in the bundle holds the numbers. ``allow_flex`` is TFLite's only.
    """
    return export_runs(
        run,
        (quantization,),
        fmt=fmt,
        allow_flex=allow_flex,
        max_examples=max_examples,
        unroll_lstm=unroll_lstm,
    )[0]


def export_runs(
    run: RunDir,
    quantizations: Sequence[str] = QUANTIZATIONS,
    *,
    fmt: str = TFLITE,
    allow_flex: bool = False,
    max_examples: int = 200,
    unroll_lstm: bool = False,
) -> list[ExportReport]:
    """``export_run`` for several quantizations, loading the model and tracing its graph only once."""
    _require_tensorflow()
    for quantization in quantizations:
        check_quantization(quantization, fmt)
    from models.engine.inference import load_run

    config = run.config()
    spec = tasks.get(config.task)
    if not spec.exportable:
        exportable = tasks.specs(lambda s: s.exportable)
        raise DataError(
            f"run '{run.id}' is a {config.task} run; export supports {', '.join(s.name for s in exportable)} runs.",
            hint=f"Pick a run of one of these kinds: {'; '.join(s.label for s in exportable)}.",
        )
    loaded = load_run(run)
    on_device = inference_copy(loaded.model, unroll_lstm=unroll_lstm)
    examples = held_out(run, config, loaded.tokenizer, max_examples)
    signatures = endpoints(on_device, spec.interface, config.model.seq_len)
    if fmt == ONNX:  # float32 only (check_quantization), straight from the traced functions
        from models.export.onnx_convert import convert_onnx

        # The key/value cache's update (XlaDynamicUpdateSlice) has no tf2onnx form: an ONNX LM generates
        # with next_token on the whole window.
        signatures = {name: e for name, e in signatures.items() if name not in (PREFILL, DECODE)}
        return [
            _export_one(run, loaded, examples, ONNX, q, lambda: convert_onnx(signatures))
            for q in quantizations
        ]
    with saved_model(signatures) as traced:
        return [
            _export_one(
                run, loaded, examples, TFLITE, q, lambda q=q: convert(traced, q, allow_flex=allow_flex)
            )
            for q in quantizations
        ]


def _export_one(
    run: RunDir,
    loaded: Any,
    examples: HeldOut,
    fmt: str,
    quantization: str,
    conversion: Callable[[], Converted],
) -> ExportReport:
    """Convert, write, verify and publish one model; a failure (a refused conversion too) leaves no bundle behind."""
    config = run.config()
    source = run.trained_model
    labels = loaded.labels if tasks.get(config.task).labelled else None
    name = bundle_name(fmt, quantization)
    folder = run.exports_dir / name
    zip_path = run.exports_dir / f"{run.id}-{name}.zip"
    with StagedBundle(folder, zip_path) as bundle:
        converted = conversion()
        model_file = bundle.write_bytes(MODEL_FILES[fmt], converted.content)
        runtime = open_model(model_file)
        bundle.copy(run.tokenizer_dir / VOCAB_FILE, VOCAB_FILE)
        bundle.copy(run.tokenizer_dir / TOKENIZER_FILE, TOKENIZER_FILE)
        if labels is not None:
            bundle.write_text(LABELS_FILE, "".join(f"{label}\n" for label in labels))
        signatures = runtime.signature_io()
        metadata = build_metadata(
            run_id=run.id,
            config=config,
            tokenizer_config=loaded.tokenizer.config(),
            labels=labels,
            quantization=quantization,
            signatures=signatures,
            flex_ops=converted.flex_ops,
            source_model=str(source.relative_to(run.path)),
            chain=chain.to_json() if (chain := chain_decoding(loaded.model)) is not None else None,
            model_file=model_file.name,
        )
        bundle.write_json(METADATA_FILE, metadata)
        if converted.flex_ops:
            verification: dict[str, Any] = {
                "skipped": "the model uses Flex ops, which the plain LiteRT interpreter cannot run: "
                + ", ".join(converted.flex_ops)
            }
        else:
            verification = verify(loaded.model, runtime, tasks.get(config.task).interface, examples)
        report = ExportReport(
            run_id=run.id,
            task=config.task,
            model_kind=config.model.kind,
            quantization=quantization,
            bundle_dir=str(folder),
            zip_path=str(zip_path),
            model_bytes=len(converted.content),
            signatures=sorted(signatures),
            operators=converted.operators,
            flex_ops=converted.flex_ops,
            verification=verification,
            conversion_s=round(converted.seconds, 2),
            created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            format=fmt,
            files=sorted([*(p.name for p in bundle.path(".").iterdir()), REPORT_FILE]),
        )
        bundle.write_json(REPORT_FILE, {k: v for k, v in report.to_dict().items() if k != "zip_bytes"})
        bundle.publish()
    report.zip_bytes = zip_path.stat().st_size
    return report


def _require_tensorflow() -> None:
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise DataError(
            f"exporting (TFLite or ONNX) needs Keras on the TensorFlow backend, but this process runs '{backend}'.",
            hint="Run 'python -m app export RUN' (it starts on TensorFlow) or set KERAS_BACKEND=tensorflow; "
            "runs trained on JAX or PyTorch export fine from their .keras file.",
        )
