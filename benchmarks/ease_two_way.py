"""Does a user-user EASE term help ``ease`` rank? Three validation splits of the training part.

A candidate for issue 11's NDCG@10 targets, measured but not (yet) in the ``ease`` model:

    score(u, i) = (W B[:, i] + user_weight * B_users[:, u] . W[:, i]) * (pop_i + 1) ** -p

``W`` is ``ease``'s rating-weighted input and ``B`` its item-item closed form, both at
``--preset rank``'s lam and weights for the dataset (1 for a rating >= 4, 0.3 below), without
its side rows or low-pass term (the figures in the tuning notes were measured with lam 300
and exponent 0.2, before those were added).
``B_users`` is the same closed form on ``W``'s transpose (users x users, penalty
``user_lam``): a leave-one-out ridge regression of each user's row on the other users'
rows, i.e. a user-kNN that EASE's derivation tunes.

Settings are compared by mean validation NDCG@10 over three ``validation_split`` draws
(seeds 42, 43, 44) of the training part, because one 10 % split separates them by less than
its own noise. The script is handed the benchmark's training part alone
(:func:`benchmarks.common.tuning_dataset`): it computes and prints no test figure (before
issue 25 it printed one beside every setting; ``tests/test_sealed_tuning.py`` checks).

Usage::

    python -m benchmarks.ease_two_way --dataset latest-small   # about 30 s on 2 cores
    python -m benchmarks.ease_two_way --dataset 100k
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterator

import numpy as np

import movierec  # noqa: F401  (first: selects the JAX backend before Keras loads)
from benchmarks.common import tuning_dataset
from movierec.evaluation import evaluate_split
from movierec.models.ease import ease_weights
from movierec.models.fold_in import liked_weights
from movierec.presets import resolve_preset
from movierec.splits import validation_split
from movierec.training import EncodedSplit, TrainConfig

SEEDS = (42, 43, 44)
USER_LAMS = (200.0, 500.0)
USER_WEIGHTS = (0.5, 1.0, 2.0)


def settings_scores(data: EncodedSplit, ease: TrainConfig, exponents: tuple[float, ...]
                    ) -> Iterator[tuple[tuple, np.ndarray]]:
    """``(setting, users x movies scores)`` of item-only ``ease`` and of every two-way
    setting, one at a time (each is a dense users x movies matrix)."""
    n_users, n_movies = len(data.encoders.users), len(data.encoders.movies)
    w = np.zeros((n_users, n_movies), np.float32)
    w[data.train_pairs[:, 0], data.train_pairs[:, 1]] = liked_weights(
        data.train_ratings, ease.positive, ease.negative_weight)
    popularity = np.bincount(data.train_pairs[:, 1], minlength=n_movies) + 1.0
    scales = {p: (popularity ** -p).astype(np.float32) for p in exponents}
    item = w @ ease_weights(w, ease.lam)
    for p, scale in scales.items():
        yield ("item", p), item * scale
    for user_lam in USER_LAMS:
        user = ease_weights(w.T, user_lam).T @ w
        for weight, p in itertools.product(USER_WEIGHTS, exponents):
            yield ("two-way", p, user_lam, weight), (item + weight * user) * scales[p]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="latest-small")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    dataset = tuning_dataset(args.dataset, args.data_dir).dataset
    ease = resolve_preset("rank", dataset.name, model="ease", n_ratings=dataset.n_ratings)
    exponents = (round(ease.popularity_exponent - 0.1, 2), ease.popularity_exponent)
    parts = {f"validation {seed}": validation_split(dataset.ratings, 0.1, seed=seed)
             for seed in SEEDS}
    ndcg: dict[tuple, dict[str, float]] = {}
    for part, split in parts.items():
        data = EncodedSplit.from_dataset(dataset, split)
        for setting, scores in settings_scores(data, ease, exponents):
            ndcg.setdefault(setting, {})[part] = evaluate_split(
                lambda users, s=scores: s[users], data.split, data.encoders, k=10)["ndcg@10"]
    rows: list[dict] = [{"setting": setting, "validation": float(np.mean(list(by.values()))),
                         "folds": [round(v, 4) for v in by.values()]}
                        for setting, by in ndcg.items()]
    rows.sort(key=lambda row: -row["validation"])
    print(f"{args.dataset}: mean validation NDCG@10 over seeds {SEEDS}")
    for row in rows:
        print(f"  validation {row['validation']:.4f} {row['folds']}  {row['setting']}")
    return rows


if __name__ == "__main__":
    main()
