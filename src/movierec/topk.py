"""The ``k`` best items of each row of a score matrix: the one top-K of movierec.

Both the :class:`~movierec.recommend.Recommender` and the evaluation loop
(:func:`movierec.evaluation.rank_evaluate`) rank with :func:`top_k_rows`;
:func:`top_k` is its checked form, with per-row exclusions.

A row is never sorted or fully partitioned. Its columns are dealt into ``G = 32``
interleaved groups (group ``g`` holds columns ``g, g + n/G, g + 2n/G, ...``). The K-th
largest group maximum ``t`` is a lower bound on the K-th largest score, since K groups each
hold a score ``>= t``; so only the movies of the groups whose maximum is ``>= t`` (about
``K * G`` scores) can be among the K best. Those candidates are then ordered exactly, which
also makes ties exact: equal scores rank by lower column index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from movierec.itemsets import ItemSets

__all__ = ["EXCLUDED", "top_k", "top_k_rows"]

EXCLUDED = float(np.finfo(np.float32).min)
"""Scores at or below this (the lowest float32; ``-inf`` too) are never returned."""
GROUP = 32
"""Interleaved groups per row in the candidate filter (see the module docstring)."""
MIN_GROUPS_PER_K = 4
"""The filter is used when a row has at least this many groups per requested item;
with fewer, it would keep most of the row, and the plain threshold is as fast."""


def top_k(
    scores: Any, k: int, exclude: ItemSets | Any | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items of each row of ``scores``, best first.

    The input is not modified.

    Args:
        scores: float array ``(n_rows, n_items)``; higher is better. NaN is not allowed.
        k: how many items to return per row (``>= 1``).
        exclude: items to leave out of each row (e.g. those the user already rated), as an
            :class:`~movierec.metrics.ItemSets` or a sequence of per-row index arrays, with
            one entry per row of ``scores``.

    Returns:
        ``(items, item_scores)``: int64 and float arrays of shape ``(n_rows, k)``; the
        scores keep a float dtype of ``scores`` (integers become float64). A row with fewer
        than ``k`` eligible items (score above :data:`EXCLUDED`, so ``-inf`` is never
        eligible) is padded with item ``-1`` and score ``-inf``. Ties are broken by the
        lower index.

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
    if s.dtype.kind != "f":
        s = s.astype(np.float64)
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    if exclude is not None:
        s = _without(s, exclude)
    return top_k_rows(s, int(k))


def _without(scores: np.ndarray, exclude: ItemSets | Any) -> np.ndarray:
    """A copy of ``scores`` with each row's excluded items set to ``-inf``."""
    ex = exclude if isinstance(exclude, ItemSets) else ItemSets.from_lists(exclude)
    n_rows, n_items = scores.shape
    if len(ex) != n_rows:
        raise ValueError(
            f"exclude has {len(ex)} rows but scores has {n_rows}; they must be aligned"
        )
    if ex.indices.size and ex.indices.max() >= n_items:
        raise ValueError(
            f"exclude names item {ex.indices.max()} but there are only {n_items} items"
        )
    masked = scores.copy()
    masked[ex.row_ids(), ex.indices] = -np.inf
    return masked


def top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` without the checks and exclusions, for callers that mask in place.

    ``scores`` is a 2-D float array without NaN; entries ``<= EXCLUDED`` are never
    returned. Returns column indices (``-1`` padding) and their scores (``-inf`` padding),
    best first, ties by lower column index.
    """
    n_rows, n_cols = scores.shape
    items = np.full((n_rows, k), -1, dtype=np.int64)
    values = np.full((n_rows, k), -np.inf, dtype=scores.dtype)
    if n_rows == 0 or n_cols == 0:
        return items, values
    rows, cols = _candidates(scores, k)
    vals = scores[rows, cols]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(n_rows))[rows]
    best = rank < k
    items[rows[best], rank[best]] = cols[best]
    values[rows[best], rank[best]] = vals[best]
    return items, values


def _candidates(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every eligible score that may be among its row's ``k`` best."""
    n_cols = scores.shape[1]
    group = GROUP if n_cols // GROUP >= MIN_GROUPS_PER_K * k else 1
    n_groups = n_cols // group
    body = scores[:, : n_groups * group]
    group_max = body if group == 1 else body.reshape(-1, group, n_groups).max(axis=1)
    threshold = _kth_largest(group_max, k)
    rows, groups = np.nonzero(_eligible(group_max, threshold[:, None]))
    cols = (groups[:, None] + n_groups * np.arange(group)).reshape(-1)
    rows = np.repeat(rows, group)
    tail_rows, tail_cols = _tail(scores.shape, n_groups * group)
    rows, cols = np.concatenate([rows, tail_rows]), np.concatenate([cols, tail_cols])
    keep = _eligible(scores[rows, cols], threshold[rows])
    return rows[keep], cols[keep]


def _kth_largest(values: np.ndarray, k: int) -> np.ndarray:
    """Per row, the ``k``-th largest of ``values`` (``-inf`` when a row is shorter)."""
    n = values.shape[1]
    if k > n:
        return np.full(len(values), -np.inf, dtype=values.dtype)
    return np.partition(values, n - k, axis=1)[:, n - k]


def _eligible(values: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Scores at or above ``threshold`` that are not excluded."""
    return (values >= threshold) & (values > EXCLUDED)


def _tail(shape: tuple[int, int], start: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of the columns from ``start`` on, left over by the groups."""
    n_rows, n_cols = shape
    cols = np.arange(start, n_cols)
    return np.repeat(np.arange(n_rows), len(cols)), np.tile(cols, n_rows)
