"""Several processes (hosts) training one data-parallel run: which part of each batch this process reads.

The same command runs on every host with Keras' environment variables set (the coordinator's address, the
process count and this process's id); JAX connects them (``keras.distribution.initialize``) and each process
feeds its own slice of every global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from data.errors import DataError
from models.config import RunConfig

ADDRESSES_ENV = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
NUM_PROCESSES_ENV = "KERAS_DISTRIBUTION_NUM_PROCESSES"
PROCESS_ID_ENV = "KERAS_DISTRIBUTION_PROCESS_ID"


@dataclass(frozen=True)
class ProcessShard:
    """This process's ``index`` among ``count``; each reads rows ``[index, index + 1) * batch / count`` of
    every global batch."""

    index: int = 0
    count: int = 1


def process_shard(config: RunConfig) -> ProcessShard:
    """This process's shard of a data-parallel run, from the environment; one process unless it says more."""
    raw = os.environ.get(NUM_PROCESSES_ENV, "").strip()
    if config.distribution == "none" or raw in ("", "1"):
        return ProcessShard()
    hint = (
        f"set {NUM_PROCESSES_ENV} (the number of processes), {PROCESS_ID_ENV} (0 for the coordinator, then 1, "
        f"2, ...) and {ADDRESSES_ENV} (the coordinator's host:port) the same way on every host."
    )
    try:
        count, index = int(raw), int(os.environ.get(PROCESS_ID_ENV, ""))
    except ValueError:
        raise DataError(
            f"{NUM_PROCESSES_ENV} and {PROCESS_ID_ENV} must be whole numbers.", hint=hint
        ) from None
    if not 0 <= index < count or not os.environ.get(ADDRESSES_ENV, "").strip():
        raise DataError(
            f"process {index} of {count} needs an id below the count and the coordinator's address.",
            hint=hint,
        )
    if config.backend != "jax":
        raise DataError(
            "a run over several processes uses the jax backend (jax.distributed).",
            hint="add --backend jax, or run one process (unset " + NUM_PROCESSES_ENV + ").",
        )
    if config.train.batch_size % count:
        raise DataError(
            f"the batch of {config.train.batch_size} does not split evenly over {count} processes.",
            hint=f"use a batch size that is a multiple of {count}.",
        )
    return ProcessShard(index, count)
