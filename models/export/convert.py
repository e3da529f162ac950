"""Keras endpoints -> SavedModel -> TFLite flatbuffer, with a quantization mode and a builtin-ops-only policy."""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from data.errors import DataError
from models.export.graph import Endpoint
from models.export.ops import flex_ops, operator_names
from models.export.quantizations import FORMATS, QUANTIZATIONS, TFLITE, quantizations

_SELECT_OPS = re.compile(r"TF Select ops: ([^\n]+)")


@dataclass
class Converted:
    """A converted model and how it was made."""

    content: bytes
    quantization: str
    flex_ops: list[str] = field(default_factory=list)  # empty unless allow_flex let them in
    seconds: float = 0.0
    operators: list[str] = field(default_factory=list)  # TFLite builtin names or ONNX op types
    fmt: str = TFLITE


def check_quantization(quantization: str, fmt: str = TFLITE) -> None:
    """Refuse an unknown format, or a quantization ``fmt`` cannot be exported at."""
    if fmt not in FORMATS:
        raise DataError(f"unknown export format {fmt!r}.", hint=f"Use one of: {', '.join(FORMATS)}.")
    allowed = quantizations(fmt)
    if quantization in allowed:
        return
    if quantization in QUANTIZATIONS:
        raise DataError(
            f"{fmt.upper()} export writes {', '.join(allowed)} weights only, not {quantization}.",
            hint=f"Export it at {' or '.join(allowed)}, or pick the TFLite format for {quantization} weights.",
        )
    raise DataError(f"unknown quantization {quantization!r}.", hint=f"Use one of: {', '.join(allowed)}.")


@dataclass
class SavedModel:
    """The endpoints traced once into a SavedModel folder, ready to convert at any quantization."""

    folder: Path
    signatures: list[str]


@contextlib.contextmanager
def saved_model(endpoints: dict[str, Endpoint]) -> Iterator[SavedModel]:
    """Trace ``endpoints`` (TensorFlow backend) into a temporary SavedModel, removed on exit."""
    import keras

    # Endpoints only, no archive.track(model): tracking walks every layer's default serving function,
    # which Keras traces with the model's (None, None) input shape.
    archive = keras.export.ExportArchive()
    for name, endpoint in endpoints.items():
        archive.add_endpoint(name, endpoint.fn, input_signature=endpoint.input_signature)
    with tempfile.TemporaryDirectory(prefix="textlab-savedmodel-") as folder:
        archive.write_out(folder, verbose=False)
        yield SavedModel(Path(folder), list(endpoints))


def convert(saved: SavedModel, quantization: str, *, allow_flex: bool = False) -> Converted:
    """One multi-signature .tflite; builtin ops only unless ``allow_flex``.

    A model with Flex ops needs the TensorFlow (select ops) runtime on the device, which the plain LiteRT
    interpreter lacks, so it is refused unless asked for.
    """
    check_quantization(quantization)
    started = time.time()
    try:
        content = _convert_saved_model(saved, quantization, flex=False)
    except Exception as err:  # the converter raises ConverterError, with the op list in its text
        needed = _select_ops_named(str(err))
        if not needed:
            raise
        if not allow_flex:
            raise DataError(
                f"the model needs TensorFlow ops that LiteRT has no builtin kernel for (Flex ops: "
                f"{', '.join(needed)}), so a builtin-only export is impossible.",
                hint="Export with allow_flex=True (CLI: --allow-flex) and ship the app with the Flex "
                "delegate (tensorflow-lite-select-tf-ops), or change the model so it avoids these ops.",
            ) from None
        content = _convert_saved_model(saved, quantization, flex=True)
    return Converted(
        content, quantization, flex_ops(content), time.time() - started, operators=operator_names(content)
    )


def _convert_saved_model(saved: SavedModel, quantization: str, *, flex: bool) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved.folder), signature_keys=saved.signatures)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + (
        [tf.lite.OpsSet.SELECT_TF_OPS] if flex else []
    )
    if quantization == "float16":
        # Weights stored as float16 (half the size), dequantized to float32 at load time.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        # Dynamic-range quantization: int8 weights, float activations; needs no representative data.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def _select_ops_named(message: str) -> list[str]:
    """The op names from the converter's 'TF Select ops: A, B' line."""
    names: set[str] = set()
    for match in _SELECT_OPS.finditer(message):
        names.update(part.strip() for part in match.group(1).split(",") if part.strip())
    return sorted(names)
