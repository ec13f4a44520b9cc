"""Does a user-user EASE term help ``ease`` rank? Three validation splits, then the test part.

A candidate for issue 11's NDCG@10 targets, measured but not (yet) in the ``ease`` model:

    score(u, i) = (W B[:, i] + user_weight * B_users[:, u] . W[:, i]) * (pop_i + 1) ** -p

``W`` is ``ease``'s rating-weighted input (1 for a rating >= 4, 0.3 below), ``B`` its item-item
closed form (lam 300) and ``B_users`` the same closed form on ``W``'s transpose (users x
users, penalty ``user_lam``): a leave-one-out ridge regression of each user's row on the
other users' rows, i.e. a user-kNN that EASE's derivation tunes.

Settings are compared by mean validation NDCG@10 over three ``validation_split`` draws
(seeds 42, 43, 44) of the training part, because one 10 % split separates them by less than
its own noise; the test figure is printed beside each setting for the record, never used to
choose.

Usage::

    python -m benchmarks.ease_two_way --dataset latest-small   # about 2 minutes on 2 cores
    python -m benchmarks.ease_two_way --dataset 100k
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable

import numpy as np

import movierec  # noqa: F401  (first: selects the JAX backend before Keras loads)
from movierec.data import load
from movierec.evaluation import evaluate_split
from movierec.models.ease import ease_weights
from movierec.models.fold_in import liked_weights
from movierec.splits import ml100k_fold, random_split, validation_split
from movierec.training import EncodedSplit

SEEDS = (42, 43, 44)
ITEM_LAM = 300.0
USER_LAMS = (200.0, 500.0)
USER_WEIGHTS = (0.5, 1.0, 2.0)


def scorers(data: EncodedSplit, exponents: tuple[float, ...]
            ) -> dict[tuple, Callable[[np.ndarray], np.ndarray]]:
    """Item-only ``ease`` and every two-way setting, as scorers over user indices."""
    n_users, n_movies = len(data.encoders.users), len(data.encoders.movies)
    w = np.zeros((n_users, n_movies), np.float32)
    w[data.train_pairs[:, 0], data.train_pairs[:, 1]] = liked_weights(data.train_ratings,
                                                                      4.0, 0.3)
    popularity = np.bincount(data.train_pairs[:, 1], minlength=n_movies) + 1.0
    item = w @ ease_weights(w, ITEM_LAM)
    found: dict[tuple, Callable[[np.ndarray], np.ndarray]] = {}
    for p in exponents:
        found[("item", p)] = _scorer(item * popularity[None, :] ** -p)
    for user_lam in USER_LAMS:
        user = ease_weights(w.T, user_lam).T @ w
        for weight, p in itertools.product(USER_WEIGHTS, exponents):
            found[("two-way", p, user_lam, weight)] = _scorer(
                (item + weight * user) * popularity[None, :] ** -p)
    return found


def _scorer(scores: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda users: scores[users]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="latest-small")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    dataset = load(args.dataset, args.data_dir)
    outer = (ml100k_fold(dataset.ratings, 1) if args.dataset == "100k"
             else random_split(dataset.ratings, 0.1, seed=42))
    preset_p = 0.2 if args.dataset == "100k" else 0.3
    exponents = (round(preset_p - 0.1, 2), preset_p)
    parts = {f"validation {seed}": EncodedSplit.from_dataset(
        dataset, validation_split(outer.train, 0.1, seed=seed)) for seed in SEEDS}
    parts["test"] = EncodedSplit.from_dataset(dataset, outer)
    ndcg: dict[tuple, dict[str, float]] = {}
    for part, data in parts.items():
        for setting, score in scorers(data, exponents).items():
            ndcg.setdefault(setting, {})[part] = evaluate_split(
                score, data.split, data.encoders, k=10)["ndcg@10"]
    rows = [{"setting": setting,
             "validation": float(np.mean([v for k, v in by.items() if k != "test"])),
             "folds": [round(v, 4) for k, v in by.items() if k != "test"],
             "test": by["test"]} for setting, by in ndcg.items()]
    rows.sort(key=lambda row: -row["validation"])
    print(f"{args.dataset}: mean validation NDCG@10 over seeds {SEEDS} (test beside it)")
    for row in rows:
        print(f"  validation {row['validation']:.4f} {row['folds']}  test {row['test']:.4f}  "
              f"{row['setting']}")
    return rows


if __name__ == "__main__":
    main()
