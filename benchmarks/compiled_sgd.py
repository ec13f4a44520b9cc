"""The machine's limit for the fast path: plain biased matrix factorization compiled with
numba, next to ``--preset fast``'s dot-bias, in the same run on the same split.

The reference is the textbook SGD loop (Funk / Surprise's SVD): for each training rating in
a shuffled order, ``e = r - (mu + b_u + b_i + p_u . q_i)``, then each bias and factor steps
along ``e`` with an L2 pull; 50 factors, float32. One thread, and all threads (Hogwild:
``numba.prange`` over blocks of the shuffled order, updates unsynchronised). Reported per
row: steady ratings/s (median epoch after the first, which compiles; for the fast path the
figure ``train`` prints and records, ``steady_ratings_per_second``), the ratio of the fast
path's to each row's, and the RMSE on the tutorial split's held-out part after the same
number of epochs (the fast preset's). A second fast-path row traces the sparse step as
``jax.numpy`` instead of the fused kernel (:mod:`movierec.models.fused`; as movierec did
before it). ``--repeats`` runs the four rows that many times in turn (this VM's speed drifts
by 2x within minutes, so each ratio is taken within one round) and reports every round
and the median ratio; then where a step's time goes (:mod:`benchmarks.step_profile`).
Results: ``benchmarks/results/compiled-sgd.md``.

Usage::

    python -m benchmarks.compiled_sgd --data-dir ../shared/data --repeats 3

Issue 24's target: the fast path at >= 0.6x the single-thread loop's ratings/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numba
import numpy as np

from benchmarks import step_profile
from benchmarks.common import latest_small, machine_info, tuning_dataset
from benchmarks.ranking_models import validation_of
from movierec.models import fused as fused_step
from movierec.presets import resolve_preset
from movierec.training import TrainConfig, keras_fit


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


def fast_path(bench, fused: bool | None) -> dict:
    """``--preset fast`` (dot-bias), its sparse step fused (``None``: movierec's default) or
    traced as ``jax.numpy`` (``False``): the steady ratings/s exactly as ``train`` prints and
    records it (metrics.json)."""
    previous = keras_fit.FUSED
    keras_fit.FUSED = fused
    try:
        config = resolve_preset("fast", "latest-small", "dot-bias", TrainConfig(seed=0))
        result = bench.encoded.fit(config, verbose=0)
    finally:
        keras_fit.FUSED = previous
    return {"ratings_per_second": result.metrics["steady_ratings_per_second"],
            "rmse": result.metrics["rmse"], "epochs": result.metrics["epochs_run"],
            "compile_seconds": round(result.metrics["compile_seconds"], 2),
            "batch_size": config.batch_size, "sparse_step": result.metrics["sparse_step"],
            "kernel_threads": fused_step.threads_used()}


def validation_rmse(data_dir) -> list[dict]:
    """Issue 24's accuracy check: the fast preset's dot-bias, fused and ``jax.numpy``, on a
    validation split (10 %, seed 42) of each benchmark split's training part (latest-small's
    tutorial split, ML-100K's ``u1.base``); no test rating is read."""
    rows = []
    for name in ("latest-small", "100k"):
        data = validation_of(tuning_dataset(name, data_dir))
        config = resolve_preset("fast", name, "dot-bias", TrainConfig(seed=0))
        for fused in (None, False):
            previous = keras_fit.FUSED
            keras_fit.FUSED = fused
            try:
                result = data.fit(config, verbose=0)
            finally:
                keras_fit.FUSED = previous
            rows.append({"dataset": name, "sparse_step": result.metrics["sparse_step"],
                         "validation_rmse": result.metrics["rmse"]})
    return rows


def one_round(bench) -> list[tuple[str, dict]]:
    """The four rows once, in turn, each ratio taken against this round's fast path."""
    fast = fast_path(bench, None)
    before = fast_path(bench, False)
    epochs = fast["epochs"]
    threads = len(os.sched_getaffinity(0))
    rows = [(f"movierec --preset fast (dot-bias), {fast['sparse_step']} step", fast),
            (f"movierec --preset fast, {before['sparse_step']} step (before the kernel)",
             before),
            ("numba SGD, 1 thread", compiled_loop(bench.encoded, epochs, threads=1)),
            (f"numba SGD, {threads} threads (Hogwild)",
             compiled_loop(bench.encoded, epochs, threads=threads))]
    for _, row in rows:
        row["fast_path_ratio"] = fast["ratings_per_second"] / row["ratings_per_second"]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of the four rows (default 3)")
    parser.add_argument("--accuracy", action="store_true",
                        help="also the validation RMSE of the fused and jax.numpy steps")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the step-time breakdown (benchmarks.step_profile)")
    args = parser.parse_args(argv)
    bench = latest_small(args.data_dir)
    encoded = bench.encoded
    rounds = [one_round(bench) for _ in range(max(1, args.repeats))]
    epochs = rounds[0][0][1]["epochs"]
    print(f"latest-small, tutorial split, {epochs} epochs each; steady = median epoch after "
          "the first; ratio = the fast path's ratings/s over this row's, within the round")
    print(f"{'':58s} {'ratings/s':>12s} {'RMSE':>7s} {'ratio':>6s}")
    for k, rows in enumerate(rounds, 1):
        print(f"round {k}")
        for name, row in rows:
            print(f"  {name:56s} {row['ratings_per_second']:12,.0f} {row['rmse']:7.4f} "
                  f"{row['fast_path_ratio']:6.2f}")
    medians = {name: statistics.median(r[i][1]["fast_path_ratio"] for r in rounds)
               for i, (name, _) in enumerate(rounds[0])}
    print(f"fused kernel calls so far, on two threads / all: "
          f"{rounds[-1][0][1]['kernel_threads']}")
    print("median ratio over the rounds: " + "; ".join(
        f"{name}: {ratio:.2f}" for name, ratio in medians.items()))
    out: dict = {"rounds": [dict(rows) for rows in rounds], "median_ratio": medians,
                 "machine": machine_info(), "xla_flags": os.environ.get("XLA_FLAGS", "")}
    if args.accuracy:
        out["validation_rmse"] = validation_rmse(args.data_dir)
        for row in out["validation_rmse"]:
            print(f"validation RMSE, {row['dataset']}, {row['sparse_step']} step: "
                  f"{row['validation_rmse']:.5f}")
    if not args.no_profile:
        profile = step_profile.profile(
            encoded.train_pairs, encoded.train_ratings, len(encoded.encoders.users),
            len(encoded.encoders.movies), batch_size=rounds[0][0][1]["batch_size"])
        out["profile_ms_per_step"] = profile
        print(f"where a step of {profile['batch_size']:,} ratings goes (ms per step):")
        for key, value in profile.items():
            if key.startswith(("fit_", "jit_", "op_")) and key != "op_top":
                print(f"  {key:40s} {value:8.3f}")
        print("  costliest operations of the jax.numpy step: " + ", ".join(
            f"{name} {ms:.3f}" for name, ms in profile["op_top"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
