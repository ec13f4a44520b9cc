"""Where the fast path's training time goes: Keras' ``fit`` around the step, the compiled
step alone, and the stages inside it.

Three ways of running the same sparse row-wise Adagrad steps of dot-bias (the model's own
``train_step``, :mod:`movierec.models.sparse`) over one shuffled epoch of ``batch_size``
ratings per step, as milliseconds per step:

* ``fit_one_step_per_call``: ``model.fit`` with one step per compiled call (movierec before
  issue 24): per step, Keras slices the batch on the host, moves it to the device, calls the
  compiled step and runs its callbacks;
* ``fit_keras_steps_per_execution_8``: Keras' own ``steps_per_execution=8``, one step per
  compiled call still, with ``fit``'s loop and callbacks once per 8 steps;
* ``fit_blocks``: ``model.fit`` handing the step blocks of up to
  :data:`movierec.training.keras_fit.STEPS_PER_CALL` steps, scanned inside one call, fed
  by :class:`~movierec.training.blocks.ShuffledBlocks` (as ``train`` feeds it);
* ``jit_one_step_per_call`` / ``jit_scan_epoch``: the compiled step with no Keras around it,
  on batches already on the device, one call per step or the whole epoch in one call.

Those are the ``jax.numpy`` step's. ``fit_blocks_fused`` is the same for the fused kernel
(:mod:`movierec.models.fused`, what ``fit`` runs for dot-bias: one call per block takes all
its steps), and ``jit_scan_epoch_fused`` scans the kernel one step per call. ``fit_idle_step``
is ``fit`` over the same blocks with a step that does nothing: ``fit``'s own share of an
epoch (shuffling the ratings, copying the blocks to the device, its callbacks and
bookkeeping), which no step can remove; ``fit_idle_step_keras_shuffle`` the same with
Keras' own array adapter shuffling and slicing the arrays (what ``train`` did before).

Inside the step (``op_*``): the scanned epoch under JAX's profiler, in a fresh process with
XLA's per-operation trace on (``--xla_cpu_enable_xprof_traceme``), each compiled operation's
time summed by kind: row gathers (``gather`` in XLA's name for it, user and movie factor and
bias rows and the accumulators' new values), scatter-adds (tables and accumulators), the
row sums (``dot``: the factor dot product, the squared norms and mean squares), and the
elementwise fusions (loss, gradients, the Adagrad update); ``op_top`` lists the costliest
single operations. Random (user, movie) pairs with the data's table sizes: a step's cost
does not depend on the values.

Usage: ``python -m benchmarks.step_profile --trace`` (one JSON line; ``benchmarks.
compiled_sgd`` runs it).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import movierec  # noqa: F401  (first: selects the JAX backend before Keras loads)
from movierec.models import build_model
from movierec.models.sparse import SparseAdagrad, block_size, use_sparse_updates
from movierec.training import keras_fit
from movierec.training.blocks import ShuffledBlocks
from movierec.training.keras_fit import STEPS_PER_CALL

REPEATS = 7
KERAS_STEPS_PER_EXECUTION = 8
"""Keras' own route to several steps per call (``compile(steps_per_execution=...)``): its JAX
trainer runs that many steps per iteration of ``fit``'s loop, one compiled call each."""


def _median_ms(run, repeats: int = REPEATS) -> float:
    import jax

    jax.block_until_ready(run())  # compile and warm
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(run())
        seconds.append(time.perf_counter() - started)
    return 1000 * float(np.median(seconds))


def _model(n_users: int, n_movies: int, factors: int, learning_rate: float, l2: float,
           batch_size: int | None, steps_per_execution: int = 1, fused: bool | None = None):
    import keras

    keras.utils.set_random_seed(0)
    model = build_model("dot-bias", n_users, n_movies, factors=factors, l2=0.0,
                        rating_range=(0.5, 5.0), seed=0)
    model.compile(optimizer=SparseAdagrad(learning_rate), loss="mse",
                  steps_per_execution=steps_per_execution)
    use_sparse_updates(model, l2=l2, batch_size=batch_size, fused=fused)
    return model


def _fit_ms_per_epoch(model, pairs, ratings, fit_batch: int, epochs: int = 6,
                      shuffled_blocks: bool = False) -> float:
    """Median training seconds of an epoch after the first, as ``train`` records them;
    ``fit`` over the arrays (Keras shuffles them) or, with ``shuffled_blocks``, over
    :class:`~movierec.training.blocks.ShuffledBlocks` of ``fit_batch`` (what ``train``
    hands it)."""
    import keras

    seconds: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            keras_fit.wait_for_steps(self.model)
            seconds.append(time.perf_counter() - self.started)

    if shuffled_blocks:
        model.fit(ShuffledBlocks(pairs, ratings, fit_batch, seed=0), epochs=epochs,
                  shuffle=False, verbose=0, callbacks=[Clock()])
    else:
        model.fit(pairs, ratings, batch_size=fit_batch, epochs=epochs, shuffle=True,
                  verbose=0, callbacks=[Clock()])
    return 1000 * float(np.median(seconds[1:]))


def profile(pairs: np.ndarray, ratings: np.ndarray, n_users: int, n_movies: int, *,
            batch_size: int, factors: int = 50, learning_rate: float = 0.03,
            l2: float = 0.05) -> dict[str, Any]:
    """Milliseconds per step of each way and stage (module docstring), on these ratings."""
    import jax
    import jax.numpy as jnp

    steps = len(ratings) // batch_size
    n = steps * batch_size  # whole steps only, so that every way runs the same steps
    pairs, ratings = pairs[:n].astype(np.int32), ratings[:n].astype(np.float32)
    rows: dict[str, Any] = {"batch_size": batch_size, "steps_per_epoch": steps,
                            "steps_per_call": STEPS_PER_CALL}
    plain = _model(n_users, n_movies, factors, learning_rate, l2, None, fused=False)
    rows["fit_one_step_per_call"] = _fit_ms_per_epoch(plain, pairs, ratings, batch_size) / steps
    keras_loop = _model(n_users, n_movies, factors, learning_rate, l2, None,
                        steps_per_execution=KERAS_STEPS_PER_EXECUTION, fused=False)
    rows[f"fit_keras_steps_per_execution_{KERAS_STEPS_PER_EXECUTION}"] = _fit_ms_per_epoch(
        keras_loop, pairs, ratings, batch_size) / steps
    fit_batch = block_size(batch_size, STEPS_PER_CALL, n)
    for fused, suffix in ((False, ""), (True, "_fused")):
        blocks = _model(n_users, n_movies, factors, learning_rate, l2, batch_size, fused=fused)
        rows[f"fit_blocks{suffix}"] = _fit_ms_per_epoch(
            blocks, pairs, ratings, fit_batch, shuffled_blocks=True) / steps
    # fit's own share: its loop over the same blocks with a step that does nothing, fed
    # by ShuffledBlocks (as train feeds it) and by Keras' array adapter (before)
    for shuffled, name in ((True, "fit_idle_step"), (False, "fit_idle_step_keras_shuffle")):
        idle = _model(n_users, n_movies, factors, learning_rate, l2, batch_size, fused=False)
        idle.train_step = _idle_step
        rows[name] = _fit_ms_per_epoch(idle, pairs, ratings, fit_batch,
                                       shuffled_blocks=shuffled) / steps

    x = jnp.asarray(pairs.reshape(steps, batch_size, 2))
    y = jnp.asarray(ratings.reshape(steps, batch_size))
    rows["jit_scan_epoch_fused"] = _scanned_ms(
        _model(n_users, n_movies, factors, learning_rate, l2, None, fused=True), x, y) / steps
    model = _model(n_users, n_movies, factors, learning_rate, l2, None, fused=False)
    state = [tuple(v.value for v in variables) for variables in (
        model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
        model.metrics_variables)]
    # Keras donates the state to its compiled step, so XLA updates the tables in place
    step = jax.jit(model.train_step, donate_argnums=0)
    holder = {"state": state}

    def per_call():
        for i in range(steps):
            _, holder["state"] = step(holder["state"], (x[i], y[i]))
        return holder["state"]

    rows["jit_one_step_per_call"] = _median_ms(per_call) / steps
    rows["jit_scan_epoch"] = _scanned_ms(
        _model(n_users, n_movies, factors, learning_rate, l2, None, fused=False), x, y) / steps
    rows.update(traced_in_subprocess(n_users, n_movies, batch_size, steps))
    return {key: round(value, 4) if isinstance(value, float) else value
            for key, value in rows.items()}


def _scanned_ms(model, x, y) -> float:
    """Milliseconds of one compiled call that scans ``model``'s step over the epoch ``x, y``
    (batches already on the device; no Keras around it)."""
    import jax

    state = tuple([v.value for v in variables] for variables in (
        model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
        model.metrics_variables))

    def epoch(state, x, y):
        def body(carry, batch):
            _, carry = model.train_step(carry, batch)
            return tuple(list(part) for part in carry), None
        return jax.lax.scan(body, state, (x, y))[0]

    scanned = jax.jit(epoch, donate_argnums=0)
    holder = {"state": state}

    def one_call():
        holder["state"] = scanned(holder["state"], x, y)
        return holder["state"]

    return _median_ms(one_call)


def _idle_step(state, data):
    """A ``train_step`` that changes nothing: what ``fit`` costs around any step."""
    trainable, non_trainable, optimizer_vars, metrics_vars = state
    optimizer_vars = list(optimizer_vars)
    return {}, (list(trainable), list(non_trainable), optimizer_vars, list(metrics_vars))


KINDS = ("gather", "scatter", "dot")


def traced_in_subprocess(n_users: int, n_movies: int, batch_size: int, steps: int
                         ) -> dict[str, Any]:
    """:func:`traced_ops` in a fresh process with XLA's per-operation trace on."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_enable_xprof_traceme=true".strip()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.step_profile", "--trace", "--users", str(n_users),
         "--movies", str(n_movies), "--batch-size", str(batch_size), "--steps", str(steps)],
        capture_output=True, text=True, check=False, env={**os.environ, "XLA_FLAGS": flags},
        cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise RuntimeError(f"the traced step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def traced_ops(n_users: int, n_movies: int, batch_size: int, steps: int,
               factors: int = 50, repeats: int = 5) -> dict[str, Any]:
    """Milliseconds per step of each kind of compiled operation in the scanned epoch."""
    import collections
    import gzip
    import json
    import tempfile
    from pathlib import Path

    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    n = steps * batch_size
    pairs = np.stack([rng.integers(0, n_users, n), rng.integers(0, n_movies, n)], axis=1)
    ratings = rng.choice(np.arange(1, 11) / 2, n).astype(np.float32)
    model = _model(n_users, n_movies, factors, 0.03, 0.05, None, fused=False)
    state = tuple([v.value for v in variables] for variables in (
        model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
        model.metrics_variables))
    x = jnp.asarray(pairs.astype(np.int32).reshape(steps, batch_size, 2))
    y = jnp.asarray(ratings.reshape(steps, batch_size))

    def epoch(state, x, y):
        def body(carry, batch):
            _, carry = model.train_step(carry, batch)
            return tuple(list(part) for part in carry), None
        return jax.lax.scan(body, state, (x, y))[0]

    scanned = jax.jit(epoch, donate_argnums=0)
    state = jax.block_until_ready(scanned(state, x, y))
    with tempfile.TemporaryDirectory() as folder:
        jax.profiler.start_trace(folder, create_perfetto_trace=True)
        for _ in range(repeats):
            state = scanned(state, x, y)
        jax.block_until_ready(state)
        jax.profiler.stop_trace()
        trace = next(Path(folder).rglob("*.trace.json.gz"))
        events = json.loads(gzip.decompress(trace.read_bytes()))
    events = events["traceEvents"] if isinstance(events, dict) else events
    per_op: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("ph") == "X" and event.get("tid") is not None:
            per_op[event["name"]] += event.get("dur", 0)
    whole = per_op.get("ThunkExecutor::Execute", 0)
    ops = {name: us for name, us in per_op.items()
           if not name.startswith(("$", "ThunkExecutor", "PjitFunction", "Common", "Handle",
                                   "end:", "while"))}
    scale = 1000 * repeats * steps  # microseconds over the run -> milliseconds per step
    out: dict[str, Any] = {"op_total": whole / scale}
    for kind in KINDS:
        out[f"op_{kind}"] = sum(us for name, us in ops.items() if kind in name) / scale
    out["op_elementwise_and_rest"] = sum(
        us for name, us in ops.items() if not any(kind in name for kind in KINDS)) / scale
    out["op_top"] = [[name, round(us / scale, 4)] for name, us in
                     sorted(ops.items(), key=lambda item: -item[1])[:8]]
    return {key: round(value, 4) if isinstance(value, float) else value
            for key, value in out.items()}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="The traced step's operations by kind.")
    parser.add_argument("--trace", action="store_true", required=True)
    parser.add_argument("--users", type=int, default=610)
    parser.add_argument("--movies", type=int, default=9_724)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=22)
    args = parser.parse_args(argv)
    print(json.dumps(traced_ops(args.users, args.movies, args.batch_size, args.steps)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
