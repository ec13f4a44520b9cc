"""Evaluation metrics: rating error and top-K ranking quality, as pure numpy functions.

Every function here is pure (no state, no randomness, inputs are never modified) and raises
:class:`ValueError` on empty or misaligned input instead of silently dropping pairs it could
not score.

Rating metrics
    :func:`rmse` and :func:`mae` compare two aligned 1-D arrays of ratings.

Ranking metrics
    Computed for a batch of users at once, vectorized with numpy. They take two inputs:

    ``recommended``
        An integer array of shape ``(n_users, K)``; row ``u`` holds the item indices
        recommended to user ``u``, best first. ``-1`` marks an empty slot (padding, for a
        user with fewer than ``K`` candidates); a padded slot counts as a miss. An item may
        appear at most once per row.
    ``relevant``
        The items each user found relevant, as an :class:`ItemSets` (a CSR-like store of one
        sorted set of item indices per user) or as any sequence of per-user integer arrays,
        which is converted with :meth:`ItemSets.from_lists`. Row ``u`` of ``relevant``
        belongs to row ``u`` of ``recommended``; the lengths must match.

    Relevance is binary. Only the first ``k`` columns are used (``k`` defaults to ``K``).
    Each metric returns the mean over the users that have at least one relevant item; users
    with no relevant item are left out of the mean, because recall, NDCG and AP are
    undefined for them. With ``per_user=True`` a metric returns one value per row instead,
    ``NaN`` for users with no relevant item. If no user has a relevant item the mean is
    undefined and a :class:`ValueError` is raised.

Beyond-accuracy metrics
    :func:`catalogue_coverage`, :func:`novelty` and
    :func:`average_recommendation_popularity` describe the recommendation lists themselves.

Example:
    >>> import numpy as np
    >>> recommended = np.array([[3, 1, 7], [2, 5, -1]])
    >>> relevant = [np.array([1, 9]), np.array([4])]
    >>> float(precision_at_k(recommended, relevant, k=3))
    0.16666666666666666
    >>> float(hit_rate_at_k(recommended, relevant))
    0.5
"""

from __future__ import annotations

from typing import Any

import numpy as np

from movierec.itemsets import ItemSets, is_integer

__all__ = [
    "PADDING",
    "ItemSets",
    "average_recommendation_popularity",
    "catalogue_coverage",
    "hit_rate_at_k",
    "hits_at_k",
    "mae",
    "map_at_k",
    "mrr",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
    "rmse",
]

PADDING = -1
"""The item index that marks an empty slot in a recommendation list."""


# --------------------------------------------------------------------------------------------
# Rating metrics
# --------------------------------------------------------------------------------------------


def rmse(y_true: Any, y_pred: Any) -> float:
    r"""Root mean squared error between aligned ratings.

    .. math:: \mathrm{RMSE} = \sqrt{\frac{1}{n}\sum_{i=1}^{n} (\hat y_i - y_i)^2}

    Args:
        y_true: observed ratings, shape ``(n,)``.
        y_pred: predicted ratings, shape ``(n,)``, aligned with ``y_true``.

    Raises:
        ValueError: if the inputs are empty, differ in shape, or hold NaN or infinity.

    Example:
        >>> rmse([4.0, 2.0], [3.0, 2.0])
        0.7071067811865476
    """
    t, p = _aligned_ratings(y_true, y_pred)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def mae(y_true: Any, y_pred: Any) -> float:
    r"""Mean absolute error between aligned ratings.

    .. math:: \mathrm{MAE} = \frac{1}{n}\sum_{i=1}^{n} |\hat y_i - y_i|

    Raises:
        ValueError: if the inputs are empty, differ in shape, or hold NaN or infinity.

    Example:
        >>> mae([4.0, 2.0], [3.0, 2.5])
        0.75
    """
    t, p = _aligned_ratings(y_true, y_pred)
    return float(np.mean(np.abs(p - t)))


def _aligned_ratings(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(f"ratings must be 1-D, got shapes {t.shape} and {p.shape}")
    if t.shape != p.shape:
        raise ValueError(
            f"y_true and y_pred are misaligned: {t.size} true vs {p.size} predicted ratings"
        )
    if t.size == 0:
        raise ValueError("cannot compute an error over zero ratings")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise ValueError("ratings contain NaN or infinity")
    return t, p


# --------------------------------------------------------------------------------------------
# Ranking metrics
# --------------------------------------------------------------------------------------------


def hits_at_k(recommended: Any, relevant: Any, k: int | None = None) -> np.ndarray:
    """Boolean matrix ``(n_users, k)``: is the item in each slot relevant to its user?

    The building block of every ranking metric, vectorized: (user, item) pairs are encoded
    as single integers and looked up in the sorted relevant pairs with ``np.searchsorted``.

    Raises:
        ValueError: on empty or misaligned input (see the module docstring).
    """
    rec, rel, k = _check_ranking_input(recommended, relevant, k)
    return _hits(rec[:, :k], rel)


def _hits(rec: np.ndarray, rel: ItemSets) -> np.ndarray:
    n_users = rec.shape[0]
    width = int(max(rec.max(initial=0), rel.indices.max(initial=0))) + 1
    rel_keys = rel.row_ids() * width + rel.indices  # sorted: rows in order, items sorted
    rec_keys = np.arange(n_users, dtype=np.int64)[:, None] * width + rec
    pos = np.searchsorted(rel_keys, rec_keys)
    found = np.zeros(rec.shape, dtype=bool)
    inside = pos < rel_keys.size
    found[inside] = rel_keys[pos[inside]] == rec_keys[inside]
    return found & (rec != PADDING)


def ranking_metrics(
    recommended: Any, relevant: Any, k: int | None = None, *, per_user: bool = False
) -> dict[str, Any]:
    """All six ranking metrics at once, sharing one hit computation.

    Returns:
        ``{"precision", "recall", "ndcg", "map", "hit_rate", "mrr"}`` mapped to the mean
        over users with a relevant item (floats), or to per-user arrays (``NaN`` for users
        without one) when ``per_user`` is true.

    Raises:
        ValueError: on empty or misaligned input, or if no user has a relevant item and
            ``per_user`` is false.
    """
    rec, rel, k = _check_ranking_input(recommended, relevant, k)
    hits = _hits(rec[:, :k], rel)
    n_rel = rel.sizes()
    values = {
        "precision": _precision(hits, k),
        "recall": _recall(hits, n_rel),
        "ndcg": _ndcg(hits, n_rel, k),
        "map": _average_precision(hits, n_rel, k),
        "hit_rate": _hit_rate(hits),
        "mrr": _reciprocal_rank(hits),
    }
    return {name: _finish(v, n_rel, per_user) for name, v in values.items()}


def precision_at_k(
    recommended: Any, relevant: Any, k: int | None = None, *, per_user: bool = False
) -> Any:
    r"""Precision at K: the share of the K slots that hold a relevant item.

    .. math:: P@K(u) = \frac{|\mathrm{rec}_K(u) \cap \mathrm{rel}(u)|}{K}

    Padded slots count as misses, so the denominator is always K.

    Returns:
        The mean over users with at least one relevant item, or per-user values with
        ``per_user=True`` (``NaN`` where a user has no relevant item).

    Raises:
        ValueError: on empty or misaligned input.
    """
    rec, rel, k = _check_ranking_input(recommended, relevant, k)
    return _finish(_precision(_hits(rec[:, :k], rel), k), rel.sizes(), per_user)


def recall_at_k(
    recommended: Any, relevant: Any, k: int | None = None, *, per_user: bool = False
) -> Any:
    r"""Recall at K: the share of the user's relevant items found in the top K.

    .. math:: R@K(u) = \frac{|\mathrm{rec}_K(u) \cap \mathrm{rel}(u)|}{|\mathrm{rel}(u)|}

    The denominator is the full ``|rel(u)|``, so recall cannot reach 1 when a user has more
    than K relevant items.

    Returns:
        The mean over users with at least one relevant item, or per-user values with
        ``per_user=True`` (``NaN`` where a user has no relevant item).

    Raises:
        ValueError: on empty or misaligned input.
    """
    rec, rel, k = _check_ranking_input(recommended, relevant, k)
    n_rel = rel.sizes()
    return _finish(_recall(_hits(rec[:, :k], rel), n_rel), n_rel, per_user)


def ndcg_at_k(
    recommended: Any, relevant: Any, k: int | None = None, *, per_user: bool = False
) -> Any:
    r"""Normalised discounted cumulative gain at K, with binary relevance.

    .. math::
        \mathrm{DCG}@K(u) = \sum_{i=1}^{K} \frac{\mathrm{rel}_i}{\log_2(i + 1)}, \qquad
        \mathrm{IDCG}@K(u) = \sum_{i=1}^{\min(K, |\mathrm{rel}(u)|)} \frac{1}{\log_2(i + 1)},
        \qquad \mathrm{NDCG}@K(u) = \frac{\mathrm{DCG}@K(u)}{\mathrm{IDCG}@K(u)}

    where :math:`\mathrm{rel}_i` is 1 if the item at rank i is relevant, else 0. A list
    that puts ``min(K, |rel(u)|)`` relevant items in its first slots scores exactly 1.

    Returns:
        The mean over users with at least one relevant item, or per-user values with
        ``per_user=True`` (``NaN`` where a user has no relevant item).

    Raises:
        ValueError: on empty or misaligned input.
    """
    rec, rel, k = _check_ranking_input(recommended, relevant, k)
    n_rel = rel.sizes()
    return _finish(_ndcg(_hits(rec[:, :k], rel), n_rel, k), n_rel, per_user)


def map_at_k(
    recommended: Any, relevant: Any, k: int | None = None, *, per_user: bool = False
) -> Any:
    r"""Mean average precision at K.

    .. math::
        \mathrm{AP}@K(u) = \frac{1}{\min(K, |\mathrm{rel}(u)|)}
            \sum_{i=1}^{K} P@i(u) \cdot \mathrm{rel}_i

    where :math:`P@i(u)` is the precision of the first i slots and :math:`\mathrm{rel}_i`
    is 1 if the item at rank i is relevant. MAP@K is the mean of AP@K over users. A list
    that puts ``min(K, |rel(u)|)`` relevant items first scores exactly 1.

    Returns:
        The mean over users with at least one relevant item, or per-user values with
        ``per_user=True`` (``NaN`` where a user has no relevant item).

    Raises:
        ValueError: on empty or misaligned input.
    """
    rec, rel, k = _check_ranking_input(recommended, relevant, k)
    n_rel = rel.sizes()
    return _finish(_average_precision(_hits(rec[:, :k], rel), n_rel, k), n_rel, per_user)


def hit_rate_at_k(
    recommended: Any, relevant: Any, k: int | None = None, *, per_user: bool = False
) -> Any:
    r"""Hit rate at K: 1 if at least one of the top K items is relevant, else 0.

    .. math:: \mathrm{HR}@K(u) = \mathbb{1}\left[\,|\mathrm{rec}_K(u) \cap
              \mathrm{rel}(u)| > 0\,\right]

    Returns:
        The mean over users with at least one relevant item, or per-user values with
        ``per_user=True`` (``NaN`` where a user has no relevant item).

    Raises:
        ValueError: on empty or misaligned input.
    """
    rec, rel, k = _check_ranking_input(recommended, relevant, k)
    return _finish(_hit_rate(_hits(rec[:, :k], rel)), rel.sizes(), per_user)


def mrr(recommended: Any, relevant: Any, k: int | None = None, *, per_user: bool = False) -> Any:
    r"""Mean reciprocal rank of the first relevant item within the top K.

    .. math:: \mathrm{RR}@K(u) = \frac{1}{\mathrm{rank}_u}

    where :math:`\mathrm{rank}_u` is the 1-based rank of the first relevant item in the top
    K, and :math:`\mathrm{RR}@K(u) = 0` if there is none. MRR is the mean over users.

    Returns:
        The mean over users with at least one relevant item, or per-user values with
        ``per_user=True`` (``NaN`` where a user has no relevant item).

    Raises:
        ValueError: on empty or misaligned input.
    """
    rec, rel, k = _check_ranking_input(recommended, relevant, k)
    return _finish(_reciprocal_rank(_hits(rec[:, :k], rel)), rel.sizes(), per_user)


def _precision(hits: np.ndarray, k: int) -> np.ndarray:
    return hits.sum(axis=1) / k


def _recall(hits: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    return hits.sum(axis=1) / np.maximum(n_rel, 1)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _ndcg(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    discounts = _discounts(k)
    dcg = hits @ discounts
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_rel, k)]
    return dcg / np.where(ideal > 0, ideal, 1.0)


def _average_precision(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return (precision_at_i * hits).sum(axis=1) / np.maximum(np.minimum(n_rel, k), 1)


def _hit_rate(hits: np.ndarray) -> np.ndarray:
    return np.asarray(hits.any(axis=1), dtype=np.float64)


def _reciprocal_rank(hits: np.ndarray) -> np.ndarray:
    first = hits.argmax(axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)


def _finish(values: np.ndarray, n_rel: np.ndarray, per_user: bool) -> Any:
    has_relevant = n_rel > 0
    if per_user:
        return np.where(has_relevant, values, np.nan)
    if not has_relevant.any():
        raise ValueError("no user has a relevant item, so the mean is undefined")
    return float(values[has_relevant].mean())


def _check_recommended(recommended: Any) -> np.ndarray:
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError(f"recommended must be a 2-D (n_users, K) array, got shape {rec.shape}")
    if rec.shape[0] == 0 or rec.shape[1] == 0:
        raise ValueError(f"recommended is empty (shape {rec.shape})")
    if not is_integer(rec):
        raise ValueError(f"recommended must hold integer item indices, got dtype {rec.dtype}")
    rec = rec.astype(np.int64, copy=False)
    if rec.min() < PADDING:
        raise ValueError(f"recommended holds negative item indices other than {PADDING}")
    ordered = np.sort(rec, axis=1)
    if np.any((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] != PADDING)):
        raise ValueError("an item appears more than once in a user's recommendation list")
    return rec


def _check_ranking_input(recommended: Any, relevant: Any, k: int | None) -> tuple:
    rec = _check_recommended(recommended)
    rel = relevant if isinstance(relevant, ItemSets) else ItemSets.from_lists(relevant)
    if len(rel) != rec.shape[0]:
        raise ValueError(
            f"recommended and relevant are misaligned: {rec.shape[0]} recommendation lists "
            f"vs {len(rel)} relevant sets"
        )
    if k is None:
        k = rec.shape[1]
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= rec.shape[1]:
        raise ValueError(f"k must lie in [1, {rec.shape[1]}] (the list length), got {k}")
    return rec, rel, int(k)


# --------------------------------------------------------------------------------------------
# Beyond accuracy
# --------------------------------------------------------------------------------------------


def catalogue_coverage(recommended: Any, n_items: int) -> float:
    r"""Catalogue coverage: the share of the catalogue recommended to at least one user.

    .. math:: \mathrm{Coverage} = \frac{|\bigcup_u \mathrm{rec}(u)|}{n_\mathrm{items}}

    Padded slots (``-1``) are ignored.

    Raises:
        ValueError: on empty input, ``n_items < 1``, or an item index ``>= n_items``.

    Example:
        >>> catalogue_coverage([[0, 1], [1, 2]], n_items=6)
        0.5
    """
    rec = _check_recommended(recommended)
    if n_items < 1:
        raise ValueError(f"n_items must be >= 1, got {n_items}")
    if rec.max() >= n_items:
        raise ValueError(f"recommended holds item index {rec.max()} >= n_items={n_items}")
    items = rec[rec != PADDING]
    return float(np.unique(items).size / n_items)


def novelty(recommended: Any, item_popularity: Any, n_users: int, *, per_user: bool = False) -> Any:
    r"""Novelty: the mean self-information of the recommended items, in bits.

    .. math::
        \mathrm{Novelty}(u) = \frac{1}{|\mathrm{rec}(u)|} \sum_{i \in \mathrm{rec}(u)}
            -\log_2 \frac{\mathrm{pop}_i}{n_\mathrm{users}}

    where :math:`\mathrm{pop}_i` is the number of users who interacted with item i (in the
    training data) out of ``n_users``. Padded slots are ignored. The result is the mean over
    users with at least one recommended item; rarely seen items score high, an item everyone
    saw scores 0.

    Args:
        recommended: ``(n_users, K)`` item indices, ``-1`` padding allowed.
        item_popularity: ``(n_items,)`` counts of users per item.
        n_users: the number of users the popularity was counted over.
        per_user: return one value per row (``NaN`` for a row that is all padding).

    Raises:
        ValueError: on empty input, an item outside ``item_popularity``, or a recommended
            item whose popularity is not in ``(0, n_users]`` (its self-information would
            be infinite or negative).
    """
    rec, pop = _check_popularity_input(recommended, item_popularity)
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1, got {n_users}")
    mask = rec != PADDING
    rec_pop = pop[np.where(mask, rec, 0)]
    bad = mask & ((rec_pop <= 0) | (rec_pop > n_users))
    if bad.any():
        items = np.unique(rec[bad])[:10].tolist()
        raise ValueError(
            f"recommended items {items} have popularity outside (0, n_users={n_users}]; "
            "novelty is undefined for them"
        )
    info = -np.log2(np.where(mask, rec_pop, n_users) / n_users)
    return _per_list_mean(info, mask, per_user)


def average_recommendation_popularity(
    recommended: Any, item_popularity: Any, *, per_user: bool = False
) -> Any:
    r"""Average recommendation popularity (ARP), a measure of popularity bias.

    .. math::
        \mathrm{ARP} = \frac{1}{|U|} \sum_{u \in U} \frac{1}{|\mathrm{rec}(u)|}
            \sum_{i \in \mathrm{rec}(u)} \mathrm{pop}_i

    in the units of ``item_popularity`` (e.g. the number of training ratings per item).
    Padded slots are ignored; ``U`` is the set of users with at least one recommended item.
    Higher means the lists lean towards popular items.

    Raises:
        ValueError: on empty input or an item outside ``item_popularity``.
    """
    rec, pop = _check_popularity_input(recommended, item_popularity)
    mask = rec != PADDING
    values = np.where(mask, pop[np.where(mask, rec, 0)], 0.0)
    return _per_list_mean(values, mask, per_user)


def _check_popularity_input(recommended: Any, item_popularity: Any) -> tuple:
    rec = _check_recommended(recommended)
    pop = np.asarray(item_popularity, dtype=np.float64)
    if pop.ndim != 1 or pop.size == 0:
        raise ValueError("item_popularity must be a non-empty 1-D array (one value per item)")
    if not np.all(np.isfinite(pop)):
        raise ValueError("item_popularity contains NaN or infinity")
    if rec.max() >= pop.size:
        raise ValueError(
            f"recommended holds item index {rec.max()} but item_popularity has {pop.size} items"
        )
    return rec, pop


def _per_list_mean(values: np.ndarray, mask: np.ndarray, per_user: bool) -> Any:
    counts = mask.sum(axis=1)
    sums = np.where(mask, values, 0.0).sum(axis=1)
    per_list = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    if per_user:
        return per_list
    if not (counts > 0).any():
        raise ValueError("every recommendation list is empty (all padding)")
    return float(per_list[counts > 0].mean())

