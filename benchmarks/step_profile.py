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
  :data:`movierec.training.keras_fit.STEPS_PER_CALL` steps, scanned inside one call (today);
* ``jit_one_step_per_call`` / ``jit_scan_epoch``: the compiled step with no Keras around it,
  on batches already on the device, one call per step or the whole epoch in one call.

Inside the step, a replica in plain JAX with the step's own gathers and scatter-adds, cut
after each stage (``stage_*``, cumulative): the four row gathers (user and movie factors
and biases); then the prediction, loss and row gradients; then the four accumulator
scatter-adds and the gathers of their new values; then the four table scatter-adds (the
whole step). Each stage's cost is its difference from the one before.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import movierec  # noqa: F401  (first: selects the JAX backend before Keras loads)
from movierec.models import build_model
from movierec.models.sparse import SparseAdagrad, block_size, use_sparse_updates
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
           batch_size: int | None, steps_per_execution: int = 1):
    import keras

    keras.utils.set_random_seed(0)
    model = build_model("dot-bias", n_users, n_movies, factors=factors, l2=0.0,
                        rating_range=(0.5, 5.0), seed=0)
    model.compile(optimizer=SparseAdagrad(learning_rate), loss="mse",
                  steps_per_execution=steps_per_execution)
    use_sparse_updates(model, l2=l2, batch_size=batch_size)
    return model


def _fit_ms_per_epoch(model, pairs, ratings, fit_batch: int, epochs: int = 6) -> float:
    """Median training seconds of an epoch after the first, as ``train`` records them."""
    import keras

    seconds: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            keras.ops.convert_to_numpy(self.model.optimizer.iterations.value)
            seconds.append(time.perf_counter() - self.started)

    model.fit(pairs, ratings, batch_size=fit_batch, epochs=epochs, shuffle=True, verbose=0,
              callbacks=[Clock()])
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
    plain = _model(n_users, n_movies, factors, learning_rate, l2, None)
    rows["fit_one_step_per_call"] = _fit_ms_per_epoch(plain, pairs, ratings, batch_size) / steps
    keras_loop = _model(n_users, n_movies, factors, learning_rate, l2, None,
                        steps_per_execution=KERAS_STEPS_PER_EXECUTION)
    rows[f"fit_keras_steps_per_execution_{KERAS_STEPS_PER_EXECUTION}"] = _fit_ms_per_epoch(
        keras_loop, pairs, ratings, batch_size) / steps
    blocks = _model(n_users, n_movies, factors, learning_rate, l2, batch_size)
    rows["fit_blocks"] = _fit_ms_per_epoch(
        blocks, pairs, ratings, block_size(batch_size, STEPS_PER_CALL, n)) / steps

    model = _model(n_users, n_movies, factors, learning_rate, l2, None)
    state = [tuple(v.value for v in variables) for variables in (
        model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
        model.metrics_variables)]
    x = jnp.asarray(pairs.reshape(steps, batch_size, 2))
    y = jnp.asarray(ratings.reshape(steps, batch_size))
    # Keras donates the state to its compiled step, so XLA updates the tables in place
    step = jax.jit(model.train_step, donate_argnums=0)
    holder = {"state": state}

    def per_call():
        for i in range(steps):
            _, holder["state"] = step(holder["state"], (x[i], y[i]))
        return holder["state"]

    rows["jit_one_step_per_call"] = _median_ms(per_call) / steps

    def epoch(state, x, y):
        def body(carry, batch):
            _, carry = model.train_step(carry, batch)
            return carry, None
        return jax.lax.scan(body, state, (x, y))[0]

    scanned = jax.jit(epoch, donate_argnums=0)

    def one_call():
        holder["state"] = scanned(holder["state"], x, y)
        return holder["state"]

    rows["jit_scan_epoch"] = _median_ms(one_call) / steps
    stages = _stages(x, y, n_users, n_movies, factors, learning_rate, l2)
    rows.update({f"stage_{name}": ms / steps for name, ms in stages.items()})
    return {key: round(value, 4) if isinstance(value, float) else value
            for key, value in rows.items()}


STAGES = ("gathers", "loss_and_gradients", "accumulators", "table_scatters")


def _stages(x, y, n_users: int, n_movies: int, factors: int, learning_rate: float,
            l2: float) -> dict[str, float]:
    """The replica's epoch in one call, cut after each stage: milliseconds per epoch."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    tables = [jnp.asarray(rng.normal(0, 0.1, (n, f)), jnp.float32)
              for n, f in ((n_users, factors), (n_movies, factors), (n_users, 1),
                           (n_movies, 1))]
    accumulators = [jnp.zeros((len(t), 1), jnp.float32) for t in tables]
    batch = x.shape[1]

    def step(stage: int):
        def body(carry, data):
            (tables, accumulators), (pairs, ratings) = carry, data
            index = [pairs[:, 0], pairs[:, 1], pairs[:, 0], pairs[:, 1]]
            rows = [t[i] for t, i in zip(tables, index, strict=True)]
            if stage == 0:
                return (tables, [a + jnp.sum(r) for a, r in zip(accumulators, rows,
                                                                strict=True)]), None

            def loss(rows):
                p, q, bu, bi = rows
                predicted = 0.5 + 4.5 * jax.nn.sigmoid(jnp.sum(p * q, 1) + bu[:, 0] + bi[:, 0])
                return jnp.mean((predicted - ratings) ** 2
                                + l2 * (jnp.sum(p * p, 1) + jnp.sum(q * q, 1)))

            grads = [g * batch for g in jax.grad(loss)(rows)]
            if stage == 1:
                return (tables, [a + jnp.sum(g) for a, g in zip(accumulators, grads,
                                                                strict=True)]), None
            accumulators = [a.at[i].add(jnp.mean(g * g, -1, keepdims=True))
                            for a, i, g in zip(accumulators, index, grads, strict=True)]
            now = [a[i] for a, i in zip(accumulators, index, strict=True)]
            if stage == 2:
                return (tables, [a + jnp.sum(s) for a, s in zip(accumulators, now,
                                                                strict=True)]), None
            tables = [t.at[i].add(-learning_rate * g / jnp.sqrt(s + 1e-8))
                      for t, i, g, s in zip(tables, index, grads, now, strict=True)]
            return (tables, accumulators), None
        return body

    out = {}
    for stage, name in enumerate(STAGES):
        run = jax.jit(lambda carry, x, y, stage=stage: jax.lax.scan(step(stage), carry,
                                                                      (x, y))[0],
                      donate_argnums=0)
        holder = {"carry": jax.tree.map(jnp.copy, (tables, accumulators))}

        def once(run=run, holder=holder):
            holder["carry"] = run(holder["carry"], x, y)
            return holder["carry"]

        out[name] = _median_ms(once)
    return out
