"""The machine's limit for the fast path: plain biased matrix factorization compiled with
numba, next to ``--preset fast``'s dot-bias, in the same run on the same split.

The reference is the textbook SGD loop (Funk / Surprise's SVD): for each training rating in
a shuffled order, ``e = r - (mu + b_u + b_i + p_u . q_i)``, then each bias and factor steps
along ``e`` with an L2 pull; 50 factors, float32. One thread, and all threads (Hogwild:
``numba.prange`` over blocks of the shuffled order, updates unsynchronised). Reported per
row: steady ratings/s (median epoch after the first, which compiles; for the fast path the
figure ``train`` prints and records, ``steady_ratings_per_second``), the ratio of the fast
path's to each row's, and the RMSE on the tutorial split's held-out part after the same
number of epochs (the fast preset's). A second fast-path row runs one step per compiled
call (as movierec did before issue 24), for the gain of the blocks of steps
(:mod:`movierec.models.sparse`); then where a step's time goes
(:mod:`benchmarks.step_profile`). Results: ``benchmarks/results/compiled-sgd.md``.

Usage (numba is the ``bench`` extra's, like Surprise)::

    python -m benchmarks.compiled_sgd --data-dir ../shared/data

Issue 24's target: the fast path at >= 0.6x the single-thread loop's ratings/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from benchmarks import step_profile
from benchmarks.common import latest_small, machine_info
from movierec.presets import resolve_preset
from movierec.training import TrainConfig, keras_fit

try:
    import numba
except ImportError as error:  # pragma: no cover - an optional extra
    raise SystemExit('benchmarks.compiled_sgd needs numba: pip install -e ".[bench]"') from error


@numba.njit(fastmath=True, cache=False)
def _step(u, i, r, p, q, bu, bi, mu, lr, reg):  # pragma: no cover - compiled
    pred = mu + bu[u] + bi[i]
    for f in range(p.shape[1]):
        pred += p[u, f] * q[i, f]
    e = r - pred
    bu[u] += lr * (e - reg * bu[u])
    bi[i] += lr * (e - reg * bi[i])
    for f in range(p.shape[1]):
        pu, qi = p[u, f], q[i, f]
        p[u, f] += lr * (e * qi - reg * pu)
        q[i, f] += lr * (e * pu - reg * qi)


@numba.njit(fastmath=True)
def sgd_epoch(users, movies, ratings, order, p, q, bu, bi, mu, lr, reg):  # pragma: no cover
    for k in range(order.shape[0]):
        j = order[k]
        _step(users[j], movies[j], ratings[j], p, q, bu, bi, mu, lr, reg)


@numba.njit(fastmath=True, parallel=True)
def hogwild_epoch(users, movies, ratings, order, p, q, bu, bi, mu, lr, reg,
                  blocks):  # pragma: no cover
    size = (order.shape[0] + blocks - 1) // blocks
    for b in numba.prange(blocks):
        for k in range(b * size, min((b + 1) * size, order.shape[0])):
            j = order[k]
            _step(users[j], movies[j], ratings[j], p, q, bu, bi, mu, lr, reg)


@numba.njit(fastmath=True)
def predict(users, movies, p, q, bu, bi, mu, low, high):  # pragma: no cover
    out = np.empty(users.shape[0], dtype=np.float32)
    for k in range(users.shape[0]):
        u, i = users[k], movies[k]
        value = mu + bu[u] + bi[i]
        for f in range(p.shape[1]):
            value += p[u, f] * q[i, f]
        out[k] = min(max(value, low), high)
    return out


def compiled_loop(encoded, epochs: int, *, threads: int, factors: int = 50,
                  lr: float = 0.01, reg: float = 0.05, seed: int = 0) -> dict:
    """Train the plain loop; steady ratings/s and the validation RMSE after ``epochs``."""
    numba.set_num_threads(threads)
    pairs, ratings = encoded.train_pairs, encoded.train_ratings.astype(np.float32)
    users, movies = pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32)
    rng = np.random.default_rng(seed)
    n_users, n_movies = len(encoded.encoders.users), len(encoded.encoders.movies)
    p = rng.normal(0, 0.1, (n_users, factors)).astype(np.float32)
    q = rng.normal(0, 0.1, (n_movies, factors)).astype(np.float32)
    bu, bi = np.zeros(n_users, np.float32), np.zeros(n_movies, np.float32)
    mu = np.float32(ratings.mean())
    seconds = []
    for _ in range(epochs):
        order = rng.permutation(len(ratings)).astype(np.int64)
        started = time.perf_counter()
        if threads == 1:
            sgd_epoch(users, movies, ratings, order, p, q, bu, bi, mu, np.float32(lr),
                      np.float32(reg))
        else:
            hogwild_epoch(users, movies, ratings, order, p, q, bu, bi, mu, np.float32(lr),
                          np.float32(reg), threads * 8)
        seconds.append(time.perf_counter() - started)
    low, high = encoded.rating_range
    test = encoded.test_pairs
    predicted = predict(test[:, 0].astype(np.int32), test[:, 1].astype(np.int32), p, q, bu,
                        bi, mu, np.float32(low), np.float32(high))
    rmse = float(np.sqrt(np.mean((predicted - encoded.test_ratings) ** 2)))
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    return {"ratings_per_second": len(ratings) / steady, "rmse": rmse, "epochs": epochs,
            "first_epoch_s": round(seconds[0], 2), "steady_epoch_s": round(steady, 4)}


def fast_path(bench, steps_per_call: int) -> dict:
    """``--preset fast`` (dot-bias) with ``steps_per_call`` steps per compiled call: the
    steady ratings/s exactly as ``train`` prints and records it (metrics.json)."""
    previous = keras_fit.STEPS_PER_CALL
    keras_fit.STEPS_PER_CALL = steps_per_call
    try:
        config = resolve_preset("fast", "latest-small", "dot-bias", TrainConfig(seed=0))
        result = bench.encoded.fit(config, verbose=0)
    finally:
        keras_fit.STEPS_PER_CALL = previous
    return {"ratings_per_second": result.metrics["steady_ratings_per_second"],
            "rmse": result.metrics["rmse"], "epochs": result.metrics["epochs_run"],
            "compile_seconds": round(result.metrics["compile_seconds"], 2),
            "batch_size": config.batch_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the step-time breakdown (benchmarks.step_profile)")
    args = parser.parse_args(argv)
    bench = latest_small(args.data_dir)
    encoded = bench.encoded
    fast = fast_path(bench, keras_fit.STEPS_PER_CALL)
    before = fast_path(bench, 1)
    epochs = fast["epochs"]
    threads = len(os.sched_getaffinity(0))
    one = compiled_loop(encoded, epochs, threads=1)
    every = compiled_loop(encoded, epochs, threads=threads)
    rows = [(f"movierec --preset fast (dot-bias), {keras_fit.STEPS_PER_CALL} steps per call",
             fast),
            ("movierec --preset fast, 1 step per call (no blocks)", before),
            ("numba SGD, 1 thread", one),
            (f"numba SGD, {threads} threads (Hogwild)", every)]
    print(f"latest-small, tutorial split, {epochs} epochs each; steady = median epoch after "
          "the first; ratio = the fast path's ratings/s over this row's")
    print(f"{'':58s} {'ratings/s':>12s} {'RMSE':>7s} {'ratio':>6s}")
    for name, row in rows:
        row["fast_path_ratio"] = fast["ratings_per_second"] / row["ratings_per_second"]
        print(f"{name:58s} {row['ratings_per_second']:12,.0f} {row['rmse']:7.4f} "
              f"{row['fast_path_ratio']:6.2f}")
    out: dict = {"rows": dict(rows), "machine": machine_info(),
                 "xla_flags": os.environ.get("XLA_FLAGS", "")}
    if not args.no_profile:
        profile = step_profile.profile(
            encoded.train_pairs, encoded.train_ratings, len(encoded.encoders.users),
            len(encoded.encoders.movies), batch_size=fast["batch_size"])
        out["profile_ms_per_step"] = profile
        print(f"where a step of {profile['batch_size']:,} ratings goes (ms per step):")
        for key, value in profile.items():
            if key.startswith(("fit_", "jit_", "op_")) and key != "op_top":
                print(f"  {key:40s} {value:8.3f}")
        print("  costliest operations: " + ", ".join(f"{name} {ms:.3f}"
                                                      for name, ms in profile["op_top"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
