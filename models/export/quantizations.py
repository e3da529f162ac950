"""The model formats and weight formats an export can be written in (a module of its own so the UI lists them cheaply)."""

from __future__ import annotations

TFLITE, ONNX = "tflite", "onnx"
FORMATS: tuple[str, ...] = (TFLITE, ONNX)
QUANTIZATIONS: tuple[str, ...] = ("float32", "float16", "int8")
# tf2onnx writes the float32 graph as it is; smaller weights are TFLite's converter's job.
_BY_FORMAT = {TFLITE: QUANTIZATIONS, ONNX: ("float32",)}


def quantizations(fmt: str) -> tuple[str, ...]:
    """The quantizations ``fmt`` can be exported at."""
    return _BY_FORMAT.get(fmt, ())


def bundle_name(fmt: str, quantization: str) -> str:
    """The bundle's folder under exports/ (its zip: <run_id>-<name>.zip); TFLite bundles keep their plain names."""
    return quantization if fmt == TFLITE else f"{fmt}-{quantization}"
