"""Step cost against embedding-table size: dense Adam against sparse row-wise Adagrad.

Keras differentiates an ``Embedding`` as a dense table-sized gradient and Adam then updates
every row of the table and of its two moment tables on every step, so a step's cost grows
with the tables, not with the batch. The sparse step (``movierec.models.sparse``) gathers,
differentiates and scatter-updates only the batch's rows. This measures both, side by side
in one process, for dot-bias with latest-small's tables (610 x 9,724) and with the 25M
release's (162,541 x 59,047), at the same batch size, on random (user, movie) pairs: the
cost of a step does not depend on the values.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import movierec  # noqa: F401  (first: selects the JAX backend before Keras loads)
from movierec.models import build_model
from movierec.models.sparse import SparseAdagrad, use_sparse_updates
from movierec.training import keras_fit

SHAPES = {"latest-small": (610, 9_724), "25m": (162_541, 59_047)}


def milliseconds_per_step(n_users: int, n_movies: int, optimizer: str, batch_size: int,
                          steps: int, seed: int = 0) -> float:
    import keras

    rng = np.random.default_rng(seed)
    n = batch_size * steps
    pairs = np.stack([rng.integers(0, n_users, n), rng.integers(0, n_movies, n)],
                     axis=1).astype(np.int32)
    ratings = rng.choice(np.arange(1, 11) / 2, n).astype(np.float32)
    if optimizer == "adam":
        model = build_model("dot-bias", n_users, n_movies, seed=seed)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    else:
        model = build_model("dot-bias", n_users, n_movies, l2=0.0, seed=seed)
        model.compile(optimizer=SparseAdagrad(0.03), loss="mse")
        use_sparse_updates(model, l2=0.05)
    warm = batch_size * 2
    model.fit(pairs[:warm], ratings[:warm], batch_size=batch_size, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(pairs, ratings, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    keras_fit.wait_for_steps(model)  # wait for the last step
    return (time.perf_counter() - started) / steps * 1000


def run(suite: str, log) -> dict[str, Any]:
    steps = 40 if suite == "full" else 15
    rows = []
    for batch_size in (8192,) if suite == "quick" else (4096, 8192, 32768):
        for shape_name, (n_users, n_movies) in SHAPES.items():
            row: dict[str, Any] = {"tables": shape_name, "batch_size": batch_size,
                                   "parameters": (n_users + n_movies) * 51}
            for optimizer in ("adam", "sparse-adagrad"):
                ms = milliseconds_per_step(n_users, n_movies, optimizer, batch_size, steps)
                row[f"{optimizer}_ms_per_step"] = round(ms, 2)
                row[f"{optimizer}_ratings_per_second"] = round(batch_size / ms * 1000)
            row["sparse_speedup"] = round(row["adam_ms_per_step"]
                                          / row["sparse-adagrad_ms_per_step"], 1)
            rows.append(row)
            log(f"  step cost {shape_name} batch {batch_size}: adam "
                f"{row['adam_ms_per_step']} ms, sparse {row['sparse-adagrad_ms_per_step']} ms")
    return {"rows": rows}
