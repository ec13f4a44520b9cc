"""Train/test splits of a ratings frame.

Every splitter returns a :class:`Split` whose ``train`` and ``test`` partition the input rows
(original index labels kept). Randomness comes only from the explicit ``seed``, through a
local generator, never the global one. ``random_split`` and ``kfold`` draw exactly as
scikit-learn's ``train_test_split`` and ``KFold(shuffle=True)`` do, so their results can be
compared with code written against scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from movierec.errors import DataError, MovierecError

__all__ = [
    "Split",
    "contiguous_folds",
    "kfold",
    "leave_last_n",
    "ml100k_fold",
    "random_positions",
    "random_split",
    "temporal_split",
    "validation_split",
]

ML100K_ROWS = 100_000
ML100K_FOLD_ROWS = 20_000
# (row, user_id, movie_id) of u.data as GroupLens ships it: the first row of each fold and
# the last row. Cheap evidence that the frame is u.data in file order.
_ML100K_ANCHORS = (
    (0, 196, 242),
    (20_000, 391, 222),
    (40_000, 435, 9),
    (60_000, 799, 499),
    (80_000, 863, 1431),
    (99_999, 12, 203),
)


@dataclass(frozen=True)
class Split:
    """Training and test ratings; ``name`` says how they were made (saved with runs)."""

    train: pd.DataFrame
    test: pd.DataFrame
    name: str


def random_split(ratings: pd.DataFrame, test_size: float = 0.1, seed: int = 42) -> Split:
    """Shuffle rows and hold out ``test_size`` of them (a fraction, or a row count).

    Identical, row for row and in the same order, to
    ``sklearn.model_selection.train_test_split(ratings, test_size=test_size,
    random_state=seed)``: the test set is the first ``ceil(test_size * n)`` rows of
    ``RandomState(seed).permutation(n)`` and the training set the rest.

    ``test_size=0`` (which scikit-learn rejects) holds nothing out: every rating trains,
    in file order, and the test part is empty (split name ``"all"``), for a model to ship
    once its epochs have been chosen on a validated run.
    """
    if not isinstance(test_size, bool) and test_size == 0:
        return Split(ratings, ratings.iloc[:0], "all")
    rest, held = random_positions(len(ratings), test_size, seed)
    return Split(ratings.iloc[rest], ratings.iloc[held], "random")


def random_positions(n: int, test_size: float = 0.1, seed: int = 42
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` row positions of :func:`random_split` for ``n`` rows: the test
    positions are the first ``ceil(test_size * n)`` of ``RandomState(seed).permutation(n)``.

    For callers that split aligned arrays rather than a frame (a blend's holdout).
    """
    n_test = _n_test(n, test_size)
    order = np.random.RandomState(seed).permutation(n)
    return order[n_test:], order[:n_test]


def validation_split(train: pd.DataFrame, fraction: float = 0.1, seed: int = 42) -> Split:
    """Carve a random validation set (returned as ``test``) out of training ratings."""
    split = random_split(train, fraction, seed)
    return Split(split.train, split.test, "validation")


def temporal_split(ratings: pd.DataFrame, test_fraction: float = 0.1) -> Split:
    """Test on the latest ``ceil(test_fraction * n)`` ratings of all users together.

    Rows are ordered by timestamp; equal timestamps keep file order, so the cut is
    deterministic. Both sides keep the input's row order.
    """
    n_test = _n_test(len(ratings), test_fraction)
    by_time = np.argsort(ratings["timestamp"].to_numpy(), kind="stable")
    return _from_test_positions(ratings, by_time[len(ratings) - n_test:], "temporal")


def leave_last_n(ratings: pd.DataFrame, n: int = 1) -> Split:
    """Test on each user's ``n`` latest ratings; users with ``n`` or fewer stay in train.

    Equal timestamps keep file order (the later row counts as later).
    """
    if n < 1:
        raise MovierecError(f"n must be at least 1, not {n}")
    by_time = np.argsort(ratings["timestamp"].to_numpy(), kind="stable")
    users = pd.Series(ratings["user_id"].to_numpy()[by_time])
    groups = users.groupby(users, sort=False)
    from_end = groups.cumcount(ascending=False).to_numpy()
    size = groups.transform("size").to_numpy()
    test = by_time[(from_end < n) & (size > n)]
    return _from_test_positions(ratings, test, f"leave-last-{n}")


def kfold(ratings: pd.DataFrame, k: int = 5, seed: int = 42) -> list[Split]:
    """``k`` splits whose test sets partition the rows (each row is tested exactly once).

    Same folds as ``sklearn.model_selection.KFold(k, shuffle=True, random_state=seed)``:
    the first ``n % k`` folds get one extra row; train and test keep the input's row order.
    """
    n = len(ratings)
    if not 2 <= k <= n:
        raise MovierecError(f"k must be between 2 and the number of ratings ({n}), not {k}")
    order = np.random.RandomState(seed).permutation(n)
    sizes = np.full(k, n // k)
    sizes[: n % k] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [
        _from_test_positions(ratings, order[bounds[i]: bounds[i + 1]], f"kfold-{i + 1}-of-{k}")
        for i in range(k)
    ]


def contiguous_folds(ratings: pd.DataFrame, k: int = 5) -> list[Split]:
    """``k`` splits whose test sets are consecutive runs of rows in index order.

    Fold ``i`` tests the ``i``-th of ``k`` equal runs (the first ``n % k`` one row longer)
    of the rows sorted by their index labels, and trains on the rest; both sides keep that
    order. GroupLens' ``mku.sh`` makes ML-100K's u1 .. u5 this way from ``u.data``'s file
    order, and :func:`ml100k_fold` keeps ``u.data``'s row labels, so on ``u1.base`` these
    folds are validation splits shaped like ``u1.test``: each holds out about a third of
    the ratings of some 600 users (``u1.test``: about 40 % of 459 users'), where
    :func:`validation_split` takes about a tenth of every user's.
    """
    n = len(ratings)
    if not 2 <= k <= n:
        raise MovierecError(f"k must be between 2 and the number of ratings ({n}), not {k}")
    ordered = ratings.sort_index(kind="stable")
    sizes = np.full(k, n // k)
    sizes[: n % k] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [_from_test_positions(ordered, np.arange(bounds[i], bounds[i + 1]),
                                 f"contiguous-{i + 1}-of-{k}") for i in range(k)]


def ml100k_fold(ratings: pd.DataFrame, fold: int) -> Split:
    """The official MovieLens 100K split ``u{fold}.base`` / ``u{fold}.test``.

    GroupLens' ``mku.sh`` tests fold ``i`` on rows ``(i-1)*20000 .. i*20000-1`` of
    ``u.data`` and trains on the other 80,000, each file sorted by user then movie; this
    returns the same rows in the same order. ``ratings`` must be ``u.data`` in file order.
    """
    if fold not in range(1, 6):
        raise MovierecError(f"fold must be 1, 2, 3, 4 or 5, not {fold}")
    _check_ml100k_order(ratings)
    is_test = np.zeros(len(ratings), dtype=bool)
    is_test[(fold - 1) * ML100K_FOLD_ROWS: fold * ML100K_FOLD_ROWS] = True
    return Split(_by_user_movie(ratings.iloc[~is_test]), _by_user_movie(ratings.iloc[is_test]),
                 f"u{fold}")


def _n_test(n_rows: int, test_size: float) -> int:
    """Test rows for a fraction or count, rounded up and validated as scikit-learn does."""
    if isinstance(test_size, int | np.integer):
        n_test = int(test_size)
    elif 0.0 < test_size < 1.0:
        n_test = math.ceil(test_size * n_rows)
    else:
        raise MovierecError(f"a test fraction must lie strictly between 0 and 1, not {test_size}")
    if not 0 < n_test < n_rows:
        raise DataError(
            f"cannot hold out {test_size} of {n_rows} ratings: both train and test "
            "would need at least one rating"
        )
    return n_test


def _from_test_positions(ratings: pd.DataFrame, test_positions: np.ndarray, name: str) -> Split:
    is_test = np.zeros(len(ratings), dtype=bool)
    is_test[test_positions] = True
    return Split(ratings.iloc[~is_test], ratings.iloc[is_test], name)


def _by_user_movie(ratings: pd.DataFrame) -> pd.DataFrame:
    return ratings.sort_values(["user_id", "movie_id"], kind="stable")


def _check_ml100k_order(ratings: pd.DataFrame) -> None:
    hint = "load it with movierec.data.load('100k') and do not filter or reorder it"
    if len(ratings) != ML100K_ROWS:
        raise DataError(
            f"the official 100K folds need all {ML100K_ROWS:,} ratings of u.data, "
            f"got {len(ratings):,}; {hint}"
        )
    users = ratings["user_id"].to_numpy()
    movies = ratings["movie_id"].to_numpy()
    for row, user, movie in _ML100K_ANCHORS:
        if users[row] != user or movies[row] != movie:
            raise DataError(
                f"the ratings are not in u.data order (row {row} should be user {user}, "
                f"movie {movie}, found user {users[row]}, movie {movies[row]}); {hint}"
            )
