"""Metrics: hand-computed answers, input validation, and Hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from movierec.metrics import (
    ItemSets,
    average_recommendation_popularity,
    catalogue_coverage,
    hit_rate_at_k,
    hits_at_k,
    mae,
    map_at_k,
    mrr,
    ndcg_at_k,
    novelty,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    rmse,
)

RANKING = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": map_at_k,
    "hit_rate": hit_rate_at_k,
    "mrr": mrr,
}

# --------------------------------------------------------------------------------------------
# Rating metrics
# --------------------------------------------------------------------------------------------


def test_rmse_mae_known_answers():
    y = [4.0, 3.0, 5.0, 1.0]
    p = [3.0, 3.0, 3.0, 2.0]  # errors 1, 0, 2, 1
    assert rmse(y, p) == pytest.approx(math.sqrt((1 + 0 + 4 + 1) / 4))
    assert mae(y, p) == pytest.approx((1 + 0 + 2 + 1) / 4)


def test_rating_metrics_accept_keras_shaped_predictions():
    y = np.array([4.0, 2.0])
    assert rmse(y, np.array([[4.0], [2.0]])) == 0.0


@pytest.mark.parametrize("metric", [rmse, mae])
@pytest.mark.parametrize(
    ("y_true", "y_pred"),
    [
        ([], []),
        ([1.0, 2.0], [1.0]),
        ([1.0, 2.0], [1.0, 2.0, 3.0]),
        ([1.0, float("nan")], [1.0, 2.0]),
        ([1.0, 2.0], [1.0, float("inf")]),
        ([[1.0, 2.0]], [[1.0, 2.0]]),
    ],
)
def test_rating_metrics_raise_on_empty_or_misaligned(metric, y_true, y_pred):
    with pytest.raises(ValueError):
        metric(y_true, y_pred)


ratings_pairs = st.integers(1, 30).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0.5, 5.0), min_size=n, max_size=n),
        st.lists(st.floats(0.5, 5.0), min_size=n, max_size=n),
    )
)


@given(ratings_pairs)
def test_rating_metric_properties(pair):
    y, p = pair
    r, a = rmse(y, p), mae(y, p)
    assert 0.0 <= a <= r + 1e-12  # RMSE >= MAE (power-mean inequality)
    assert r <= 4.5 + 1e-12
    assert rmse(p, y) == pytest.approx(r)
    assert rmse(y, y) == 0.0 and mae(y, y) == 0.0
    errors = np.asarray(p) - np.asarray(y)
    assert r == pytest.approx(np.sqrt(np.mean(errors**2)))
    assert a == pytest.approx(np.mean(np.abs(errors)))


# --------------------------------------------------------------------------------------------
# Ranking metrics: known answers
# --------------------------------------------------------------------------------------------

REC = np.array([[3, 1, 7, 2], [2, 5, -1, -1], [0, 4, 6, 8]])
REL = [np.array([1, 9, 2]), np.array([4]), np.array([], dtype=int)]


def test_ranking_metrics_hand_computed_at_4():
    # user 0: hits at ranks 2 and 4, 3 relevant; user 1: no hit; user 2: no relevant item.
    d = [1 / math.log2(i + 1) for i in range(1, 5)]
    ndcg0 = (d[1] + d[3]) / (d[0] + d[1] + d[2])
    ap0 = (1 / 2 + 2 / 4) / 3
    expected = {
        "precision": (2 / 4 + 0) / 2,
        "recall": (2 / 3 + 0) / 2,
        "ndcg": ndcg0 / 2,
        "map": ap0 / 2,
        "hit_rate": 1 / 2,
        "mrr": (1 / 2) / 2,
    }
    for name, fn in RANKING.items():
        assert fn(REC, REL, 4) == pytest.approx(expected[name]), name
    assert ranking_metrics(REC, REL, 4) == pytest.approx(expected)


def test_ranking_metrics_hand_computed_at_2():
    d1, d2 = 1.0, 1 / math.log2(3)
    assert precision_at_k(REC, REL, 2, per_user=True)[:2].tolist() == [0.5, 0.0]
    assert recall_at_k(REC, REL, 2, per_user=True)[0] == pytest.approx(1 / 3)
    assert ndcg_at_k(REC, REL, 2, per_user=True)[0] == pytest.approx(d2 / (d1 + d2))
    assert map_at_k(REC, REL, 2, per_user=True)[0] == pytest.approx((1 / 2) / 2)
    assert mrr(REC, REL, 2, per_user=True)[0] == pytest.approx(1 / 2)


def test_per_user_values_are_nan_for_users_without_relevant_items():
    for fn in RANKING.values():
        values = fn(REC, REL, per_user=True)
        assert values.shape == (3,)
        assert np.isnan(values[2]) and not np.isnan(values[:2]).any()


def test_ndcg_and_map_normalise_by_min_k_relevant():
    # 5 relevant items, K = 2, both slots hit: a perfect list of length 2.
    rec = np.array([[0, 1]])
    rel = [np.arange(5)]
    assert ndcg_at_k(rec, rel) == pytest.approx(1.0)
    assert map_at_k(rec, rel) == pytest.approx(1.0)
    assert recall_at_k(rec, rel) == pytest.approx(2 / 5)


def test_padding_counts_as_a_miss_and_never_matches():
    rec = np.array([[-1, 4, -1]])
    assert precision_at_k(rec, [[4]]) == pytest.approx(1 / 3)
    assert mrr(rec, [[4]]) == pytest.approx(1 / 2)
    assert hits_at_k(rec, [[4]]).tolist() == [[False, True, False]]


def test_relevant_accepts_item_sets_and_lists_alike():
    sets = ItemSets.from_lists(REL)
    for fn in RANKING.values():
        assert fn(REC, sets) == fn(REC, [list(r) for r in REL])


@pytest.mark.parametrize(
    ("recommended", "relevant", "k"),
    [
        (np.empty((0, 3), dtype=int), [], None),  # no users
        (np.empty((2, 0), dtype=int), [[1], [2]], None),  # K = 0
        (np.array([1, 2, 3]), [[1]], None),  # 1-D
        (np.array([[1, 2]]), [[1], [2]], None),  # misaligned lengths
        (np.array([[1, 2], [3, 4]]), [[1]], None),  # misaligned lengths
        (np.array([[1.0, 2.0]]), [[1]], None),  # float item indices
        (np.array([[1, -2]]), [[1]], None),  # negative non-padding index
        (np.array([[1, 1]]), [[1]], None),  # duplicate item in a list
        (np.array([[1, 2]]), [[1]], 3),  # k longer than the lists
        (np.array([[1, 2]]), [[1]], 0),
        (np.array([[1, 2]]), [[-1]], None),  # negative relevant item
        (np.array([[1, 2]]), [[0.5]], None),  # float relevant item
        (np.array([[1, 2]]), [[]], None),  # nobody has a relevant item: mean undefined
    ],
)
def test_ranking_metrics_raise_on_bad_input(recommended, relevant, k):
    for fn in [*RANKING.values(), ranking_metrics]:
        with pytest.raises(ValueError):
            fn(recommended, relevant, k)


def test_inputs_are_not_modified():
    rec = REC.copy()
    rel = [r.copy() for r in REL]
    ranking_metrics(rec, rel)
    novelty(rec, np.ones(10), 1)
    assert np.array_equal(rec, REC)
    assert all(np.array_equal(a, b) for a, b in zip(rel, REL, strict=True))


# --------------------------------------------------------------------------------------------
# ItemSets
# --------------------------------------------------------------------------------------------


def test_item_sets_from_pairs_sorts_merges_and_keeps_empty_rows():
    sets = ItemSets.from_pairs([2, 0, 2, 2, 0], [5, 1, 3, 5, 0], n_users=4)
    assert len(sets) == 4
    assert [sets[i].tolist() for i in range(4)] == [[0, 1], [], [3, 5], []]
    assert sets.sizes().tolist() == [2, 0, 2, 0]
    taken = sets.take([2, 1, 0, 2])
    assert [taken[i].tolist() for i in range(4)] == [[3, 5], [], [0, 1], [3, 5]]


@pytest.mark.parametrize(
    ("indptr", "indices"),
    [
        ([1, 2], [0, 1]),  # does not start at 0
        ([0, 2, 1], [0, 1]),  # decreasing
        ([0, 3], [0, 1]),  # does not end at len(indices)
        ([0, 2], [1, 0]),  # unsorted row
        ([0, 2], [1, 1]),  # duplicate in a row
        ([0, 1], [-3]),  # negative
    ],
)
def test_item_sets_constructor_checks_invariants(indptr, indices):
    with pytest.raises(ValueError):
        ItemSets(np.array(indptr), np.array(indices))


def test_item_sets_rows_may_repeat_items_across_users():
    sets = ItemSets(np.array([0, 2, 4]), np.array([1, 3, 0, 1]))
    assert sets[1].tolist() == [0, 1]


def test_item_sets_from_pairs_rejects_out_of_range_users():
    with pytest.raises(ValueError):
        ItemSets.from_pairs([0, 3], [1, 1], n_users=3)
    with pytest.raises(ValueError):
        ItemSets.from_pairs([0, 1], [1], n_users=3)


# --------------------------------------------------------------------------------------------
# Ranking metrics: properties
# --------------------------------------------------------------------------------------------


@st.composite
def ranking_case(draw, min_rel: int = 0):
    """Random recommendation lists (no duplicates, optional padding tail) and relevant sets."""
    n_items = draw(st.integers(1, 15))
    n_users = draw(st.integers(1, 6))
    width = draw(st.integers(1, n_items))
    rec = np.full((n_users, width), -1, dtype=np.int64)
    rel = []
    for u in range(n_users):
        perm = draw(st.permutations(range(n_items)))
        length = draw(st.integers(0, width))
        rec[u, :length] = perm[:length]
        rel.append(
            sorted(draw(st.sets(st.integers(0, n_items - 1), min_size=min_rel, max_size=n_items)))
        )
    k = draw(st.integers(1, width))
    return rec, rel, k


def reference(rec: np.ndarray, rel: list[list[int]], k: int) -> dict[str, list[float]]:
    """Plain-Python, loop-by-loop definitions to check the vectorized code against."""
    out: dict[str, list[float]] = {name: [] for name in RANKING}
    for row, relevant in zip(rec, rel, strict=True):
        rs = set(relevant)
        if not rs:
            for name in RANKING:
                out[name].append(float("nan"))
            continue
        hits = [int(item) in rs for item in row[:k]]
        n_hit = sum(hits)
        out["precision"].append(n_hit / k)
        out["recall"].append(n_hit / len(rs))
        dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
        idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(rs))))
        out["ndcg"].append(dcg / idcg)
        ap, found = 0.0, 0
        for i, h in enumerate(hits):
            if h:
                found += 1
                ap += found / (i + 1)
        out["map"].append(ap / min(k, len(rs)))
        out["hit_rate"].append(float(n_hit > 0))
        first = next((i for i, h in enumerate(hits) if h), None)
        out["mrr"].append(0.0 if first is None else 1 / (first + 1))
    return out


@settings(max_examples=200, deadline=None)
@given(ranking_case())
def test_vectorized_metrics_match_the_loop_definitions(case):
    rec, rel, k = case
    expected = reference(rec, rel, k)
    got = ranking_metrics(rec, rel, k, per_user=True)
    for name in RANKING:
        np.testing.assert_allclose(got[name], expected[name], equal_nan=True, err_msg=name)
        per_user = RANKING[name](rec, rel, k, per_user=True)
        np.testing.assert_allclose(per_user, expected[name], equal_nan=True, err_msg=name)
        if any(rel):
            assert RANKING[name](rec, rel, k) == pytest.approx(np.nanmean(expected[name]))


@settings(max_examples=200, deadline=None)
@given(ranking_case())
def test_metric_values_lie_in_unit_interval(case):
    rec, rel, k = case
    values = ranking_metrics(rec, rel, k, per_user=True)
    for name, v in values.items():
        v = v[~np.isnan(v)]
        assert np.all((v >= 0) & (v <= 1 + 1e-12)), name
    hr, rr = values["hit_rate"], values["mrr"]
    ok = ~np.isnan(hr)
    assert np.all(rr[ok] <= hr[ok])  # a reciprocal rank is never above the hit indicator
    # precision * K and recall * |rel| both count the hits
    n_rel = np.array([len(r) for r in rel])
    np.testing.assert_allclose(values["precision"][ok] * k, values["recall"][ok] * n_rel[ok])


@st.composite
def perfect_case(draw):
    n_items = draw(st.integers(2, 15))
    n_users = draw(st.integers(1, 5))
    k = draw(st.integers(1, n_items))
    rec = np.empty((n_users, k), dtype=np.int64)
    rel = []
    for u in range(n_users):
        relevant = draw(st.sets(st.integers(0, n_items - 1), min_size=1, max_size=n_items))
        others = [i for i in range(n_items) if i not in relevant]
        order = draw(st.permutations(sorted(relevant))) + draw(st.permutations(others))
        rec[u] = order[:k]
        rel.append(sorted(relevant))
    return rec, rel, k


@settings(max_examples=150, deadline=None)
@given(perfect_case())
def test_perfect_recommender_scores_one(case):
    rec, rel, k = case
    values = ranking_metrics(rec, rel, k, per_user=True)
    for name in ("ndcg", "map", "hit_rate", "mrr"):
        np.testing.assert_allclose(values[name], 1.0, err_msg=name)
    n_rel = np.array([len(r) for r in rel])
    np.testing.assert_allclose(values["precision"], np.minimum(n_rel, k) / k)
    np.testing.assert_allclose(values["recall"], np.minimum(n_rel, k) / n_rel)


@settings(max_examples=150, deadline=None)
@given(perfect_case())
def test_reversing_a_perfect_list_never_raises_ndcg_or_map(case):
    rec, rel, k = case
    reversed_rec = rec[:, ::-1].copy()
    before = ranking_metrics(rec, rel, k, per_user=True)
    after = ranking_metrics(reversed_rec, rel, k, per_user=True)
    for name in ("ndcg", "map", "mrr"):
        assert np.all(after[name] <= before[name] + 1e-12), name
    for name in ("precision", "recall", "hit_rate"):  # set metrics ignore the order
        np.testing.assert_allclose(after[name], before[name], err_msg=name)
    # strictly lower whenever the reversal actually moves a hit later
    for u in range(rec.shape[0]):
        hits = np.isin(rec[u], rel[u])
        if hits.any() and not hits.all():
            assert after["ndcg"][u] < before["ndcg"][u]
            assert after["map"][u] < before["map"][u]


@settings(max_examples=150, deadline=None)
@given(ranking_case(min_rel=1), st.data())
def test_promoting_a_hit_over_a_miss_improves_ndcg(case, data):
    rec, rel, k = case
    u = data.draw(st.integers(0, rec.shape[0] - 1))
    hits = hits_at_k(rec, rel, k)[u]
    misses = np.flatnonzero(~hits)
    found = np.flatnonzero(hits)
    if not (found.size and misses.size and misses[0] < found[-1]):
        return
    i, j = misses[0], found[-1]  # a miss ranked above a hit: swap them
    better = rec.copy()
    better[u, [i, j]] = better[u, [j, i]]
    before = ndcg_at_k(rec, rel, k, per_user=True)[u]
    after = ndcg_at_k(better, rel, k, per_user=True)[u]
    assert after > before
    assert map_at_k(better, rel, k, per_user=True)[u] > map_at_k(rec, rel, k, per_user=True)[u]


@settings(max_examples=100, deadline=None)
@given(ranking_case(min_rel=1), st.randoms(use_true_random=False))
def test_row_order_of_users_does_not_matter(case, rnd):
    rec, rel, k = case
    perm = list(range(rec.shape[0]))
    rnd.shuffle(perm)
    a = ranking_metrics(rec, rel, k)
    b = ranking_metrics(rec[perm], [rel[p] for p in perm], k)
    assert a == pytest.approx(b)


# --------------------------------------------------------------------------------------------
# Beyond accuracy
# --------------------------------------------------------------------------------------------


def test_catalogue_coverage_known_answer_and_padding():
    assert catalogue_coverage([[0, 1], [1, 2]], n_items=6) == pytest.approx(0.5)
    assert catalogue_coverage([[0, -1], [-1, -1]], n_items=4) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("recommended", "n_items"),
    [(np.empty((0, 2), dtype=int), 3), ([[0, 5]], 5), ([[0, 1]], 0)],
)
def test_catalogue_coverage_raises(recommended, n_items):
    with pytest.raises(ValueError):
        catalogue_coverage(recommended, n_items)


@settings(max_examples=100, deadline=None)
@given(ranking_case())
def test_coverage_in_unit_interval_and_full_when_everything_recommended(case):
    rec, _, _ = case
    n_items = int(rec.max(initial=0)) + 1
    value = catalogue_coverage(rec, n_items)
    assert 0 <= value <= 1
    everything = np.arange(n_items)[None, :]
    assert catalogue_coverage(everything, n_items) == 1.0


def test_novelty_known_answer():
    pop = np.array([4, 2, 1, 1])  # out of 4 users: 0, 1, 2, 2 bits
    assert novelty([[0, 1], [2, -1]], pop, n_users=4, per_user=True).tolist() == [0.5, 2.0]
    assert novelty([[0, 1], [2, -1]], pop, n_users=4) == pytest.approx(1.25)


def test_novelty_raises_where_self_information_is_undefined():
    with pytest.raises(ValueError, match="popularity"):
        novelty([[0, 1]], np.array([3, 0]), n_users=3)  # never-seen item: infinite
    with pytest.raises(ValueError, match="popularity"):
        novelty([[0]], np.array([5]), n_users=3)  # more users than exist
    with pytest.raises(ValueError):
        novelty([[0, 7]], np.array([1, 1]), n_users=3)  # item outside the popularity table
    with pytest.raises(ValueError):
        novelty([[-1, -1]], np.array([1, 1]), n_users=3)  # nothing recommended


@given(
    st.lists(st.integers(1, 50), min_size=1, max_size=20),
    st.data(),
)
def test_novelty_is_non_negative_and_bounded(pop, data):
    n_users = 50
    k = data.draw(st.integers(1, len(pop)))
    rec = np.array([data.draw(st.permutations(range(len(pop))))[:k]])
    value = novelty(rec, np.array(pop), n_users)
    assert 0 <= value <= math.log2(n_users) + 1e-12


def test_average_recommendation_popularity_known_answer():
    pop = np.array([10, 2, 0, 6])
    assert average_recommendation_popularity([[0, 1], [2, 3], [3, -1]], pop) == pytest.approx(
        (6 + 3 + 6) / 3
    )
    values = average_recommendation_popularity([[0, -1], [-1, -1]], pop, per_user=True)
    assert values[0] == 10 and np.isnan(values[1])


def test_popular_lists_have_lower_novelty_and_higher_arp():
    pop = np.array([9, 8, 7, 1, 1, 1])
    popular, niche = np.array([[0, 1, 2]]), np.array([[3, 4, 5]])
    assert novelty(popular, pop, 10) < novelty(niche, pop, 10)
    assert average_recommendation_popularity(popular, pop) > average_recommendation_popularity(
        niche, pop
    )
