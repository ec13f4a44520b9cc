"""Training on several devices, and on several processes, with Keras 3's ``keras.distribution``.

Nothing here exchanges gradients itself: a :class:`keras.distribution.Distribution` decides
where each variable and each batch lives, Keras' JAX trainer places them there, and XLA's
SPMD partitioner inserts the collectives the compiled step needs. That holds for the fast
path's custom step (:mod:`movierec.models.sparse`) too: it is one ``jax.jit``-compiled
function of the state and the batch, so with the batch split over the devices XLA computes
the same row gathers and scatter-adds as on one device, communicating where it must.

``distribution="data"``
    :class:`keras.distribution.DataParallel` over every device (all processes' devices in a
    multi-process job): each variable is replicated, each batch is split along its rows.
``distribution="model"``
    :class:`keras.distribution.ModelParallel` with a :class:`~keras.distribution.LayoutMap`
    that shards the user and movie tables (factors and biases) by rows over the devices,
    for tables too large for one device; the rest is replicated and the batch is split over
    the same devices. A sharded table's rows must divide by the device count, so the tables
    are built with a few extra rows (never used: no index reaches them) and the trained
    model is saved with exactly the encoders' rows (:func:`host_copy`).

Constraints (checked by :func:`check_distribution`, which says why):

* the global batch (``batch_size``) splits evenly over the devices, so it must divide by
  their number; and the training ratings are trimmed to a multiple of it (at most
  ``devices - 1`` ratings dropped, recorded as ``n_dropped_for_devices``);
* the closed-form ``ease`` and the ``blend`` are not Keras-fit (see :data:`_REFUSALS`);
* ``recommender-net-as-published`` scores a batch as a whole (its output depends on the
  batch), so it is scored in batches of exactly ``batch_size`` with a shorter last one,
  which does not split over the devices;
* ``model`` needs the row-wise tables (not AutoRec's whole-vector rows or SVD++).

Several processes (:func:`initialize_processes`): ``keras.distribution.initialize`` starts
``jax.distributed`` (one coordinator address, a process count and this process's id); on
CPU the collectives go through gloo. Each process then passes only its own shard of the
training ratings to ``fit`` (:func:`process_shard`), every process sees the same number of
steps, and the global batch of a step is the processes' local batches together
(``batch_size / processes`` ratings from each).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np

from movierec.errors import MovierecError
from movierec.models import build_model, model_class, model_spec
from movierec.training.config import DISTRIBUTIONS

__all__ = [
    "DISTRIBUTIONS",
    "check_distribution",
    "device_count",
    "distribution_scope",
    "host_copy",
    "host_values",
    "initialize_processes",
    "multi_process_requested",
    "no_distribution",
    "padded_rows",
    "process_count",
    "process_index",
    "process_shard",
]


ROW_SHARDED = (r"user_embedding/embeddings$", r"movie_embedding/embeddings$",
               r"user_bias/embeddings$", r"movie_bias/embeddings$")
"""The variables ``distribution="model"`` shards by rows (regular expressions on paths)."""

_REFUSALS = {
    "closed-form": "is solved in one closed-form step with numpy on the host (no gradient "
                   "steps, nothing for keras.distribution to split); train it with "
                   "--distribution none",
    "blend": "trains its members one after another and fits its weights with numpy; train "
             "it with --distribution none (its factor-model members alone can be trained "
             "distributed)",
}


def _jax() -> bool:
    return keras.backend.backend() == "jax"


def device_count() -> int:
    """Devices a distributed run spreads over: every process's (1 off JAX)."""
    if not _jax():
        return 1
    return len(keras.distribution.list_devices())


def process_count() -> int:
    """Processes in this job (1 unless :func:`initialize_processes` started several)."""
    if not _jax():
        return 1
    import jax

    return int(jax.process_count())


def process_index() -> int:
    """This process's id in the job (0 alone; process 0 writes the run directory)."""
    if not _jax():
        return 0
    import jax

    return int(jax.process_index())


_ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES")


def multi_process_requested(coordinator: str | None, num_processes: int | None) -> bool:
    """True when the options or Keras' environment variables ask for several processes."""
    if coordinator or (num_processes or 0) > 1:
        return True
    count = os.environ.get(_ENV[1], "")
    return bool(os.environ.get(_ENV[0])) and count.isdigit() and int(count) > 1


def initialize_processes(coordinator: str | None, num_processes: int | None,
                         process_id: int | None) -> None:
    """Join a multi-process job through ``keras.distribution.initialize``.

    Args:
        coordinator: ``HOST:PORT`` of process 0 (``None``: Keras reads
            ``KERAS_DISTRIBUTION_JOB_ADDRESSES``).
        num_processes: processes in the job (``None``: ``KERAS_DISTRIBUTION_NUM_PROCESSES``).
        process_id: this process's id, ``0 .. num_processes - 1``
            (``None``: ``KERAS_DISTRIBUTION_PROCESS_ID``).

    Must run before anything touches a JAX device (it fixes the device list).

    Raises:
        MovierecError: not on JAX, or the ids do not make sense.
    """
    if not _jax():
        raise MovierecError(
            f"several processes need the JAX backend (jax.distributed); Keras is running on "
            f"{keras.backend.backend()!r}: unset KERAS_BACKEND")
    if num_processes is not None and num_processes < 1:
        raise MovierecError("--num-processes must be at least 1")
    if process_id is not None and num_processes is not None \
            and not 0 <= process_id < num_processes:
        raise MovierecError(f"--process-id must be 0 .. {num_processes - 1}, not {process_id}")
    import jax

    # CPU devices of different processes talk through gloo (the default of recent jax; set
    # explicitly so that an older default, "none", cannot leave them unconnected). It only
    # concerns CPU devices; asking which backend runs would start it, which must not happen
    # before jax.distributed.initialize.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize(coordinator, num_processes, process_id)


def check_distribution(config: Any, *, n_devices: int | None = None) -> None:
    """Raise a :class:`MovierecError` saying why ``config`` cannot train distributed.

    Args:
        config: a :class:`~movierec.training.TrainConfig`.
        n_devices: the devices to spread over (default: :func:`device_count`).
    """
    kind = config.distribution
    if kind == "none":
        return
    spec = model_spec(config.model)
    if spec.trainer in _REFUSALS:
        raise MovierecError(f"{config.model} {_REFUSALS[spec.trainer]}")
    if not _jax():
        raise MovierecError(
            f"--distribution {kind} uses keras.distribution, which Keras implements on JAX; "
            f"Keras is running on {keras.backend.backend()!r}: unset KERAS_BACKEND")
    if spec.batch_dependent:
        raise MovierecError(
            f"{config.model}'s output depends on the whole batch it is scored in, so it is "
            "scored in batches of exactly --batch-size with a shorter last one, which do not "
            "split evenly over devices; train it with --distribution none")
    whole_rows = hasattr(model_class(config.model), "training_examples")
    if whole_rows and process_count() > 1:
        raise MovierecError(
            f"{config.model} trains on examples built from all of a user's or a movie's "
            "ratings, which a process's shard of the rating pairs does not hold; train it "
            "in one process (--distribution data spreads it over that machine's devices)")
    if config.early_stopping and kind == "model" and process_count() > 1:
        raise MovierecError(
            "--early-stopping restores the best weights by copying them to the host, which "
            "a table sharded over several processes cannot do; pass a fixed --epochs, or "
            "use --distribution data")
    if kind == "model" and whole_rows:
        raise MovierecError(
            f"--distribution model shards the user and movie tables by rows; {config.model} "
            "does not train row by row on rating pairs (its examples are whole rating "
            "vectors or all of a user's movies); use --distribution data")
    devices = device_count() if n_devices is None else n_devices
    if config.batch_size % devices:
        lower = config.batch_size - config.batch_size % devices
        raise MovierecError(
            f"--batch-size {config.batch_size} does not split evenly over {devices} devices "
            f"(each step's batch is divided among them); pass a multiple of {devices}, e.g. "
            f"{lower or devices} or {lower + devices}")


def distribution_for(kind: str) -> keras.distribution.Distribution | None:
    """The Keras distribution for ``kind`` (``None`` for ``"none"``) over every device."""
    if kind == "none":
        return None
    devices = keras.distribution.list_devices()
    if kind == "data":
        return keras.distribution.DataParallel(devices=devices)
    if kind == "model":
        mesh = keras.distribution.DeviceMesh((len(devices),), ["model"], devices)
        layout_map = keras.distribution.LayoutMap(mesh)
        for pattern in ROW_SHARDED:
            layout_map[pattern] = ("model", None)
        return keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="model")
    raise MovierecError(f"unknown distribution {kind!r}; choose one of: "
                        f"{', '.join(DISTRIBUTIONS)}")


@contextmanager
def distribution_scope(kind: str) -> Iterator[keras.distribution.Distribution | None]:
    """Build, compile and fit inside this: ``kind``'s distribution, or nothing for "none"."""
    distribution = distribution_for(kind)
    if distribution is None:
        yield None
        return
    # movierec hands each process its own shard (process_shard) as numpy arrays
    distribution.auto_shard_dataset = False
    with distribution.scope():
        yield distribution


def padded_rows(n: int, kind: str, n_devices: int | None = None) -> int:
    """Rows to build a table of ``n`` with: ``n`` rounded up to the devices for "model"."""
    if kind != "model":
        return n
    devices = device_count() if n_devices is None else n_devices
    return -(-n // devices) * devices


@contextmanager
def no_distribution() -> Iterator[None]:
    """Build or score on this process alone, even inside a distribution's scope."""
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def host_values(model: keras.Model) -> list[np.ndarray]:
    """Every weight of ``model`` as a whole numpy array on this host.

    In a multi-process job a weight spans other processes' devices (a sharded table always,
    a replicated one by its sharding), so it is gathered with
    ``jax.experimental.multihost_utils.process_allgather``, a collective: every process
    must call this at the same point.
    """
    if process_count() > 1:
        from jax.experimental import multihost_utils

        return [np.asarray(multihost_utils.process_allgather(v.value, tiled=True))
                for v in model.weights]
    return [np.asarray(keras.ops.convert_to_numpy(v.value)) for v in model.weights]


def host_copy(model: keras.Model, config: Any, n_users: int, n_movies: int,
              rating_range: tuple[float, float], loss: Any) -> keras.Model:
    """A copy of distributed ``model`` on this process's default device, with no
    distribution and exactly ``n_users`` x ``n_movies`` table rows (the padding rows of
    ``distribution="model"`` dropped): what is saved, and what scores in a multi-process job.
    """
    values = host_values(model)
    limits = {model.user_embedding.embeddings.path: n_users,
              model.movie_embedding.embeddings.path: n_movies}
    for layer in ("user_bias", "movie_bias"):
        if getattr(model, layer, None) is not None:
            limits[getattr(model, layer).embeddings.path] = (
                n_users if layer == "user_bias" else n_movies)
    values = [value[:limits[v.path]] if v.path in limits else value
              for v, value in zip(model.weights, values, strict=True)]
    with no_distribution():
        copy = build_model(config.model, n_users, n_movies, factors=config.factors,
                           l2=0.0 if config.optimizer == "sparse-adagrad" else config.l2,
                           rating_range=rating_range, seed=config.seed)
        copy.set_weights(values)
        copy.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=loss)
        copy.optimizer.build(copy.trainable_variables)  # saved like a trained model's
    return copy


def _allgather(values: list[float]) -> np.ndarray:
    """``values`` of every process, one row per process (a collective: all must call it)."""
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(np.asarray(values, np.float64)))


def smallest_across_processes(n: int) -> int:
    """The smallest ``n`` any process of the job has (``n`` alone)."""
    if process_count() == 1:
        return n
    return int(_allgather([float(n)]).min())


def sum_across_processes(values: list[float]) -> list[float]:
    """``values`` summed over the job's processes (``values`` alone)."""
    if process_count() == 1:
        return list(values)
    return [float(v) for v in _allgather(values).reshape(process_count(), -1).sum(axis=0)]


def process_shard(n: int, index: int | None = None, count: int | None = None) -> np.ndarray:
    """The rows of an ``n``-row training set that process ``index`` of ``count`` trains on.

    Every ``count``-th row from ``index`` on, cut to ``n // count`` rows so that every
    process has as many (the steps of a multi-process fit must line up).
    """
    index = process_index() if index is None else index
    count = process_count() if count is None else count
    return np.arange(index, n, count)[: n // count]
