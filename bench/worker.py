"""Benchmark worker process: sets up one arm (a Keras backend through the engine, or the PyTorch reference), then
answers JSON commands on stdin (fit N steps, export batches, score, ...) with one reply line each on stdout."""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any

from bench.common import REPLY


def reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(REPLY + json.dumps(payload) + "\n")
    sys.stdout.flush()


def set_runtime_threads(threads: int, kind: str, backend: str | None) -> None:
    """The runtime setters, in addition to the environment bench.common.thread_env gave this process (the
    reference never imports TensorFlow; every Keras backend does, for the engine's tf.data pipeline)."""
    if kind == "keras":
        from models.engine.runtime import prefer_onednn

        prefer_onednn()  # as the app does before anything imports TensorFlow (a "before" arm's env says 0)
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if kind == "reference" or backend == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)


def make_arm(spec: dict[str, Any]) -> Any:
    if spec["kind"] == "keras":
        from bench.keras_arm import KerasArm

        return KerasArm(spec)
    if spec["kind"] == "reference":
        from bench.reference_arm import ReferenceArm

        return ReferenceArm(spec)
    raise ValueError(f"unknown arm kind {spec['kind']!r}")


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        set_runtime_threads(spec["threads"], spec["kind"], spec.get("backend"))
        t0 = time.perf_counter()
        arm = make_arm(spec)
        reply({"setup_s": time.perf_counter() - t0, **arm.describe()})
    except Exception as err:
        traceback.print_exc()
        reply({"error": f"{type(err).__name__}: {err}"})
        return
    for line in sys.stdin:
        request = json.loads(line)
        cmd = request.pop("cmd")
        if cmd == "quit":
            reply({"ok": True})
            return
        try:
            reply(getattr(arm, cmd)(**request))
        except Exception as err:
            traceback.print_exc()
            reply({"error": f"{cmd}: {type(err).__name__}: {err}"})


if __name__ == "__main__":
    main()
