"""Model-agnostic top-K evaluation of recommenders.

A **scorer** is any callable ``score(user_indices) -> scores`` that takes a 1-D int array
of user indices and returns a float array of shape ``(len(user_indices), n_movies)``, higher
meaning "recommend first". Keras models, numpy baselines and oracles all fit this shape, so
one evaluation loop serves them all; :func:`pair_scorer` adapts any
``predict(pairs) -> ratings`` function (e.g. ``movierec.models.predict_ratings``).

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

Example:
    >>> import numpy as np
    >>> train = np.array([[0, 0], [1, 0], [1, 1]])
    >>> test = np.array([[0, 1], [1, 2]])
    >>> score = popularity_scorer(train, n_movies=3)
    >>> rank_evaluate(score, train, test, np.array([5.0, 4.0]), 2, 3, k=1)["hit_rate@1"]
    1.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from movierec.metrics import (
    ItemSets,
    average_recommendation_popularity,
    catalogue_coverage,
    novelty,
    ranking_metrics,
)

if TYPE_CHECKING:
    import pandas as pd

    from movierec.encoding import Encoders
    from movierec.splits import Split

__all__ = [
    "RANKING_METRICS",
    "Scorer",
    "evaluate_split",
    "leave_last_n_evaluate",
    "pair_scorer",
    "popularity_scorer",
    "random_scorer",
    "rank_evaluate",
    "top_k",
]

Scorer = Callable[[np.ndarray], np.ndarray]
"""``score(user_indices) -> (len(user_indices), n_movies)`` float scores, higher is better."""

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")
"""The accuracy metrics :func:`rank_evaluate` reports, each as ``f"{name}@{k}"``."""


def top_k(
    scores: Any, k: int, exclude: ItemSets | Any | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items of each row of ``scores``, best first.

    Uses ``np.argpartition`` to find the top ``k`` in linear time, then sorts only that
    slice. The input is not modified.

    Args:
        scores: float array ``(n_rows, n_items)``; higher is better. NaN is not allowed.
        k: how many items to return per row (``>= 1``).
        exclude: items to leave out of each row (e.g. those the user already rated), as an
            :class:`~movierec.metrics.ItemSets` or a sequence of per-row index arrays, with
            one entry per row of ``scores``. Their scores are set to ``-inf``.

    Returns:
        ``(items, item_scores)``: int64 and float arrays of shape ``(n_rows, k)``. A row
        with fewer than ``k`` eligible items (score ``> -inf``) is padded with item ``-1``
        and score ``-inf``. Ties are broken deterministically, lower index first within the
        selected slice.

    Raises:
        ValueError: if ``scores`` is not 2-D, holds NaN, ``k < 1``, or ``exclude`` is
            misaligned with ``scores`` or names an item outside the catalogue.

    Example:
        >>> items, _ = top_k(np.array([[0.1, 0.9, 0.5]]), 2, exclude=[[1]])
        >>> items.tolist()
        [[2, 0]]
    """
    s = np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be a 2-D (n_rows, n_items) array, got shape {s.shape}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    n_rows, n_items = s.shape
    dtype = s.dtype if s.dtype.kind == "f" else np.float64
    s = np.array(s, dtype=dtype, copy=True)
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    if exclude is not None:
        ex = exclude if isinstance(exclude, ItemSets) else ItemSets.from_lists(exclude)
        if len(ex) != n_rows:
            raise ValueError(
                f"exclude has {len(ex)} rows but scores has {n_rows}; they must be aligned"
            )
        if ex.indices.size and ex.indices.max() >= n_items:
            raise ValueError(
                f"exclude names item {ex.indices.max()} but there are only {n_items} items"
            )
        s[ex.row_ids(), ex.indices] = -np.inf

    kk = min(int(k), n_items)
    items = np.full((n_rows, int(k)), -1, dtype=np.int64)
    item_scores = np.full((n_rows, int(k)), -np.inf, dtype=dtype)
    if kk == 0 or n_rows == 0:
        return items, item_scores
    if kk < n_items:
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        part.sort(axis=1)  # ties then resolve by lower index (stable sort below)
    else:
        part = np.broadcast_to(np.arange(n_items), (n_rows, n_items))
    part_scores = np.take_along_axis(s, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    eligible = best_scores > -np.inf
    items[:, :kk] = np.where(eligible, best, -1)
    item_scores[:, :kk] = best_scores
    return items, item_scores


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
    ratings = np.asarray(test_ratings, dtype=np.float64)
    if ratings.ndim != 1 or ratings.size != test.shape[0]:
        raise ValueError(
            f"test_ratings must be 1-D and aligned with test_pairs: {ratings.size} ratings "
            f"for {test.shape[0]} pairs"
        )
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if relevance_threshold is None:
        is_relevant = np.ones(test.shape[0], dtype=bool)
    else:
        if np.isnan(ratings).any():
            raise ValueError("test_ratings contain NaN")
        is_relevant = ratings >= relevance_threshold

    seen = ItemSets.from_pairs(train[:, 0], train[:, 1], n_users)
    held_out = ItemSets.from_pairs(test[:, 0], test[:, 1], n_users)
    _check_disjoint(seen, held_out)
    relevant = ItemSets.from_pairs(test[is_relevant, 0], test[is_relevant, 1], n_users)

    users = np.flatnonzero(relevant.sizes() > 0)
    test_users = np.flatnonzero(held_out.sizes() > 0)
    if users.size == 0:
        raise ValueError(
            "no test user has a relevant item"
            + (f" (rating >= {relevance_threshold})" if relevance_threshold is not None else "")
        )

    recommended = np.empty((users.size, int(k)), dtype=np.int64)
    for start in range(0, users.size, chunk_size):
        chunk = users[start : start + chunk_size]
        scores = np.asarray(score(chunk))
        if scores.shape != (chunk.size, n_movies):
            raise ValueError(
                f"the scorer returned shape {scores.shape} for {chunk.size} users; "
                f"expected ({chunk.size}, {n_movies})"
            )
        recommended[start : start + chunk.size], _ = top_k(scores, int(k), seen.take(chunk))

    accuracy = ranking_metrics(recommended, relevant.take(users), int(k))
    train_users_per_item = np.bincount(seen.indices, minlength=n_movies).astype(np.float64)
    result = {f"{name}@{k}": float(accuracy[name]) for name in RANKING_METRICS}
    result[f"coverage@{k}"] = catalogue_coverage(recommended, n_movies)
    if (recommended != -1).any():
        result[f"novelty@{k}"] = novelty(
            recommended, np.maximum(train_users_per_item, 1.0), max(n_users, 1)
        )
        result[f"arp@{k}"] = average_recommendation_popularity(recommended, train_users_per_item)
    else:  # every candidate was excluded for every user: nothing was recommended
        result[f"novelty@{k}"] = float("nan")
        result[f"arp@{k}"] = float("nan")
    result["users_evaluated"] = float(users.size)
    result["users_without_relevant"] = float(test_users.size - users.size)
    result["k"] = float(k)
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


# --------------------------------------------------------------------------------------------
# Scorers
# --------------------------------------------------------------------------------------------


def popularity_scorer(
    train_pairs: Any,
    n_movies: int,
    *,
    ratings: Any = None,
    min_rating: float | None = None,
) -> Scorer:
    """A scorer that ranks movies by their number of training ratings, the same for everyone.

    Args:
        train_pairs: int ``(n, 2)`` ``[user_index, movie_index]`` training pairs.
        n_movies: catalogue size.
        ratings: ``(n,)`` ratings aligned with ``train_pairs``; needed for ``min_rating``.
        min_rating: count only ratings ``>= min_rating`` ("well-rated" popularity).

    Raises:
        ValueError: on misaligned input, ``min_rating`` without ``ratings``, or a movie
            index outside ``[0, n_movies)``.
    """
    pairs = np.asarray(train_pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or (pairs.size and pairs.dtype.kind not in "iu"):
        raise ValueError(f"train_pairs must be an int (n, 2) array, got shape {pairs.shape}")
    if n_movies < 1:
        raise ValueError(f"n_movies must be >= 1, got {n_movies}")
    movies = pairs[:, 1].astype(np.int64)
    if movies.size and (movies.min() < 0 or movies.max() >= n_movies):
        raise ValueError(f"movie indices must lie in [0, {n_movies})")
    if min_rating is not None:
        if ratings is None:
            raise ValueError("min_rating needs the training ratings")
        r = np.asarray(ratings, dtype=np.float64)
        if r.shape != (pairs.shape[0],):
            raise ValueError(
                f"ratings must be aligned with train_pairs: {r.size} vs {pairs.shape[0]}"
            )
        movies = movies[r >= min_rating]
    counts = np.bincount(movies, minlength=n_movies).astype(np.float64)
    counts.setflags(write=False)

    def score(user_indices: np.ndarray) -> np.ndarray:
        n = np.asarray(user_indices).shape[0]
        return np.tile(counts, (n, 1))

    return score


def random_scorer(n_movies: int, seed: int = 0) -> Scorer:
    """A scorer giving uniform random scores, from its own seeded generator.

    Uses ``np.random.default_rng(seed)``, never the global RNG. Draws are sequential, so an
    evaluation is reproducible for a given seed and order of calls (users scored in the
    same order give the same scores whatever the chunk size).
    """
    if n_movies < 1:
        raise ValueError(f"n_movies must be >= 1, got {n_movies}")
    rng = np.random.default_rng(seed)

    def score(user_indices: np.ndarray) -> np.ndarray:
        n = np.asarray(user_indices).shape[0]
        return rng.random((n, n_movies))

    return score


def pair_scorer(
    predict: Callable[[np.ndarray], Any], n_movies: int, *, max_pairs: int = 1 << 20
) -> Scorer:
    """Adapt ``predict(pairs) -> values`` (e.g. a rating predictor) into a scorer.

    ``pairs`` is an int32 ``(m, 2)`` array ``[user_index, movie_index]``; ``predict`` must
    return ``m`` values (shape ``(m,)`` or ``(m, 1)``). At most ``max_pairs`` pairs are
    passed per call. For example, with a Keras model::

        score = pair_scorer(lambda p: predict_ratings(model, p), n_movies)
    """
    if n_movies < 1:
        raise ValueError(f"n_movies must be >= 1, got {n_movies}")
    movies = np.arange(n_movies, dtype=np.int32)
    users_per_call = max(1, max_pairs // n_movies)

    def score(user_indices: np.ndarray) -> np.ndarray:
        users = np.asarray(user_indices, dtype=np.int32)
        out = np.empty((users.size, n_movies), dtype=np.float64)
        for start in range(0, users.size, users_per_call):
            chunk = users[start : start + users_per_call]
            pairs = np.column_stack([np.repeat(chunk, n_movies), np.tile(movies, chunk.size)])
            values = np.asarray(predict(pairs), dtype=np.float64).reshape(-1)
            if values.size != pairs.shape[0]:
                raise ValueError(
                    f"predict returned {values.size} values for {pairs.shape[0]} pairs"
                )
            out[start : start + chunk.size] = values.reshape(chunk.size, n_movies)
        return out

    return score


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


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
