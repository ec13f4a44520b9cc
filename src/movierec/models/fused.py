"""The fast path's sparse step for ``dot-bias`` as one fused kernel inside the compiled step.

:mod:`movierec.models.sparse` trains the factor tables with row-wise Adagrad on batches of
ratings: gather the batch's rows, differentiate, scatter-add the updates. Written with
``jax.numpy``, XLA's CPU backend runs that as some twenty kernels that each write and read
a ``(batch, factors)`` array: at 4,096 x 50 floats, 800 KB each, most of a core's L2. The
step then costs about five times what a plain compiled SGD loop needs for the same ratings
(``benchmarks/results/compiled-sgd.md``).

This module computes the same step for :class:`~movierec.models.embedding.DotBiasModel` the
way embedding libraries do (FBGEMM's fused embedding optimizers, for one): one loop over the
batch's ratings with each rating's two rows in cache, compiled by numba and called from the
JAX-compiled train step as an XLA foreign function (``jax.ffi``; the tables are updated in
place, their buffers aliased). Keras' ``fit`` still runs the step, the model is still an
ordinary Keras model saved as a ``.keras`` file, and the step computes what the ``jax.numpy``
one computes, rounding aside (tests compare them):

* ``pred = low + (high - low) * sigmoid(p_u . q_i + b_u + b_i)``; the per-rating loss is
  ``(pred - y)^2 + l2 (|p_u|^2 + |q_i|^2) + bias_l2 (b_u^2 + b_i^2)``, its gradient taken
  per rating (times ``w_j * batch / sum(w)`` with sample weights);
* each occurrence of a row adds the mean square of its gradient to the row's accumulator;
  then each occurrence steps ``-lr * g / sqrt(accumulator + epsilon)`` with the batch's
  final accumulator, every gradient taken at the weights before the step.

One call takes all the steps of a ``fit`` batch (a block of up to ``STEPS_PER_CALL``
steps), each step in two phases: (1) the dot products, losses and gradients of the step's
ratings, with both rows of each rating copied aside; (2) the accumulators and the rows of
each table, each table's update reading the other's rows as they were copied. The two
halves of (1) are independent, and so are the two tables of (2): where numba has two
threads (its OpenMP layer; the machine has two cores), they take these four tasks per
step in order from a shared counter, a task waiting for the phase before it to be done.
A thread only ever waits for tasks another thread has already taken, so one thread alone
runs them all in turn, and the result is the same to the bit either way. The L2 part of
a row's gradient is the same for each of its occurrences, so it is applied once per row,
with the row's first data step; a row's step size is computed once per step.

The kernel needs numba and JAX on the CPU. :func:`supported` says whether this process can
use it; :func:`ready` compiles it (numba caches the machine code on disk), registers it and
checks it against the same step computed by numpy (:func:`reference_step`) on a small
batch with repeated rows. On any failure the sparse step falls back to its ``jax.numpy``
form with a warning.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
import warnings
from typing import Any

import numpy as np

__all__ = ["dot_bias_step", "ready", "reference_step", "steps_of", "supported", "threads_used"]

TARGET = "movierec_dot_bias_sparse_adagrad"
"""The name the kernel is registered under with XLA."""

_lock = threading.Lock()
_state: dict[str, Any] = {}


def supported() -> bool:
    """True when the fused kernel can run here: numba is installed and JAX runs on the CPU.
    (Whether it compiled and passed its check is known on first use: :func:`dot_bias_step`
    returns ``None`` when it did not.)"""
    if importlib.util.find_spec("numba") is None:
        return False
    import jax

    return all(device.platform == "cpu" for device in jax.devices())


def ready() -> bool:
    """Compile (or load from numba's cache) the kernel, register it with XLA and check it,
    once per process; False, with a warning, when any of that failed. Call before tracing
    a step that uses :func:`dot_bias_step` (not while tracing: the check runs JAX)."""
    with _lock:
        if "ok" in _state:
            return _state["ok"]
        try:
            _state["handler"] = _compile()
            _register(_state["handler"])
            _self_check()
            _state["ok"] = True
        except Exception as error:  # any failure: the jax.numpy step is used instead
            warnings.warn(f"the fused dot-bias step is unavailable ({error}); the sparse "
                          "step runs as jax.numpy instead (slower, the same updates)",
                          RuntimeWarning, stacklevel=3)
            _state["ok"] = False
        return _state["ok"]


def _fused_kernel():
    from movierec.models import _fused_kernel

    return _fused_kernel


def _compile():
    """The kernel's XLA handler, compiled (numba caches it on disk after the first time)."""
    return _fused_kernel().handler


def _register(handler) -> None:
    import jax

    new_capsule = ctypes.pythonapi.PyCapsule_New
    new_capsule.restype = ctypes.py_object
    new_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    capsule = new_capsule(handler.address, b"xla._CUSTOM_CALL_TARGET", None)
    _state["capsule"] = capsule  # XLA keeps the address, not a reference
    jax.ffi.register_ffi_target(TARGET, capsule, platform="cpu")


def _call(tables, accumulators, pairs, y, weight, learning_rates, scalars, batch_size: int):
    import jax
    import jax.numpy as jnp

    n, factors = pairs.shape[0], tables[0].shape[1]
    batch = min(batch_size, n)
    steps = learning_rates.shape[0]
    flat = [jnp.reshape(t, (-1,)) for t in tables[2:]] + [
        jnp.reshape(a, (-1,)) for a in accumulators]
    operands = [tables[0], tables[1], *flat, pairs, y, weight, learning_rates, scalars,
                _tuner_address()]
    scratch = [jax.ShapeDtypeStruct(shape, jnp.float32) for shape in (
        (batch, factors), (batch, factors), (2, tables[0].shape[0]), (2, tables[1].shape[0]),
        (_fused_kernel().SCRATCH_ROWS, batch))] + [jax.ShapeDtypeStruct((2,), jnp.int32)]
    results = jax.ffi.ffi_call(
        TARGET,
        [jax.ShapeDtypeStruct(v.shape, v.dtype) for v in operands[:8]]
        + [jax.ShapeDtypeStruct((n,), jnp.float32),
           jax.ShapeDtypeStruct((2 * steps, 2), jnp.float32)] + scratch,
        input_output_aliases={i: i for i in range(8)},
    )(*operands)
    new_tables = [results[0], results[1]] + [
        jnp.reshape(v, t.shape) for v, t in zip(results[2:4], tables[2:], strict=True)]
    new_accumulators = [jnp.reshape(v, a.shape)
                        for v, a in zip(results[4:8], accumulators, strict=True)]
    sums = jnp.sum(jnp.reshape(results[9], (steps, 2, 2)), axis=1)  # the two halves
    return new_tables, new_accumulators, results[8], sums[:, 0] / sums[:, 1]


def _tuner_address():
    """The kernel's thread-count tuner (``_fused_kernel._threads``): its state's address,
    as two uint32 (the state lives as long as the process)."""
    import jax.numpy as jnp

    if "tuner" not in _state:
        _state["tuner"] = np.zeros(_fused_kernel().TUNER_WORDS, np.float64)
    address = _state["tuner"].ctypes.data
    return jnp.asarray([address & 0xFFFFFFFF, address >> 32], jnp.uint32)


def threads_used() -> dict[str, float]:
    """How the kernel has run in this process: ``calls``, ``with_two_threads`` (how many
    of them ran on two threads) and its estimates of the cycles per rating on one and on
    two threads (0: not measured yet)."""
    tuner = _state.get("tuner")
    if tuner is None:
        return {"calls": 0, "with_two_threads": 0, "cycles_one": 0.0, "cycles_two": 0.0}
    kernel = _fused_kernel()
    return {"calls": int(tuner[kernel.CALLS]), "with_two_threads": int(tuner[kernel.WITH_TWO]),
            "cycles_one": float(tuner[kernel.ONE]), "cycles_two": float(tuner[kernel.TWO])}


def steps_of(n: int, batch_size: int | None) -> int:
    """How many steps :func:`dot_bias_step` takes over ``n`` ratings."""
    return 1 if batch_size is None or n == 0 else -(-n // batch_size)


def dot_bias_step(tables, accumulators, pairs, y, weight, *, learning_rate, l2: float,
                  bias_l2: float, rating_range: tuple[float, float], epsilon: float,
                  batch_size: int | None = None):
    """Sparse row-wise Adagrad steps of dot-bias, fused; call while tracing a JAX step.

    The ratings are taken as consecutive steps of ``batch_size`` (the last one shorter
    when it does not divide; ``None``: one step of all of them), in one call.

    Args:
        tables: ``[user_factors (U, F), movie_factors (M, F), user_bias (U, 1),
            movie_bias (M, 1)]``, float32.
        accumulators: the tables' Adagrad accumulators, ``(U, 1), (M, 1), (U, 1), (M, 1)``.
        pairs: the ratings' ``[user, movie]`` rows, int32 ``(n, 2)``.
        y: the ratings, ``(n,)``; weight: the sample weights, ``(n,)`` (ones without).
        learning_rate: a scalar, or one per step (:func:`steps_of`); may be traced.
        l2, bias_l2: the per-rating penalties.
        rating_range: ``(low, high)`` of the model's output; epsilon: Adagrad's epsilon.
        batch_size: the ratings per step.

    Returns:
        ``(new_tables, new_accumulators, predictions (n,), step_losses (steps,))``: each
        prediction is the one its step computed, before it; a step's loss is the weighted
        mean squared error of its predictions (the penalties left out).

    Raises:
        RuntimeError: :func:`ready` was not called, or found the kernel unusable.
    """
    if not _state.get("ok"):
        raise RuntimeError("call movierec.models.fused.ready() before tracing dot_bias_step")
    return _steps(tables, accumulators, pairs, y, weight, learning_rate=learning_rate, l2=l2,
                  bias_l2=bias_l2, rating_range=rating_range, epsilon=epsilon,
                  batch_size=batch_size)


def _steps(tables, accumulators, pairs, y, weight, *, learning_rate, l2, bias_l2,
           rating_range, epsilon, batch_size):
    import jax.numpy as jnp

    n = pairs.shape[0]
    steps = steps_of(n, batch_size)
    rates = jnp.broadcast_to(jnp.asarray(learning_rate, jnp.float32).reshape(-1), (steps,))
    scalars = jnp.asarray([l2, bias_l2, *rating_range, epsilon], jnp.float32)
    return _call(tables, accumulators, jnp.asarray(pairs, jnp.int32), y, weight, rates,
                 scalars, n if batch_size is None else batch_size)


def reference_step(tables, accumulators, pairs, y, weight, *, learning_rate, l2: float,
                   bias_l2: float, rating_range: tuple[float, float], epsilon: float,
                   batch_size: int | None = None):
    """The same steps in numpy (float64), for checks: returns what :func:`dot_bias_step`
    returns, as numpy arrays."""
    tables = [np.asarray(t, np.float64).copy() for t in tables]
    accumulators = [np.asarray(a, np.float64).copy() for a in accumulators]
    pairs = np.asarray(pairs)
    y, weight = np.asarray(y, np.float64), np.asarray(weight, np.float64)
    n = len(pairs)
    steps = steps_of(n, batch_size)
    size = n if batch_size is None else batch_size
    rates = np.broadcast_to(np.asarray(learning_rate, np.float64).reshape(-1), (steps,))
    predictions, losses = [], []
    for step, rate in enumerate(rates):
        part = slice(step * size, (step + 1) * size)
        predicted = _reference_one_step(
            tables, accumulators, pairs[part, 0], pairs[part, 1], y[part], weight[part],
            float(rate), l2, bias_l2, rating_range, epsilon)
        predictions.append(predicted)
        losses.append(np.average((predicted - y[part]) ** 2, weights=weight[part]))
    return tables, accumulators, np.concatenate(predictions), np.array(losses)


def _reference_one_step(tables, accumulators, users, movies, y, weight, learning_rate, l2,
                        bias_l2, rating_range, epsilon):
    """One step of :func:`reference_step`, updating its lists' arrays in place."""
    p, q, bu, bi = tables
    low, high = rating_range
    pu, qi = p[users], q[movies]
    s = 1 / (1 + np.exp(-((pu * qi).sum(1) + bu[users, 0] + bi[movies, 0])))
    pred = low + (high - low) * s
    c = weight * len(y) / weight.sum()
    dz = c * 2 * (pred - y) * (high - low) * s * (1 - s)
    grads = [dz[:, None] * qi + c[:, None] * 2 * l2 * pu,
             dz[:, None] * pu + c[:, None] * 2 * l2 * qi,
             (dz + c * 2 * bias_l2 * bu[users, 0])[:, None],
             (dz + c * 2 * bias_l2 * bi[movies, 0])[:, None]]
    for table, acc, rows, g in zip(tables, accumulators, (users, movies, users, movies),
                                   grads, strict=True):
        np.add.at(acc, (rows, 0), (g ** 2).mean(axis=1))
        np.add.at(table, rows, -learning_rate * g / np.sqrt(acc[rows] + epsilon))
    return pred


def _self_check() -> None:
    """Run the registered kernel through JAX on a small block of steps (rows repeating
    within and across them, the last step shorter, a rate per step) and compare it with
    :func:`reference_step`; raise when they differ."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    n_users, n_movies, factors, n, batch = 7, 11, 5, 40, 16
    tables = [rng.normal(0, 0.3, (n_users, factors)), rng.normal(0, 0.3, (n_movies, factors)),
              rng.normal(0, 0.1, (n_users, 1)), rng.normal(0, 0.1, (n_movies, 1))]
    accumulators = [rng.uniform(0, 1, (len(t), 1)) for t in tables]
    pairs = np.stack([rng.integers(0, n_users, n), rng.integers(0, n_movies, n)],
                     axis=1).astype(np.int32)
    y = rng.uniform(1, 5, n)
    weight = rng.uniform(0.5, 1.5, n)
    rates = np.array([0.1, 0.05, 0.02])
    settings: dict[str, Any] = {"l2": 0.05, "bias_l2": 0.01, "rating_range": (1.0, 5.0),
                                "epsilon": 1e-8, "batch_size": batch}
    f32 = [jnp.asarray(v, jnp.float32) for v in (*tables, *accumulators, y, weight, rates)]
    got = jax.jit(lambda *v: _steps(
        list(v[:4]), list(v[4:8]), v[8], v[9], v[10], learning_rate=v[11],
        **settings))(*f32[:8], pairs, *f32[8:])
    want = reference_step(tables, accumulators, pairs, y, weight, learning_rate=rates,
                          **settings)
    for got_part, want_part in zip(got[:2], want[:2], strict=True):
        for a, b in zip(got_part, want_part, strict=True):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-5)
    for got_part, want_part in zip(got[2:], want[2:], strict=True):
        np.testing.assert_allclose(np.asarray(got_part), want_part, rtol=1e-4, atol=1e-5)
