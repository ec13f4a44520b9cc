"""Recommender: numpy scoring equals the Keras models, top-K, exclusions, cold start."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from helpers import synthetic_ratings

from movierec.data import Dataset
from movierec.encoding import Encoders, IdEncoder
from movierec.errors import MovierecError, UnknownIdError
from movierec.evaluation import (
    baseline_ranking_reports,
    holdout_split,
    leave_last_of_split,
    ranking_report,
)
from movierec.models import BlendModel, build_model, predict_ratings
from movierec.recommend import Recommender, ScoringWeights
from movierec.runs import load_run, save_run
from movierec.splits import random_split
from movierec.topk import top_k_rows as _top_k_rows
from movierec.training import EncodedSplit, TrainConfig

SCORABLE = ("dot", "dot-bias", "mlp", "recommender-net", "autorec", "u-autorec", "svdpp",
            "blend")
N_USERS, N_MOVIES = 60, 40


def _movies(n: int = N_MOVIES) -> pd.DataFrame:
    ids = np.arange(1, n + 1)
    return pd.DataFrame({
        "movie_id": ids,
        "title": [f"Movie {i} ({1950 + i})" for i in ids],
        "year": pd.array(1950 + ids, dtype="Int64"),
        "genres": ["Even" if i % 2 == 0 else "Odd" for i in ids],
    })


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset("synthetic", synthetic_ratings(), _movies(), (1.0, 5.0))


@pytest.fixture(scope="module")
def encoded(dataset: Dataset) -> EncodedSplit:
    return EncodedSplit.from_dataset(dataset, random_split(dataset.ratings, 0.1, seed=0))


_SMALL = {"epochs": 20, "batch_size": 32, "learning_rate": 0.01, "factors": 8}
# AutoRec trains on one example per movie, 2 steps per epoch here: more and larger steps.
_AUTOREC = {**_SMALL, "epochs": 100, "learning_rate": 0.1}


def _train(encoded: EncodedSplit, model: str):
    if model == "blend":
        members = ({"model": "dot-bias", **_SMALL}, {"model": "autorec", **_AUTOREC})
        config = TrainConfig(model=model, members=members)
    else:
        config = TrainConfig(model=model, **(_AUTOREC if model == "autorec" else _SMALL))
    return encoded.fit(config, verbose=0)


def _with_random_rating_matrices(model, rng: np.random.Generator):
    """Fill every AutoRec's stored rating matrix (a blend's members' too) with ratings on
    30 % of its cells, so that its codes differ from movie to movie; likewise SVD++'s
    matrix of who rated what, and its implicit factors (zero after a bare build)."""
    for part in (model, *getattr(model, "members", ())):
        if hasattr(part, "item_ratings"):
            shape = tuple(part.item_ratings.shape)
            ratings = rng.integers(1, 6, shape) * (rng.random(shape) < 0.3)
            part.item_ratings.assign(ratings.astype("float32"))
        if hasattr(part, "implicit"):
            shape = tuple(part.implicit.shape)
            rated = (rng.random(shape) < 0.3).astype("float32")
            part.implicit.assign(rated / np.sqrt(np.maximum(rated.sum(1, keepdims=True), 1)))
            part.implicit_factors.assign(
                rng.normal(0, 0.5, tuple(part.implicit_factors.shape)).astype("float32"))
    return model


@pytest.fixture(scope="module")
def trained(encoded: EncodedSplit, dataset: Dataset) -> dict[str, Recommender]:
    """Models trained on the two-cluster data (even users love even movies)."""
    return {
        name: Recommender.from_model(_train(encoded, name).model, encoded.encoders,
                                     encoded.split.train, dataset.movies)
        for name in ("dot-bias", "mlp", "autorec", "blend")
    }


@pytest.fixture(scope="module")
def run_dir(encoded: EncodedSplit, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory):
    result = encoded.fit(TrainConfig(model="dot-bias", epochs=2, batch_size=32, factors=4),
                         verbose=0)
    return save_run(tmp_path_factory.mktemp("runs") / "dot-bias", result, encoded, dataset)


@pytest.fixture
def rec(trained: dict[str, Recommender]) -> Recommender:
    return trained["dot-bias"]


def _even(ids) -> np.ndarray:
    return np.asarray(ids) % 2 == 0


# -- scoring from the weights equals the Keras models ---------------------------------------


@pytest.mark.parametrize("name", SCORABLE)
def test_numpy_scores_equal_model_predict(name: str, encoded: EncodedSplit) -> None:
    model = build_model(name, N_USERS, N_MOVIES, factors=6, rating_range=(1.0, 5.0), seed=3)
    # Scale the factor tables up so that the sigmoid models are far from their midpoint
    # and the dot model leaves the rating range (clipping is checked too).
    for layer in (model.user_embedding, model.movie_embedding):
        layer.set_weights([layer.get_weights()[0] * 4.0])
    rng = np.random.default_rng(0)
    _with_random_rating_matrices(model, rng)
    if name == "blend":
        model.blend_weights, model.intercept = [0.7, 0.45], -0.3
    _assert_numpy_equals_keras(model, encoded, rng)


def _assert_numpy_equals_keras(model, encoded: EncodedSplit, rng: np.random.Generator
                               ) -> Recommender:
    """The Recommender's pair predictions and full score rows equal ``predict_ratings``."""
    rec = Recommender.from_model(model, encoded.encoders, encoded.split.train)
    pairs = np.column_stack([rng.integers(0, N_USERS, 500),
                             rng.integers(0, N_MOVIES, 500)]).astype(np.int32)
    expected = predict_ratings(model, pairs)
    np.testing.assert_allclose(rec.predict_indices(pairs[:, 0], pairs[:, 1]), expected,
                               atol=1e-4)
    full = rec.score_users(np.arange(N_USERS))
    assert full.shape == (N_USERS, N_MOVIES)
    np.testing.assert_allclose(full[pairs[:, 0], pairs[:, 1]], expected, atol=1e-4)
    raw_ids = encoded.encoders.users.inverse(pairs[:, 0])
    movie_ids = encoded.encoders.movies.inverse(pairs[:, 1])
    np.testing.assert_allclose(rec.predict(raw_ids, movie_ids), expected, atol=1e-4)
    assert expected.min() >= 1.0 and expected.max() <= 5.0
    return rec


def test_numpy_scores_of_a_support_weighted_blend(encoded: EncodedSplit) -> None:
    """Each member's weight depends on the user's and the movie's support features."""
    members = [{"model": "dot-bias"}, {"model": "svdpp"}]
    model = BlendModel(N_USERS, N_MOVIES, factors=6, rating_range=(1.0, 5.0), seed=3,
                       members=members, blend_weights=[0.6, 0.5], intercept=-0.2,
                       support_weights=[[0.05, -0.1], [-0.03, 0.08]], support_bias=[0.1, -0.2])
    model.build((None, 2))
    rng = np.random.default_rng(1)
    _with_random_rating_matrices(model, rng)
    model.set_support(encoded.train_pairs)
    rec = _assert_numpy_equals_keras(model, encoded, rng)
    # A new user is folded into each member; f_u counts the ratings they gave.
    given, movies = {2: 5.0, 4: 4.0, 7: 1.0}, [1, 3, 5, 8]
    assert rec.fold_in(given).support == pytest.approx(np.log(1 + len(given)))
    f_u = np.log(1 + len(given))
    counts = np.bincount(encoded.train_pairs[:, 1], minlength=N_MOVIES)
    f_i = np.log1p(counts[encoded.encoders.movies.transform(movies)])
    by_hand = -0.2 + 0.1 * f_u - 0.2 * f_i
    for member, w, (w_u, w_i) in zip(model.members, model.blend_weights,
                                     model.support_weights, strict=True):
        alone = Recommender.from_model(member, encoded.encoders, encoded.split.train)
        by_hand = by_hand + (w + w_u * f_u + w_i * f_i) * alone.predict_new_user(given, movies)
    np.testing.assert_allclose(rec.predict_new_user(given, movies), np.clip(by_hand, 1, 5),
                               atol=1e-4)


def test_trained_models_match_too(trained: dict[str, Recommender], encoded) -> None:
    for rec in trained.values():
        assert rec.predict([2], [4]).shape == (1,)
    pairs = encoded.test_pairs
    for name, rec in trained.items():
        del name
        assert np.isfinite(rec.predict_indices(pairs[:, 0], pairs[:, 1])).all()


def test_as_published_model_is_refused(encoded: EncodedSplit) -> None:
    model = build_model("recommender-net-as-published", N_USERS, N_MOVIES, factors=4)
    with pytest.raises(MovierecError, match="sums over the whole batch"):
        Recommender.from_model(model, encoded.encoders, encoded.split.train)


def test_weights_must_match_encoders(encoded: EncodedSplit) -> None:
    model = build_model("dot", N_USERS + 1, N_MOVIES, factors=4)
    with pytest.raises(MovierecError, match="inconsistent"):
        Recommender.from_model(model, encoded.encoders, encoded.split.train)


# -- top-K ------------------------------------------------------------------------------------


def test_recommendations_follow_the_users_cluster(rec: Recommender) -> None:
    ids, ratings = rec.recommend([2, 4, 3, 5], k=5)
    assert ids.shape == ratings.shape == (4, 5)
    assert _even(ids[:2]).all() and not _even(ids[2:]).any()
    assert (ratings[:2] > 3.5).all()


def test_scores_sorted_and_k_respected(rec: Recommender) -> None:
    for k in (1, 3, 7):
        ids, ratings = rec.recommend(list(range(1, 11)), k=k)
        assert ids.shape == (10, k)
        assert (np.diff(ratings, axis=1) <= 0).all()
        assert all(len(set(row)) == k for row in ids.tolist())


def test_recommend_matches_brute_force_and_predict(rec: Recommender) -> None:
    users = np.arange(rec.n_users)
    ids, ratings = rec.recommend(rec.encoders.users.inverse(users), k=6)
    scores = rec.ranking_scores(users).copy()
    for row, user in enumerate(users):
        scores[row, rec.seen(user)] = -np.inf
    best = np.argsort(-scores, axis=1, kind="stable")[:, :6]
    np.testing.assert_array_equal(ids, rec.encoders.movies.inverse(best))
    user_ids = np.repeat(rec.encoders.users.inverse(users), 6)
    np.testing.assert_allclose(ratings.ravel(), rec.predict(user_ids, ids.ravel()), atol=1e-6)


def test_exclude_seen(rec: Recommender, encoded: EncodedSplit) -> None:
    train = encoded.split.train
    for user in (1, 2, 3):
        seen = set(train.loc[train["user_id"] == user, "movie_id"])
        ids, _ = rec.recommend([user], k=N_MOVIES - len(seen))
        assert not seen & set(ids[0].tolist())
        assert set(ids[0].tolist()) == set(range(1, N_MOVIES + 1)) - seen
        everything, _ = rec.recommend([user], k=N_MOVIES, exclude_seen=False)
        assert set(everything[0].tolist()) == set(range(1, N_MOVIES + 1))


def test_rows_without_enough_candidates_are_padded(rec: Recommender, encoded) -> None:
    train = encoded.split.train
    n_seen = int((train["user_id"] == 1).sum())
    ids, ratings = rec.recommend([1], k=N_MOVIES)
    unseen = N_MOVIES - n_seen
    assert (ids[0, unseen:] == -1).all() and np.isnan(ratings[0, unseen:]).all()
    assert (ids[0, :unseen] > 0).all() and np.isfinite(ratings[0, :unseen]).all()


def test_exclude(rec: Recommender) -> None:
    ids, _ = rec.recommend([2], k=5)
    excluded = ids[0, :2].tolist()
    again, _ = rec.recommend([2], k=5, exclude=[*excluded, 999_999])  # unknown ids ignored
    assert not set(excluded) & set(again[0].tolist())
    assert again[0, :3].tolist() == ids[0, 2:].tolist()


def test_chunking_does_not_change_results(rec: Recommender) -> None:
    users = rec.encoders.users.ids
    whole = rec.recommend(users, k=5)
    chunked = rec.recommend(users, k=5, chunk_size=7)
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_allclose(whole[1], chunked[1], atol=1e-5)  # BLAS blocking rounding


@pytest.mark.parametrize("name", ["dot-bias", "blend"])
def test_precomputed_scores_give_the_same_answers(name: str, trained, encoded) -> None:
    fresh = trained[name]
    table = Recommender(fresh.weights, fresh.encoders, encoded.split.train)
    assert not table.precompute_scores(max_cells=N_USERS * N_MOVIES - 1)
    assert table.precompute_scores(max_cells=N_USERS * N_MOVIES)
    users = fresh.encoders.users.ids
    for (ids, ratings), (ids2, ratings2) in [(fresh.recommend(users, k=5),
                                              table.recommend(users, k=5)),
                                             (fresh.recommend(users[:3], k=40),
                                              table.recommend(users[:3], k=40))]:
        np.testing.assert_array_equal(ids, ids2)
        np.testing.assert_allclose(ratings, ratings2, atol=1e-5)
    some = np.arange(0, N_USERS, 7)
    np.testing.assert_allclose(table.ranking_scores(some), fresh.ranking_scores(some),
                               atol=1e-5)


def test_user_ids_as_text_and_unknown_users(rec: Recommender) -> None:
    np.testing.assert_array_equal(rec.recommend(["2"], k=3)[0], rec.recommend([2], k=3)[0])
    assert rec.knows_user(2) and rec.knows_user("2") and not rec.knows_user(999)
    with pytest.raises(UnknownIdError, match="unknown user id 999"):
        rec.recommend([2, 999], k=3)
    with pytest.raises(MovierecError, match="k must be a positive integer"):
        rec.recommend([2], k=0)


@pytest.mark.parametrize("ties", [False, True])
def test_candidate_filter_equals_full_sort(ties: bool) -> None:
    """The grouped-threshold top-K (large catalogues) against a plain stable sort."""
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((13, 32 * 50)).astype(np.float32)
    if ties:
        scores = np.round(scores)  # many equal scores: lower index first
    scores[3, :] = np.float32(np.finfo(np.float32).min)
    scores[3, [5, 700]] = [1.0, 2.0]  # a row with only two candidates
    items, values = _top_k_rows(scores, 10)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    for row in range(13):
        if row == 3:
            assert items[row, :2].tolist() == [700, 5] and (items[row, 2:] == -1).all()
        else:
            np.testing.assert_array_equal(items[row], expected[row])
            np.testing.assert_array_equal(values[row], scores[row, expected[row]])


def test_synthetic_weights_large_catalogue() -> None:
    """A Recommender built from arrays alone (no Keras), as the benchmark does."""
    rng = np.random.default_rng(2)
    n_users, n_movies = 50, 3000
    weights = ScoringWeights(
        rng.standard_normal((n_users, 5)).astype(np.float32),
        rng.standard_normal((n_movies, 5)).astype(np.float32), (0.5, 5.0),
        user_bias=rng.standard_normal(n_users).astype(np.float32),
        movie_bias=rng.standard_normal(n_movies).astype(np.float32))
    train = pd.DataFrame({"user_id": [0, 0], "movie_id": [0, 1], "rating": [4.0, 3.0]})
    encoders = Encoders(IdEncoder.fit(np.arange(n_users)), IdEncoder.fit(np.arange(n_movies)))
    rec = Recommender(weights, encoders, train)
    items, ratings = rec.recommend_indices(np.arange(n_users), 10)
    logits = rec.ranking_scores(np.arange(n_users)).copy()
    logits[0, [0, 1]] = -np.inf
    np.testing.assert_array_equal(items, np.argsort(-logits, axis=1, kind="stable")[:, :10])
    assert (np.diff(ratings, axis=1) <= 0).all()


# -- other lists ------------------------------------------------------------------------------


def test_popular_prefers_many_good_ratings_over_one_perfect_one() -> None:
    weights = ScoringWeights(np.zeros((3, 2), np.float32), np.zeros((4, 2), np.float32),
                             (0.5, 5.0))
    rows = [(u, 1, 5.0) for u in range(1)]                 # movie 1: one 5-star rating
    rows += [(u % 3, 2, 4.5) for u in range(60)]           # movie 2: many 4.5s
    rows += [(u % 3, 3, 2.0) for u in range(60)]           # movie 3: many bad ratings
    rows += [(0, 4, 3.0)]
    train = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])
    rec = Recommender(weights, Encoders.fit(train), train)
    ids, scores = rec.popular(3)
    assert ids.tolist()[:2] == [2, 1]
    assert (np.diff(scores) <= 0).all()
    assert rec.popular(3, exclude=[2])[0].tolist()[0] == 1


def test_similar_movies(rec: Recommender) -> None:
    ids, cosine = rec.similar_movies(2, k=5)
    assert 2 not in ids.tolist()
    assert _even(ids).sum() >= 4
    assert (np.diff(cosine) <= 0).all() and (np.abs(cosine) <= 1.0 + 1e-6).all()
    counts = dict(zip(rec.encoders.movies.ids.tolist(), rec.movie_counts.tolist(), strict=True))
    threshold = sorted(counts.values())[len(counts) // 2]
    filtered, _ = rec.similar_movies(2, k=5, min_ratings=threshold)
    assert all(counts[movie] >= threshold for movie in filtered.tolist() if movie != -1)
    with pytest.raises(UnknownIdError, match="unknown movie id 999"):
        rec.similar_movies(999)


def test_user_top_rated(rec: Recommender, encoded: EncodedSplit) -> None:
    top = rec.user_top_rated(2, n=4)
    assert list(top.columns) == ["movie_id", "title", "year", "genres", "rating"]
    assert len(top) == 4 and (np.diff(top["rating"].to_numpy()) <= 0).all()
    train = encoded.split.train
    best = train.loc[train["user_id"] == 2, "rating"].max()
    assert top["rating"].iloc[0] == best
    assert top["title"].iloc[0] == f"Movie {top['movie_id'].iloc[0]} " \
        f"({1950 + top['movie_id'].iloc[0]})"
    with pytest.raises(UnknownIdError):
        rec.user_top_rated(12345)


# -- cold start -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dot-bias", "mlp", "autorec", "blend"])
def test_new_user_who_loves_even_movies_gets_even_movies(name: str, trained) -> None:
    rec = trained[name]
    loves_even = {2: 5.0, 4: 5.0, 6: 4.5, 1: 1.0, 3: 1.5}
    ids, ratings = rec.recommend_new_user(loves_even, k=5)
    assert _even(ids).all(), ids
    assert not set(loves_even) & set(ids.tolist())
    assert (np.diff(ratings) <= 0).all()
    loves_odd = {1: 5.0, 3: 5.0, 5: 4.5, 2: 1.0, 4: 1.0}
    odd_ids, _ = rec.recommend_new_user(loves_odd, k=5)
    assert not _even(odd_ids).any(), odd_ids
    predicted = rec.predict_new_user(loves_even, [8, 9])
    assert predicted[0] > predicted[1]


def test_new_user_exclude_and_errors(rec: Recommender) -> None:
    ids, _ = rec.recommend_new_user({2: 5.0}, k=3)
    again, _ = rec.recommend_new_user({2: 5.0}, k=3, exclude=[ids[0]])
    assert ids[0] not in again.tolist()
    with pytest.raises(MovierecError, match="at least one"):
        rec.recommend_new_user({})
    with pytest.raises(MovierecError, match="rating range"):
        rec.recommend_new_user({2: 9.0})
    with pytest.raises(UnknownIdError, match="unknown movie id 999"):
        rec.recommend_new_user({999: 4.0})


@pytest.mark.parametrize("name", ["dot", "dot-bias", "recommender-net", "autorec"])
def test_fold_in_recovers_a_user_the_model_could_have_learned(name: str, encoded) -> None:
    """Ratings generated by a known user vector (and bias) are fitted back exactly."""
    model = build_model(name, N_USERS, N_MOVIES, factors=4, rating_range=(1.0, 5.0), seed=0)
    rng = np.random.default_rng(5)
    model.movie_embedding.set_weights([rng.uniform(0.2, 1.0, (N_MOVIES, 4))])
    _with_random_rating_matrices(model, rng)  # AutoRec's movie vectors are codes of these
    rec = Recommender.from_model(model, encoded.encoders, encoded.split.train)
    movies = rec.weights.movie_vectors
    true_user = np.array([1.0, 0.8, -0.6, 0.5])
    raw = movies @ true_user
    true_bias = 0.3 if rec.weights.link == "sigmoid" else 2.0
    if rec.weights.user_bias is not None:
        raw = raw + true_bias + rec.weights.movie_bias
    if rec.weights.link == "sigmoid":
        truth = 1.0 + 4.0 / (1.0 + np.exp(-raw))
    elif rec.weights.user_bias is None:
        truth = raw + 2.0 - raw.mean()
        true_user = np.linalg.lstsq(movies, truth, rcond=None)[0]
        truth = movies @ true_user
    else:
        truth = raw
    assert truth.min() >= 1.0 and truth.max() <= 5.0
    rated = {movie: float(truth[movie - 1]) for movie in range(1, 31)}
    vector, bias = rec.fold_in(rated, reg=1e-6)
    np.testing.assert_allclose(vector, true_user, atol=1e-2)
    expected_bias = true_bias if rec.weights.user_bias is not None else 0.0
    assert bias == pytest.approx(expected_bias, abs=1e-2)
    unrated = list(range(31, N_MOVIES + 1))
    np.testing.assert_allclose(rec.predict_new_user(rated, unrated, reg=1e-6), truth[30:],
                               atol=1e-2)


# -- runs and ranking evaluation --------------------------------------------------------------


def test_from_run_equals_from_model(run_dir, encoded: EncodedSplit) -> None:
    run = load_run(run_dir)
    rec = Recommender.from_run(run)
    direct = Recommender.from_model(run.model, run.encoders, run.train_ratings, run.movies,
                                    held_out_ratings=run.test_ratings)
    np.testing.assert_array_equal(rec.recommend([5], k=4)[0], direct.recommend([5], k=4)[0])
    assert rec.model_name == "dot-bias"
    assert rec.catalog.resolve("Movie 7 (1957)") == 7


def test_holdout_split_recovers_the_runs_test_part(run_dir, dataset, encoded) -> None:
    run = load_run(run_dir)
    split = holdout_split(run, dataset)
    key = ["user_id", "movie_id"]
    expected = encoded.split.test[key].sort_values(key).to_numpy()
    np.testing.assert_array_equal(split.test[key].sort_values(key).to_numpy(), expected)
    other = Dataset("other", dataset.ratings.iloc[:100], dataset.movies, (1.0, 5.0))
    with pytest.raises(MovierecError, match="not in other"):
        holdout_split(run, other)


def test_holdout_split_uses_the_recorded_seed_when_there_is_one(run_dir, dataset) -> None:
    run = load_run(run_dir)
    run.info = dataclasses.replace(run.info, split_seed=0, test_size=0.1)
    assert holdout_split(run, dataset).test.index.equals(
        random_split(dataset.ratings, 0.1, seed=0).test.index)


def test_leave_last_of_split_keeps_each_users_latest(encoded: EncodedSplit) -> None:
    latest = leave_last_of_split(encoded.split).test
    assert latest["user_id"].is_unique
    expected = encoded.split.test.groupby("user_id")["timestamp"].max()
    assert (latest.set_index("user_id")["timestamp"].sort_index() == expected).all()


def test_ranking_report_beats_random(rec: Recommender, encoded: EncodedSplit) -> None:
    report = ranking_report(rec, encoded.split, k=5, threshold=4.0)
    for key in ("rmse", "mae", "precision@5", "recall@5", "ndcg@5", "map@5", "hit_rate@5",
                "mrr@5", "coverage@5", "novelty@5"):
        assert key in report and np.isfinite(report[key])
    baselines = baseline_ranking_reports(encoded.split, encoded.encoders, k=5, threshold=4.0)
    assert set(baselines) == {"popularity", "random"}
    assert report["ndcg@5"] > baselines["random"]["ndcg@5"]
    mean = float(encoded.train_ratings.mean())
    global_mean_rmse = float(np.sqrt(np.mean((encoded.test_ratings - mean) ** 2)))
    assert report["rmse"] < 0.8 * global_mean_rmse  # the clusters' ratings are learned
