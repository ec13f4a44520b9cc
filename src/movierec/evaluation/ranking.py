"""The evaluation loop: rank every movie for each test user and score the lists.

Two protocols are supported, both through :func:`rank_evaluate`:

Protocol 1, held-out ratings
    Split the ratings (``random_split``, ``temporal_split``, ``kfold``...). A test item is
    *relevant* to its user when its rating is ``>= relevance_threshold`` (4.0 by default);
    test items rated lower are ordinary non-relevant items. Users with no relevant test item
    are not evaluated (their count is reported). Every movie the user rated in training is
    excluded from their list; every other movie in the catalogue is a candidate.

Protocol 2, leave-last-N by time
    Hold out each user's N most recent ratings (``movierec.splits.leave_last_n``) and run
    the same evaluation. :func:`leave_last_n_evaluate` does this; by default it sets
    ``relevance_threshold=None`` so *all* held-out items count as relevant, whatever their
    rating: the question asked is "does the model predict what the user watched next", not
    "what the user liked". Pass a threshold to ask the second question instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from movierec.evaluation.scorers import Scorer
from movierec.metrics import (
    ItemSets,
    average_recommendation_popularity,
    catalogue_coverage,
    novelty,
    ranking_metrics,
)
from movierec.topk import top_k

if TYPE_CHECKING:
    import pandas as pd

    from movierec.encoding import Encoders
    from movierec.splits import Split

__all__ = ["RANKING_METRICS", "evaluate_split", "leave_last_n_evaluate", "rank_evaluate"]

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")
"""The accuracy metrics :func:`rank_evaluate` reports, each as ``f"{name}@{k}"``."""


def rank_evaluate(
    score: Scorer,
    train_pairs: Any,
    test_pairs: Any,
    test_ratings: Any,
    n_users: int,
    n_movies: int,
    *,
    k: int = 10,
    relevance_threshold: float | None = 4.0,
    chunk_size: int = 1024,
) -> dict[str, float]:
    """Top-K evaluation of a scorer on held-out ratings.

    For every user with at least one relevant test item: score all movies, drop the movies
    the user rated in training, keep the top ``k``, and compare them with the user's
    relevant test items. Users are scored ``chunk_size`` at a time, so peak memory is about
    ``chunk_size * n_movies`` scores plus ``n_users * k`` recommended indices.

    Args:
        score: a scorer, ``score(user_indices) -> (len(user_indices), n_movies)``.
        train_pairs: int ``(n_train, 2)`` ``[user_index, movie_index]`` seen in training;
            these are excluded from the lists and give item popularity.
        test_pairs: int ``(n_test, 2)`` held-out ``[user_index, movie_index]``.
        test_ratings: ``(n_test,)`` ratings aligned with ``test_pairs``.
        n_users: number of users (user indices lie in ``[0, n_users)``).
        n_movies: number of movies (the catalogue; movie indices lie in ``[0, n_movies)``).
        k: list length.
        relevance_threshold: a test item is relevant when its rating is ``>=`` this value;
            ``None`` makes every test item relevant.
        chunk_size: users scored per call of ``score``.

    Returns:
        A dict with ``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``hit_rate@k``,
        ``mrr@k`` (means over evaluated users, see :mod:`movierec.metrics`), ``coverage@k``
        (share of the catalogue recommended to someone), ``novelty@k`` (mean
        self-information in bits, from the share of training users who rated each item;
        an item nobody rated in training counts as rated by one user, the rarest possible),
        ``arp@k`` (mean number of training users who rated a recommended item),
        ``users_evaluated``, ``users_without_relevant`` (test users with no relevant test
        item, left out) and ``k``. All values are floats.

    Raises:
        ValueError: on empty or misaligned input, indices out of range, a (user, movie)
            pair present in both train and test (it could never be recommended), no test
            user with a relevant item, or a scorer returning the wrong shape.
    """
    train = _check_pairs(train_pairs, "train_pairs", n_users, n_movies, allow_empty=True)
    test = _check_pairs(test_pairs, "test_pairs", n_users, n_movies, allow_empty=False)
    ratings = _check_ratings(test_ratings, len(test))
    k = _check_list_options(k, chunk_size)
    is_relevant = _is_relevant(ratings, relevance_threshold)

    seen = ItemSets.from_pairs(train[:, 0], train[:, 1], n_users)
    held_out = ItemSets.from_pairs(test[:, 0], test[:, 1], n_users)
    _check_disjoint(seen, held_out)
    relevant = ItemSets.from_pairs(test[is_relevant, 0], test[is_relevant, 1], n_users)
    users = np.flatnonzero(relevant.sizes() > 0)
    if users.size == 0:
        raise ValueError(
            "no test user has a relevant item"
            + (f" (rating >= {relevance_threshold})" if relevance_threshold is not None else "")
        )

    recommended = _recommend(score, users, seen, n_movies, k, chunk_size)
    accuracy = ranking_metrics(recommended, relevant.take(users), k)
    result = {f"{name}@{k}": float(accuracy[name]) for name in RANKING_METRICS}
    result.update(_beyond_accuracy(recommended, seen, n_users, n_movies, k))
    result["users_evaluated"] = float(users.size)
    test_users = np.flatnonzero(held_out.sizes() > 0)
    result["users_without_relevant"] = float(test_users.size - users.size)
    result["k"] = float(k)
    return result


def _recommend(score: Scorer, users: np.ndarray, seen: ItemSets, n_movies: int, k: int,
               chunk_size: int) -> np.ndarray:
    """``(len(users), k)`` top-K movie indices of each user, ``chunk_size`` users a call."""
    recommended = np.empty((users.size, k), dtype=np.int64)
    for start in range(0, users.size, chunk_size):
        chunk = users[start : start + chunk_size]
        scores = np.asarray(score(chunk))
        if scores.shape != (chunk.size, n_movies):
            raise ValueError(
                f"the scorer returned shape {scores.shape} for {chunk.size} users; "
                f"expected ({chunk.size}, {n_movies})"
            )
        recommended[start : start + chunk.size], _ = top_k(scores, k, seen.take(chunk))
    return recommended


def _beyond_accuracy(recommended: np.ndarray, seen: ItemSets, n_users: int, n_movies: int,
                     k: int) -> dict[str, float]:
    """``coverage@k``, ``novelty@k`` and ``arp@k`` of the lists, popularity from ``seen``."""
    train_users_per_item = np.bincount(seen.indices, minlength=n_movies).astype(np.float64)
    result = {f"coverage@{k}": catalogue_coverage(recommended, n_movies)}
    if (recommended != -1).any():
        result[f"novelty@{k}"] = novelty(
            recommended, np.maximum(train_users_per_item, 1.0), max(n_users, 1)
        )
        result[f"arp@{k}"] = average_recommendation_popularity(recommended, train_users_per_item)
    else:  # every candidate was excluded for every user: nothing was recommended
        result[f"novelty@{k}"] = float("nan")
        result[f"arp@{k}"] = float("nan")
    return result


def evaluate_split(
    score: Scorer,
    split: Split,
    encoders: Encoders,
    *,
    k: int = 10,
    relevance_threshold: float | None = 4.0,
    chunk_size: int = 1024,
) -> dict[str, float]:
    """:func:`rank_evaluate` on a :class:`movierec.splits.Split`, encoded with ``encoders``.

    ``n_users`` and ``n_movies`` are the sizes of the encoders, so the catalogue is every
    movie the encoders know. Test rows with ids unknown to the encoders raise
    :class:`movierec.errors.UnknownIdError`; they are never dropped silently.
    """
    train = np.asarray(encoders.encode(split.train))
    test = np.asarray(encoders.encode(split.test))
    return rank_evaluate(
        score,
        train,
        test,
        split.test["rating"].to_numpy(dtype=np.float64),
        len(encoders.users),
        len(encoders.movies),
        k=k,
        relevance_threshold=relevance_threshold,
        chunk_size=chunk_size,
    )


def leave_last_n_evaluate(
    make_scorer: Callable[[Split], Scorer],
    ratings: pd.DataFrame,
    encoders: Encoders,
    *,
    n: int = 1,
    k: int = 10,
    relevance_threshold: float | None = None,
    chunk_size: int = 1024,
) -> dict[str, float]:
    """Protocol 2: hold out each user's ``n`` latest ratings and rank-evaluate.

    Splits with ``movierec.splits.leave_last_n(ratings, n)``, builds the scorer from that
    split with ``make_scorer(split)`` (so it can only have seen ``split.train``), then calls
    :func:`evaluate_split`. With the default ``relevance_threshold=None`` every held-out
    item is relevant: the question is "does the model rank what the user rated next?",
    whatever the rating. Pass a threshold (e.g. 4.0) to count only well-rated held-out
    items instead.

    A model already trained on ``leave_last_n(ratings, n).train`` (the split is
    deterministic) can be passed as ``make_scorer=lambda split: score``.
    """
    from movierec.splits import leave_last_n

    split = leave_last_n(ratings, n=n)
    return evaluate_split(
        make_scorer(split),
        split,
        encoders,
        k=k,
        relevance_threshold=relevance_threshold,
        chunk_size=chunk_size,
    )


def _check_pairs(
    pairs: Any, name: str, n_users: int, n_movies: int, *, allow_empty: bool
) -> np.ndarray:
    arr = np.asarray(pairs)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must be an (n, 2) [user, movie] array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        if allow_empty:
            return np.empty((0, 2), dtype=np.int64)
        raise ValueError(f"{name} is empty")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr[:, 0].min() < 0 or arr[:, 0].max() >= n_users:
        raise ValueError(f"{name} has user indices outside [0, {n_users})")
    if arr[:, 1].min() < 0 or arr[:, 1].max() >= n_movies:
        raise ValueError(f"{name} has movie indices outside [0, {n_movies})")
    return arr


def _check_disjoint(seen: ItemSets, held_out: ItemSets) -> None:
    width = int(max(seen.indices.max(initial=0), held_out.indices.max(initial=0))) + 1
    seen_keys = seen.row_ids() * width + seen.indices
    test_keys = held_out.row_ids() * width + held_out.indices
    both = np.intersect1d(seen_keys, test_keys, assume_unique=True)
    if both.size:
        examples = [(int(key // width), int(key % width)) for key in both[:5]]
        raise ValueError(
            f"{both.size} (user, movie) pairs are in both train and test, e.g. {examples}; "
            "they would be excluded as seen and could never be recommended"
        )


def _check_ratings(test_ratings: Any, n_test: int) -> np.ndarray:
    ratings = np.asarray(test_ratings, dtype=np.float64)
    if ratings.ndim != 1 or ratings.size != n_test:
        raise ValueError(
            f"test_ratings must be 1-D and aligned with test_pairs: {ratings.size} ratings "
            f"for {n_test} pairs"
        )
    return ratings


def _check_list_options(k: Any, chunk_size: int) -> int:
    """``k`` as an int, once it and ``chunk_size`` are known to be positive."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return int(k)


def _is_relevant(ratings: np.ndarray, threshold: float | None) -> np.ndarray:
    """Which test ratings are relevant: ``>= threshold``, or all when it is None."""
    if threshold is None:
        return np.ones(ratings.size, dtype=bool)
    if np.isnan(ratings).any():
        raise ValueError("test_ratings contain NaN")
    return ratings >= threshold
