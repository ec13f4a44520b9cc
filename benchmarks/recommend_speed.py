"""Speed of top-K recommendations scored from the weights with numpy.

Three figures, each with the peak resident memory while it ran (``movierec.measure``):

1. top-10 for one user, warm (median of repeated calls);
2. top-10 for all 610 users of MovieLens latest-small (target < 0.5 s), for a dot-bias
   shaped model and an mlp shaped one;
3. top-10 for a synthetic catalogue of 100,000 users x 50,000 movies with 50 factors
   (target < 60 s on 2 cores).

No training is needed: scoring cost depends on the shapes, not on the values, so the
weights are random. Pass ``--run DIR`` to time a trained run on latest-small instead.
latest-small's real training ratings are used for exclusion when the files are found
(``--data-dir`` or ``$MOVIEREC_DATA``); otherwise 610 x 9,724 with synthetic ratings.

Usage::

    python -m benchmarks.recommend_speed
    python -m benchmarks.recommend_speed --skip-large --run runs/dot-bias
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.encoding import Encoders, IdEncoder
from movierec.measure import measure
from movierec.recommend import Recommender, ScoringWeights

TARGET_ALL_SMALL_S = 0.5
TARGET_LARGE_S = 60.0


def synthetic_recommender(n_users: int, n_movies: int, factors: int, *, mlp: bool = False,
                          seen_per_user: int = 20, train: pd.DataFrame | None = None,
                          encoders: Encoders | None = None, seed: int = 0) -> Recommender:
    """A Recommender with random weights of the given shape and ``seen_per_user`` ratings."""
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(factors)
    weights = ScoringWeights(
        user_vectors=rng.normal(0, scale, (n_users, factors)).astype(np.float32),
        movie_vectors=rng.normal(0, scale, (n_movies, factors)).astype(np.float32),
        rating_range=(0.5, 5.0),
        user_bias=None if mlp else rng.normal(0, 0.1, n_users).astype(np.float32),
        movie_bias=None if mlp else rng.normal(0, 0.1, n_movies).astype(np.float32),
        hidden_kernel=rng.normal(0, 0.2, (2 * factors, 10)).astype(np.float32) if mlp else None,
        hidden_bias=np.zeros(10, np.float32) if mlp else None,
        output_kernel=rng.normal(0, 0.3, 10).astype(np.float32) if mlp else None,
    )
    if train is None:
        users = np.repeat(np.arange(n_users), seen_per_user)
        movies = rng.integers(0, n_movies, users.size)
        train = pd.DataFrame({"user_id": users, "movie_id": movies,
                              "rating": rng.choice(np.arange(1, 11) / 2, users.size)})
        encoders = Encoders(IdEncoder.fit(np.arange(n_users)), IdEncoder.fit(np.arange(n_movies)))
    elif encoders is None:
        encoders = Encoders.fit(train)
    return Recommender(weights, encoders, train, model_name="mlp" if mlp else "dot-bias")


def latest_small(data_dir: str | None) -> tuple[pd.DataFrame, Encoders] | None:
    """latest-small's training part (the tutorial's 90%) and encoders fitted on all of it
    (as a run's are), if the files are here, else None."""
    from movierec.data import load
    from movierec.errors import MovierecError
    from movierec.splits import random_split

    try:
        dataset = load("latest-small", data_dir, download=False)
    except MovierecError:
        return None
    return random_split(dataset.ratings, 0.1, seed=42).train, Encoders.fit(dataset.ratings)


def time_one_user(rec: Recommender, repeats: int = 50) -> tuple[float, float]:
    user = rec.encoders.users.ids[len(rec.encoders.users) // 2]
    rec.recommend([user], k=10)  # warm
    with measure() as cost:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            rec.recommend([user], k=10)
            times.append(time.perf_counter() - started)
    return statistics.median(times), cost.peak_rss_mib


def time_all_users(rec: Recommender, chunk_size: int | None = None) -> tuple[float, float]:
    users = np.arange(rec.n_users)
    with measure() as cost:
        items, _ = rec.recommend_indices(users, 10, chunk_size=chunk_size)
    assert items.shape == (rec.n_users, 10)
    return cost.seconds, cost.peak_rss_mib


def report(label: str, seconds: float, peak: float, target: float | None = None) -> None:
    verdict = ""
    if target is not None:
        verdict = f"  (target < {target:g} s: {'ok' if seconds < target else 'MISSED'})"
    shown = f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"
    print(f"{label:<58} {shown:>10}   peak RSS {peak:,.0f} MiB{verdict}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a trained run on latest-small to time")
    parser.add_argument("--data-dir", help="folder holding ml-latest-small/")
    parser.add_argument("--skip-large", action="store_true",
                        help="leave out the 100,000 x 50,000 catalogue")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--movies", type=int, default=50_000)
    parser.add_argument("--factors", type=int, default=50)
    args = parser.parse_args(argv)

    print("movierec top-10 speed (numpy scoring from the weights)\n", flush=True)
    if args.run is not None:
        from movierec.runs import load_run

        rec = Recommender.from_run(load_run(args.run))
        small = {f"{rec.model_name} run {args.run}": rec}
    else:
        found = latest_small(args.data_dir)
        train, encoders = found if found is not None else (None, None)
        source = "latest-small ratings" if found is not None else "synthetic ratings"
        n_users, n_movies = (len(encoders.users), len(encoders.movies)) if encoders \
            else (610, 9724)
        small = {
            f"dot-bias shape, {source}":
                synthetic_recommender(n_users, n_movies, 50, train=train, encoders=encoders),
            f"mlp shape, {source}":
                synthetic_recommender(n_users, n_movies, 50, mlp=True, train=train,
                                      encoders=encoders),
        }
    for label, rec in small.items():
        print(f"{label}: {rec.n_users:,} users x {rec.n_movies:,} movies", flush=True)
        report("  top-10, one user (warm, median of 50)", *time_one_user(rec))
        time_all_users(rec)  # warm the allocator
        report(f"  top-10, all {rec.n_users:,} users", *time_all_users(rec), TARGET_ALL_SMALL_S)
    if not args.skip_large:
        print(f"\nsynthetic dot-bias shape: {args.users:,} users x {args.movies:,} movies x "
              f"{args.factors} factors, 20 seen movies per user", flush=True)
        with measure() as build:
            rec = synthetic_recommender(args.users, args.movies, args.factors)
        report("  build the recommender (weights, seen index)", build.seconds,
               build.peak_rss_mib)
        report("  top-10, one user (warm, median of 50)", *time_one_user(rec))
        report(f"  top-10, all {args.users:,} users", *time_all_users(rec), TARGET_LARGE_S)


if __name__ == "__main__":
    main()
