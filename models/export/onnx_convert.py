"""Keras endpoints -> one float32 ONNX graph holding every signature (tf2onnx), standard ONNX ops only."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from data.errors import DataError
from models.export.convert import Converted
from models.export.graph import Endpoint
from models.export.quantizations import ONNX
from models.export.runtimes import ONNX_SIGNATURES_KEY

# ONNX 1.12's opset (2022): onnxruntime 1.12 and later run it, its mobile and web builds included.
OPSET = 17


def convert_onnx(endpoints: dict[str, Endpoint]) -> Converted:
    """Trace ``endpoints`` (TensorFlow backend) into one ONNX model; a TensorFlow op with no ONNX form is refused.

    ONNX has no signatures: the graph takes every endpoint's inputs and gives every output, and the file's
    metadata_props say which belong to which signature (runtimes.OnnxRuntime reads them).
    """
    import onnx
    import tensorflow as tf
    import tf2onnx

    started = time.time()
    fn, input_signature, layout = _one_graph(endpoints)
    with _quiet("tf2onnx"):
        proto, _ = tf2onnx.convert.from_function(
            tf.function(fn, input_signature=input_signature),
            input_signature=input_signature,
            opset=OPSET,
            custom_op_handlers={"Erfc": (_erfc, ["Erf"])},
        )
    operators = _op_types(proto.graph)
    # tf2onnx keeps an op it cannot map as a TensorFlow node, which no ONNX runtime can load.
    unknown = sorted({op for domain, op in operators if not onnx.defs.has(op, domain)})
    if unknown:
        raise DataError(
            f"the model uses TensorFlow ops that tf2onnx cannot write as ONNX: {', '.join(unknown)}.",
            hint="Export it to TFLite instead (the default format), or change the model so it avoids these ops.",
        )
    onnx.helper.set_model_props(proto, {ONNX_SIGNATURES_KEY: json.dumps(layout, sort_keys=True)})
    # The oldest IR version the opset allows, so older onnxruntime builds in apps read the file too.
    proto.ir_version = min(proto.ir_version, onnx.helper.find_min_ir_version_for(proto.opset_import))
    onnx.checker.check_model(proto)
    return Converted(
        proto.SerializeToString(),
        "float32",
        seconds=time.time() - started,
        operators=sorted({op for _, op in operators}),
        fmt=ONNX,
    )


def _one_graph(endpoints: dict[str, Endpoint]) -> tuple[Callable[..., dict[str, Any]], list[Any], dict]:
    """One function of all the endpoints' inputs (by name) returning all their outputs, and which are whose.

    With one endpoint its outputs keep their names ("logits", as in TFLite); with several, each is prefixed
    by its signature ("next_token_logits", "score_logits").
    """
    specs = {spec.name: spec for endpoint in endpoints.values() for spec in endpoint.input_signature}
    names = sorted(specs)
    layout: dict[str, dict[str, Any]] = {
        signature: {"inputs": sorted(spec.name for spec in endpoint.input_signature), "outputs": {}}
        for signature, endpoint in endpoints.items()
    }

    def every_signature(*tensors: Any) -> dict[str, Any]:
        given = dict(zip(names, tensors, strict=True))
        outputs = {}
        for signature, endpoint in endpoints.items():
            result = endpoint.fn(*(given[spec.name] for spec in endpoint.input_signature))
            for key, value in result.items():
                name = key if len(endpoints) == 1 else f"{signature}_{key}"
                layout[signature]["outputs"][key] = name  # filled while tf.function traces this once
                outputs[name] = value
        return outputs

    return every_signature, [specs[name] for name in names], layout


def _erfc(ctx: Any, node: Any, name: str, args: list[Any]) -> None:
    """Erfc as 1 - Erf: Keras' exact GELU (the Transformer's feed-forward) uses it, and tf2onnx has no Erfc.

    tf2onnx has already renamed the node Erf (the ["Erf"] of its handler entry); this subtracts it from one.
    """
    from tf2onnx import utils

    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
    one = ctx.make_const(utils.make_name(f"{name}_one"), np.ones((), dtype))
    complement = ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(name))
    ctx.replace_inputs(complement, [one.output[0], node.output[0]])


def _op_types(graph: Any) -> set[tuple[str, str]]:
    """(domain, op type) of every node, inside Loop and If bodies too (an LSTM's time loop)."""
    found = set()
    for node in graph.node:
        found.add((node.domain, node.op_type))
        for attribute in node.attribute:
            for body in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                found |= _op_types(body)
    return found


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """tf2onnx logs every step; the outcome is checked and reported here instead."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
