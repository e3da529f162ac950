"""Where a run executes: Keras backend, numeric precision and data-parallel distribution."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from models.config import RunConfig

BACKENDS = ("tensorflow", "jax", "torch")


def select_backend(name: str) -> None:
    """Set KERAS_BACKEND before Keras is imported; refuse to switch an already-imported Keras."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend '{name}'; choose one of {', '.join(BACKENDS)}")
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != name:
            raise RuntimeError(
                f"this process already runs Keras on '{current}', so it cannot train on '{name}'. "
                f"Start the run through the CLI or the UI, which start a process per backend."
            )
        return
    os.environ["KERAS_BACKEND"] = name


def accelerator() -> str:
    """'gpu' when the current backend sees a GPU, else 'cpu'."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    if backend == "jax":
        import jax

        return "gpu" if any(d.platform == "gpu" for d in jax.devices()) else "cpu"
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return "cpu"


def resolve_precision(precision: str, device: str | None = None) -> str:
    """Map 'auto' to a Keras dtype policy: float32 on CPU (mixed is slower there), float16/bfloat16 on GPU."""
    if precision != "auto":
        return precision
    device = device or accelerator()
    if device != "gpu":
        return "float32"
    return "mixed_bfloat16" if _gpu_supports_bf16() else "mixed_float16"


def _gpu_supports_bf16() -> bool:
    """bfloat16 pays on Ampere (compute capability 8.0) and newer; float16 with loss scaling before that."""
    try:
        import keras

        if keras.backend.backend() == "torch":
            import torch

            return torch.cuda.is_bf16_supported()
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
            return tuple(details.get("compute_capability", (0, 0))) >= (8, 0)
        import jax

        kind = jax.devices()[0].device_kind.lower()
        return not any(old in kind for old in ("t4", "v100", "p100", "k80"))
    except Exception:  # an unknown GPU: float16 is the safe choice
        return False


def apply_precision(policy: str) -> None:
    import keras

    keras.mixed_precision.set_dtype_policy(policy)


@contextlib.contextmanager
def distribution_scope(config: RunConfig) -> Iterator[int]:
    """Build, compile and fit inside this scope; yields the number of data-parallel replicas.

    One switch (config.distribution) for every backend: tf.distribute on TensorFlow, keras.distribution on
    JAX. PyTorch's data parallelism needs one process per device (torchrun), which a desktop run does not use.
    """
    if config.distribution == "none":
        yield 1
        return
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = _tf_devices()
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    elif backend == "jax":
        devices = keras.distribution.list_devices()
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)
    else:
        raise ValueError(
            "distribution 'data_parallel' runs on the tensorflow or jax backend; "
            "choose one of those, or set distribution to 'none' for torch."
        )


def _tf_devices() -> list[str]:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [d.name for d in gpus]
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def virtual_cpu_count() -> int:
    """The N of XLA_FLAGS=--xla_force_host_platform_device_count=N, or 0 when not asked for."""
    import re

    match = re.search(r"xla_force_host_platform_device_count=(\d+)", os.environ.get("XLA_FLAGS", ""))
    return int(match.group(1)) if match else 0


def honour_virtual_cpus() -> None:
    """Give TensorFlow the same virtual CPU devices XLA_FLAGS gives JAX (so data_parallel can be tried on CPU)."""
    n = virtual_cpu_count()
    if n > 1:
        split_host_cpu(n)


def split_host_cpu(n: int) -> None:
    """Expose ``n`` virtual CPU devices, to exercise data parallelism without GPUs (call before any TF/JAX work)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        if len(tf.config.get_logical_device_configuration(cpu) or []) < n:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
