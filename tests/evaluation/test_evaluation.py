"""Ranking evaluation: top-K, the evaluation loop and the baseline scorers, on known answers."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from movierec.evaluation import (
    RANKING_METRICS,
    evaluate_split,
    leave_last_n_evaluate,
    pair_scorer,
    popularity_scorer,
    random_scorer,
    rank_evaluate,
    top_k,
)
from movierec.metrics import ItemSets

# --------------------------------------------------------------------------------------------
# top_k
# --------------------------------------------------------------------------------------------


def test_top_k_known_answer_with_exclusion():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [4.0, 3.0, 2.0, 1.0]])
    items, values = top_k(scores, 2, exclude=[[1], []])
    assert items.tolist() == [[3, 2], [0, 1]]
    assert values.tolist() == [[0.7, 0.5], [4.0, 3.0]]


def test_top_k_pads_when_too_few_items_are_eligible():
    scores = np.array([[1.0, 2.0, 3.0]])
    items, values = top_k(scores, 5, exclude=ItemSets.from_lists([[2]]))
    assert items.tolist() == [[1, 0, -1, -1, -1]]
    assert values[0, :2].tolist() == [2.0, 1.0] and np.all(np.isneginf(values[0, 2:]))
    items, _ = top_k(np.array([[1.0, -np.inf, 3.0]]), 3)  # -inf means "not a candidate"
    assert items.tolist() == [[2, 0, -1]]


def test_top_k_does_not_modify_scores():
    scores = np.array([[0.3, 0.2, 0.1]], dtype=np.float32)
    copy = scores.copy()
    items, values = top_k(scores, 2, exclude=[[0]])
    assert np.array_equal(scores, copy)
    assert values.dtype == np.float32 and items.dtype == np.int64


def test_top_k_breaks_ties_by_lower_index():
    items, _ = top_k(np.zeros((1, 6)), 6)
    assert items.tolist() == [[0, 1, 2, 3, 4, 5]]


@pytest.mark.parametrize(
    ("scores", "k", "exclude"),
    [
        (np.array([1.0, 2.0]), 1, None),  # 1-D
        (np.array([[1.0, np.nan]]), 1, None),  # NaN
        (np.array([[1.0, 2.0]]), 0, None),  # k < 1
        (np.array([[1.0, 2.0]]), 1, [[0], [1]]),  # exclude misaligned
        (np.array([[1.0, 2.0]]), 1, [[2]]),  # exclude outside the catalogue
    ],
)
def test_top_k_raises(scores, k, exclude):
    with pytest.raises(ValueError):
        top_k(scores, k, exclude)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 6), st.integers(1, 20), st.integers(1, 25), st.integers(0, 2**32 - 1))
def test_top_k_equals_a_full_sort(n_rows, n_items, k, seed):
    rng = np.random.default_rng(seed)
    scores = rng.permutation(n_rows * n_items).reshape(n_rows, n_items).astype(float)
    seen = [
        rng.choice(n_items, size=rng.integers(0, n_items + 1), replace=False) for _ in range(n_rows)
    ]
    items, values = top_k(scores, k, exclude=seen)
    for r in range(n_rows):
        allowed = np.setdiff1d(np.arange(n_items), seen[r])
        expected = allowed[np.argsort(-scores[r, allowed])][:k]
        got = items[r][items[r] != -1]
        assert got.tolist() == expected.tolist()
        assert np.all(items[r, expected.size :] == -1)
        assert values[r, : expected.size].tolist() == scores[r, expected].tolist()


# --------------------------------------------------------------------------------------------
# Synthetic data with a known answer
# --------------------------------------------------------------------------------------------


def skewed_data(n_users=200, n_movies=100, per_user=20, seed=0):
    """Users rate movies drawn with Zipf-like popularity; a random 20% of each user's ratings
    are held out. Ratings are 5 for most, 2 for some, so a threshold has work to do."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_movies + 1) ** 1.2
    weights /= weights.sum()
    train, test = [], []
    for u in range(n_users):
        movies = rng.choice(n_movies, size=per_user, replace=False, p=weights)
        n_test = per_user // 5
        test += [(u, m) for m in movies[:n_test]]
        train += [(u, m) for m in movies[n_test:]]
    test_ratings = np.where(rng.random(len(test)) < 0.8, 5.0, 2.0)
    return np.array(train), np.array(test), test_ratings, n_users, n_movies


def oracle_scorer(test_pairs, n_users, n_movies, *, worst=False):
    """Scores 1 for the user's held-out items and 0 elsewhere (or the reverse)."""
    table = np.zeros((n_users, n_movies))
    table[test_pairs[:, 0], test_pairs[:, 1]] = 1.0
    if worst:
        table = 1.0 - table

    def score(users):
        return table[users]

    return score


def test_oracle_gets_perfect_precision_and_hit_rate():
    train, test, _, n_users, n_movies = skewed_data()
    ratings = np.full(len(test), 5.0)  # every held-out item is relevant, 4 per user
    score = oracle_scorer(test, n_users, n_movies)
    result = rank_evaluate(score, train, test, ratings, n_users, n_movies, k=4)
    for name in RANKING_METRICS:
        assert result[f"{name}@4"] == pytest.approx(1.0), name
    assert result["users_evaluated"] == n_users
    assert result["users_without_relevant"] == 0
    # with K above the number of relevant items precision is capped, recall stays 1
    result = rank_evaluate(score, train, test, ratings, n_users, n_movies, k=8)
    assert result["precision@8"] == pytest.approx(0.5)
    assert result["recall@8"] == pytest.approx(1.0)
    assert result["ndcg@8"] == pytest.approx(1.0)


def test_anti_oracle_scores_zero():
    train, test, _, n_users, n_movies = skewed_data()
    score = oracle_scorer(test, n_users, n_movies, worst=True)
    result = rank_evaluate(score, train, test, np.full(len(test), 5.0), n_users, n_movies)
    for name in RANKING_METRICS:
        assert result[f"{name}@10"] == 0.0, name


def test_training_items_are_excluded_even_when_scored_highest():
    train, test, _, n_users, n_movies = skewed_data()
    table = np.zeros((n_users, n_movies))
    table[train[:, 0], train[:, 1]] = 100.0  # a model that only remembers what it saw
    table[test[:, 0], test[:, 1]] = 1.0
    result = rank_evaluate(
        lambda users: table[users], train, test, np.full(len(test), 5.0), n_users, n_movies, k=4
    )
    assert result["precision@4"] == pytest.approx(1.0)


def test_popularity_beats_random_on_popularity_skewed_data():
    train, test, ratings, n_users, n_movies = skewed_data()
    pop = rank_evaluate(popularity_scorer(train, n_movies), train, test, ratings, n_users, n_movies)
    rnd = rank_evaluate(random_scorer(n_movies, seed=1), train, test, ratings, n_users, n_movies)
    for name in ("precision", "recall", "ndcg", "hit_rate"):
        assert pop[f"{name}@10"] > 2 * rnd[f"{name}@10"], name
    # ... and pays for it in coverage, novelty and popularity bias
    assert pop["coverage@10"] < rnd["coverage@10"]
    assert pop["novelty@10"] < rnd["novelty@10"]
    assert pop["arp@10"] > rnd["arp@10"]


def test_relevance_threshold_decides_who_is_evaluated():
    train = np.array([[0, 0], [1, 0], [2, 0]])
    test = np.array([[0, 1], [1, 2], [2, 3]])
    ratings = np.array([5.0, 3.5, 4.0])
    score = oracle_scorer(test, 3, 4)
    default = rank_evaluate(score, train, test, ratings, 3, 4, k=1)
    assert default["users_evaluated"] == 2 and default["users_without_relevant"] == 1
    everyone = rank_evaluate(score, train, test, ratings, 3, 4, k=1, relevance_threshold=None)
    assert everyone["users_evaluated"] == 3 and everyone["users_without_relevant"] == 0
    strict = rank_evaluate(score, train, test, ratings, 3, 4, k=1, relevance_threshold=4.5)
    assert strict["users_evaluated"] == 1


def test_low_rated_test_items_are_candidates_but_not_relevant():
    # user 0 held out movie 1 (rated 2) and movie 2 (rated 5); the scorer prefers movie 1.
    train = np.array([[0, 0]])
    test = np.array([[0, 1], [0, 2]])
    scores = np.array([[0.0, 0.9, 0.5, 0.1]])
    result = rank_evaluate(lambda u: scores[u], train, test, np.array([2.0, 5.0]), 1, 4, k=2)
    assert result["precision@2"] == pytest.approx(0.5)
    assert result["mrr@2"] == pytest.approx(0.5)


def test_known_novelty_coverage_and_arp():
    # 4 users; movie 0 rated by all 4 in training, movie 1 by 2, movies 2 and 3 by nobody.
    train = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [0, 1], [1, 1]])
    test = np.array([[2, 2], [3, 3]])
    scores = np.tile(np.array([0.0, 3.0, 2.0, 1.0]), (4, 1))
    result = rank_evaluate(lambda u: scores[u], train, test, np.array([5.0, 5.0]), 4, 4, k=1)
    # users 2 and 3 are both recommended movie 1 (2 of 4 users: 1 bit, ARP 2)
    assert result["coverage@1"] == pytest.approx(1 / 4)
    assert result["novelty@1"] == pytest.approx(1.0)
    assert result["arp@1"] == pytest.approx(2.0)
    assert result["hit_rate@1"] == 0.0


def test_results_do_not_depend_on_chunk_size_and_chunks_are_bounded():
    train, test, ratings, n_users, n_movies = skewed_data(n_users=50)
    sizes: list[int] = []
    base = popularity_scorer(train, n_movies)

    def recording(users):
        sizes.append(len(users))
        return base(users)

    results = []
    for chunk_size in (1, 7, 1000):
        sizes.clear()
        results.append(
            rank_evaluate(recording, train, test, ratings, n_users, n_movies, chunk_size=chunk_size)
        )
        assert max(sizes) <= chunk_size
        assert sum(sizes) == results[-1]["users_evaluated"]
        randomised = rank_evaluate(
            random_scorer(n_movies, seed=3),
            train,
            test,
            ratings,
            n_users,
            n_movies,
            chunk_size=chunk_size,
        )
        results.append(randomised)
    assert results[0] == results[2] == results[4]
    assert results[1] == results[3] == results[5]


def test_result_keys_and_types():
    train, test, ratings, n_users, n_movies = skewed_data(n_users=20)
    result = rank_evaluate(random_scorer(n_movies), train, test, ratings, n_users, n_movies, k=5)
    expected = {f"{m}@5" for m in (*RANKING_METRICS, "coverage", "novelty", "arp")}
    expected |= {"users_evaluated", "users_without_relevant", "k"}
    assert set(result) == expected
    assert all(type(v) is float for v in result.values())


@pytest.mark.parametrize(
    "change",
    [
        {"test_ratings": np.array([5.0])},  # misaligned ratings
        {"test_pairs": np.empty((0, 2), dtype=int), "test_ratings": np.empty(0)},  # empty test
        {"test_pairs": np.array([[0, 9]]), "test_ratings": np.array([5.0])},  # movie out of range
        {"test_pairs": np.array([[5, 1]]), "test_ratings": np.array([5.0])},  # user out of range
        {"test_pairs": np.array([[0, 0]]), "test_ratings": np.array([5.0])},  # also in train
        {"test_pairs": np.array([[0.0, 1.0]]), "test_ratings": np.array([5.0])},  # float ids
        {"train_pairs": np.array([0, 1])},  # 1-D
        {"test_ratings": np.array([1.0, 1.0])},  # nobody has a relevant item
        {"score": lambda users: np.zeros((len(users), 3))},  # wrong number of movies
        {"score": lambda users: np.zeros((1, 4))},  # wrong number of users
        {"k": 0},
        {"chunk_size": 0},
    ],
)
def test_rank_evaluate_raises(change):
    args = {
        "score": lambda users: np.zeros((len(users), 4)),
        "train_pairs": np.array([[0, 0], [1, 0]]),
        "test_pairs": np.array([[0, 1], [1, 2]]),
        "test_ratings": np.array([5.0, 4.0]),
        "n_users": 2,
        "n_movies": 4,
    }
    args.update(change)
    with pytest.raises(ValueError):
        rank_evaluate(**args)


def test_users_with_every_movie_seen_get_padded_lists():
    # user 0 saw 3 of 4 movies; K = 3 leaves two padded slots, which count as misses.
    train = np.array([[0, 0], [0, 1], [0, 2]])
    test = np.array([[0, 3]])
    result = rank_evaluate(lambda u: np.zeros((len(u), 4)), train, test, np.array([5.0]), 1, 4, k=3)
    assert result["precision@3"] == pytest.approx(1 / 3)
    assert result["hit_rate@3"] == 1.0


# --------------------------------------------------------------------------------------------
# Scorers
# --------------------------------------------------------------------------------------------


def test_popularity_scorer_counts_ratings_and_optionally_only_good_ones():
    train = np.array([[0, 2], [1, 2], [2, 2], [0, 1], [1, 1], [0, 0]])
    ratings = np.array([1.0, 1.0, 1.0, 5.0, 4.0, 4.5])
    score = popularity_scorer(train, 4)
    assert score(np.array([0, 5])).tolist() == [[1, 2, 3, 0], [1, 2, 3, 0]]
    good = popularity_scorer(train, 4, ratings=ratings, min_rating=4.0)
    assert good(np.array([0])).tolist() == [[1, 2, 0, 0]]
    with pytest.raises(ValueError):
        popularity_scorer(train, 4, min_rating=4.0)
    with pytest.raises(ValueError):
        popularity_scorer(train, 4, ratings=ratings[:2], min_rating=4.0)
    with pytest.raises(ValueError):
        popularity_scorer(train, 2)


def test_random_scorer_is_seeded_and_leaves_the_global_rng_alone():
    state = np.random.get_state()[1].copy()
    a = random_scorer(7, seed=5)(np.arange(3))
    b = random_scorer(7, seed=5)(np.arange(3))
    c = random_scorer(7, seed=6)(np.arange(3))
    assert a.shape == (3, 7)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(np.random.get_state()[1], state)


def test_pair_scorer_builds_every_pair():
    seen_batches = []

    def predict(pairs):
        seen_batches.append(len(pairs))
        return (pairs[:, 0] * 10 + pairs[:, 1]).reshape(-1, 1).astype(np.float32)

    score = pair_scorer(predict, 3, max_pairs=6)
    assert score(np.array([4, 1, 2])).tolist() == [[40, 41, 42], [10, 11, 12], [20, 21, 22]]
    assert max(seen_batches) <= 6
    with pytest.raises(ValueError):
        pair_scorer(lambda pairs: np.zeros(1), 3)(np.array([0]))


# --------------------------------------------------------------------------------------------
# Wrappers over a Split
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Split:
    train: pd.DataFrame
    test: pd.DataFrame
    name: str = "fake"


class _Ids:
    def __init__(self, ids):
        self.ids = np.sort(np.unique(ids))

    def __len__(self):
        return self.ids.size

    def transform(self, raw):
        return np.searchsorted(self.ids, raw).astype(np.int32)


class _Encoders:
    """Stands in for movierec.encoding.Encoders: encode() -> int32 (n, 2)."""

    def __init__(self, ratings):
        self.users = _Ids(ratings["user_id"])
        self.movies = _Ids(ratings["movie_id"])

    def encode(self, df):
        return np.column_stack(
            [self.users.transform(df["user_id"]), self.movies.transform(df["movie_id"])]
        )


def _last_n(ratings, n=1):
    ordered = ratings.sort_values(["user_id", "timestamp"], kind="stable")
    is_test = ordered.groupby("user_id").cumcount(ascending=False) < n
    return _Split(ordered[~is_test], ordered[is_test], f"leave-last-{n}")


def test_evaluate_split_encodes_and_matches_rank_evaluate(ratings):
    enc = _Encoders(ratings)
    split = _last_n(ratings, 3)
    score = popularity_scorer(enc.encode(split.train), len(enc.movies))
    result = evaluate_split(score, split, enc, k=5)
    direct = rank_evaluate(
        score,
        enc.encode(split.train),
        enc.encode(split.test),
        split.test["rating"].to_numpy(),
        len(enc.users),
        len(enc.movies),
        k=5,
    )
    assert result == direct


def test_leave_last_n_counts_every_held_out_item_as_relevant(ratings, monkeypatch):
    fake = types.ModuleType("movierec.splits")
    fake.leave_last_n = _last_n
    monkeypatch.setitem(sys.modules, "movierec.splits", fake)
    enc = _Encoders(ratings)
    splits_seen = []

    def make_scorer(split):
        splits_seen.append(split)
        return popularity_scorer(enc.encode(split.train), len(enc.movies))

    everything = leave_last_n_evaluate(make_scorer, ratings, enc, n=2, k=5)
    assert splits_seen[0].name == "leave-last-2"
    assert everything["users_evaluated"] == ratings["user_id"].nunique()
    liked = leave_last_n_evaluate(make_scorer, ratings, enc, n=2, k=5, relevance_threshold=4.0)
    assert liked["users_evaluated"] < everything["users_evaluated"]


def test_leave_last_n_with_the_real_splits_module(ratings):
    """Popularity's leave-last-1 hit rate, against the same count done by hand: the most
    rated training movies the user has not rated (ties by lower index), top 5."""
    from movierec.encoding import Encoders
    from movierec.splits import leave_last_n

    enc = Encoders.fit(ratings)

    def make_scorer(split):
        return popularity_scorer(enc.encode(split.train), len(enc.movies))

    result = leave_last_n_evaluate(make_scorer, ratings, enc, n=1, k=5)
    split = leave_last_n(ratings, n=1)
    assert result["users_evaluated"] == len(split.test)
    train, test = enc.encode(split.train), enc.encode(split.test)
    counts = np.bincount(train[:, 1], minlength=len(enc.movies))
    hits = 0
    for user, movie in test:
        seen = set(train[train[:, 0] == user, 1].tolist())
        order = sorted((m for m in range(len(enc.movies)) if m not in seen),
                       key=lambda m: (-counts[m], m))
        hits += int(movie in order[:5])
    assert 0 < hits < len(test)  # neither trivially 0 nor 1 on this data
    assert result["hit_rate@5"] == pytest.approx(hits / len(test))
