"""Where a run executes: Keras backend, numeric precision and data-parallel distribution."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from models.config import BACKENDS, RunConfig
from models.processes import process_shard

# TensorFlow uses oneDNN matmuls only on some Intel CPUs unless asked; bench/throughput.py measured x1.3
# tokens/s from it on this AMD CPU. TensorFlow reads the variable once, at import; a user's setting wins.
ONEDNN_ENV = {"TF_ENABLE_ONEDNN_OPTS": "1"}

# glibc mallopt parameters (from malloc.h) and the values bench/throughput.py measured: without them glibc
# unmaps a compiled step's large buffers after each step and page-faults them back in (x1.4 tokens/s on JAX).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
MALLOC_OPTIONS = {_M_MMAP_THRESHOLD: 32 << 20, _M_TRIM_THRESHOLD: 2**31 - 1, _M_TOP_PAD: 256 << 20}
MALLOC_ENV_NAMES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def prefer_onednn() -> None:
    """Ask TensorFlow for oneDNN kernels (call before TensorFlow is imported; a user's own setting wins)."""
    for key, value in ONEDNN_ENV.items():
        os.environ.setdefault(key, value)


def tune_malloc() -> bool:
    """Keep freed step buffers mapped for reuse (glibc only; a no-op elsewhere, when the user set any of the
    MALLOC_*_ variables, or with TEXTLAB_MALLOC_TUNING=0). Returns whether the options were applied."""
    if sys.platform != "linux" or os.environ.get("TEXTLAB_MALLOC_TUNING") == "0":
        return False
    if any(name in os.environ for name in MALLOC_ENV_NAMES):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return all(libc.mallopt(option, value) == 1 for option, value in MALLOC_OPTIONS.items())
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False


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
    prefer_onednn()
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
        processes = process_shard(config).count
        if processes > 1:
            connect_processes()
        devices = keras.distribution.list_devices()  # every process's devices once connected
        previous = keras.distribution.distribution()
        # Several processes: each pipeline already yields its own slice of every batch (models.processes).
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=devices, auto_shard_dataset=processes == 1)
        )
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)
    else:
        raise ValueError(
            "distribution 'data_parallel' runs on the tensorflow or jax backend; "
            "choose one of those, or set distribution to 'none' for torch."
        )


_CONNECTED: list[bool] = []


def connect_processes() -> None:
    """Join this process to the others of the run (jax.distributed, from Keras' environment variables), once;
    before any JAX computation."""
    if not _CONNECTED:
        import keras

        keras.distribution.initialize()
        _CONNECTED.append(True)


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
