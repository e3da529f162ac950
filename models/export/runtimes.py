"""A bundle's model in its runtime (LiteRT for .tflite, onnxruntime for .onnx) behind one call per signature.

numpy and the runtime only, no TensorFlow or Keras: the reference runner (run_bundle.py) and the export
verification (verify.py) both run models through it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# Named inputs -> named outputs ({"logits": ...}), the call shape of a TFLite signature runner.
Signature = Callable[..., dict[str, np.ndarray]]
SignatureIO = dict[str, dict[str, list[dict[str, Any]]]]

# An ONNX file holds one graph; this key of its metadata_props says which inputs and outputs each signature
# uses: {"next_token": {"inputs": ["position", "token_ids"], "outputs": {"logits": "next_token_logits"}}, ...}.
ONNX_SIGNATURES_KEY = "keras_textlab_signatures"
_ONNX_DTYPES = {"tensor(float)": "float32", "tensor(int32)": "int32", "tensor(int64)": "int64"}


class Runtime(Protocol):
    """What the runner and the verification need of a runtime."""

    name: str  # prefixes its verification numbers: litert_accuracy, onnxruntime_ms_per_call, ...

    def signature(self, name: str) -> Signature: ...

    def signature_io(self) -> SignatureIO: ...


class LiteRT:
    """A plain LiteRT interpreter: no Flex delegate, so a model with TensorFlow ops fails here."""

    name = "litert"

    def __init__(self, path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path))

    def signature(self, name: str) -> Signature:
        return self.interpreter.get_signature_runner(name)

    def signature_io(self) -> SignatureIO:
        """For metadata.json: every signature's inputs and outputs with name, shape and dtype, read from the file."""
        out = {}
        for name in self.interpreter.get_signature_list():
            runner = self.interpreter.get_signature_runner(name)
            out[name] = {
                "inputs": _describe(runner.get_input_details()),
                "outputs": _describe(runner.get_output_details()),
            }
        return out


class OnnxRuntime:
    """An onnxruntime CPU session; a signature feeds some of the graph's inputs and fetches some of its outputs."""

    name = "onnxruntime"

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.layout = json.loads(self.session.get_modelmeta().custom_metadata_map[ONNX_SIGNATURES_KEY])
        self.inputs = {arg.name: arg for arg in self.session.get_inputs()}
        # Run only the nodes the fetched outputs need: the generation step then skips the score output's
        # projection of every position onto the vocabulary.
        self.options = ort.RunOptions()
        self.options.only_execute_path_to_fetches = True

    def signature(self, name: str) -> Signature:
        keys, fetch = list(self.layout[name]["outputs"]), list(self.layout[name]["outputs"].values())

        def run(**given: np.ndarray) -> dict[str, np.ndarray]:
            # onnxruntime wants every graph input; those this signature does not read (score's position) get zeros.
            feed = {n: given[n] if n in given else _zeros(arg) for n, arg in self.inputs.items()}
            return dict(zip(keys, self.session.run(fetch, feed, self.options), strict=True))

        return run

    def signature_io(self) -> SignatureIO:
        outputs = {arg.name: arg for arg in self.session.get_outputs()}
        return {
            name: {
                "inputs": [_onnx_arg(self.inputs[n]) for n in sorted(spec["inputs"])],
                "outputs": [_onnx_arg(outputs[n]) for n in sorted(spec["outputs"].values())],
            }
            for name, spec in self.layout.items()
        }


def open_model(path: Path) -> Runtime:
    """The runtime for a model file, by its suffix: .onnx in onnxruntime, anything else in LiteRT."""
    return OnnxRuntime(path) if Path(path).suffix == ".onnx" else LiteRT(path)


def _describe(details: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": name, "shape": [int(n) for n in d["shape"]], "dtype": np.dtype(d["dtype"]).name}
        for name, d in sorted(details.items())
    ]


def _onnx_arg(arg: Any) -> dict[str, Any]:
    return {"name": arg.name, "shape": list(arg.shape), "dtype": _ONNX_DTYPES.get(arg.type, arg.type)}


def _zeros(arg: Any) -> np.ndarray:
    shape = [n if isinstance(n, int) else 1 for n in arg.shape]  # a named (dynamic) axis: one row
    return np.zeros(shape, _ONNX_DTYPES.get(arg.type, "float32"))
