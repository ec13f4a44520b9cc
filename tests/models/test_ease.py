"""``ease``: its closed form, its saved weights, its numpy scoring and its limits."""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest
from scipy.sparse import issparse

from movierec.errors import MovierecError
from movierec.models import build_model, model_class, model_spec
from movierec.models.ease import (
    MAX_ITEMS,
    EASEModel,
    ease_blocks,
    ease_weights,
    lowpass_weights,
    prune_columns,
)
from movierec.recommend.scorers import FactorScorer
from movierec.recommend.scoring import NumpyScorer, ScoringWeights
from movierec.training import TrainConfig
from movierec.training.core import fit

pytestmark = pytest.mark.backend

RANGE = (1.0, 5.0)


def _blocks(n_users: int = 40, n_movies: int = 30, seed: int = 0):
    """Two taste blocks: even users watch mostly even movies and like them (4 or 5), odd
    users odd ones; each user rated a random 60% of their block (so some are left to rank)
    and 10% of the other block, which they disliked (1 or 2)."""
    rng = np.random.default_rng(seed)
    pairs, ratings = [], []
    for user in range(n_users):
        for movie in range(n_movies):
            inside = user % 2 == movie % 2
            if rng.random() < (0.6 if inside else 0.1):
                pairs.append((user, movie))
                ratings.append(rng.choice([4.0, 5.0]) if inside else rng.choice([1.0, 2.0]))
    return np.array(pairs, dtype=np.int32), np.array(ratings, dtype=np.float32)


def _direct_ease(w: np.ndarray, lam: float, popularity: np.ndarray, p: float) -> np.ndarray:
    """EASE as the paper writes it: invert the movies-sized Gram matrix."""
    inverse = np.linalg.inv(w.T @ w + lam * np.eye(w.shape[1]))
    b = np.eye(w.shape[1]) - inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(b, 0.0)
    return b * ((popularity + 1.0) ** -p)[None, :]


def _fitted(**kwargs) -> tuple[EASEModel, np.ndarray, np.ndarray]:
    pairs, ratings = _blocks()
    kwargs.setdefault("lam", 5.0)  # 40 users: latest-small's 100 would swamp the counts
    model = model_class("ease")(40, 30, rating_range=RANGE, **kwargs)
    model.build((None, 2))
    model.fit_closed_form(pairs, ratings)
    return model, pairs, ratings


def test_spec_is_a_closed_form_ranking_model():
    spec = model_spec("ease")
    assert spec.trainer == "closed-form" and spec.group == "ranking"
    assert spec.scoring == "factors"


@pytest.mark.parametrize("shape", [(40, 30), (20, 30)])  # Woodbury path and direct path
def test_closed_form_matches_direct_numpy(shape):
    rng = np.random.default_rng(1)
    w = (rng.random(shape) < 0.3) * rng.choice([1.0, 0.3], size=shape)
    popularity = rng.integers(0, 20, shape[1]).astype(float)
    expected = _direct_ease(w, 7.0, popularity, 0.2)
    np.testing.assert_allclose(ease_weights(w, 7.0, popularity, 0.2), expected, atol=1e-5)
    assert np.all(np.diag(ease_weights(w, 7.0)) == 0.0)


def _direct_lowpass(w: np.ndarray, k: int) -> np.ndarray:
    """GF-CF's ideal low-pass filter from a full SVD, as the paper writes it."""
    user_degree = np.maximum((w != 0).sum(1), 1)
    movie_degree = np.maximum((w != 0).sum(0), 1)
    normalized = w / np.sqrt(user_degree)[:, None] / np.sqrt(movie_degree)[None, :]
    v = np.linalg.svd(normalized)[2][:k].T
    return np.diag(movie_degree ** -0.5) @ v @ v.T @ np.diag(movie_degree ** 0.5)


@pytest.mark.parametrize("shape", [(40, 30), (20, 30)])  # movies' Gram, users' Gram
def test_lowpass_weights_match_a_full_svd(shape):
    rng = np.random.default_rng(2)
    w = (rng.random(shape) < 0.3) * rng.choice([1.0, 0.3], size=shape)
    w[:, 3] = 0.0  # a movie nobody rated stays zero
    for k in (1, 5):
        low = lowpass_weights(w, k)
        assert low.dtype == np.float32
        np.testing.assert_allclose(low, _direct_lowpass(w, k), atol=1e-5)
        assert np.abs(low[:, 3]).max() < 1e-6 and np.abs(low[3]).max() < 1e-6
    # k beyond the rank keeps only the non-zero singular directions
    rank = np.linalg.matrix_rank(w)
    np.testing.assert_allclose(lowpass_weights(w, 100), _direct_lowpass(w, rank), atol=1e-5)


def test_lowpass_term_is_added_at_ease_scale_before_the_popularity_scaling():
    rng = np.random.default_rng(3)
    w = (rng.random((40, 30)) < 0.3) * rng.choice([1.0, 0.3], size=(40, 30))
    popularity = rng.integers(0, 20, 30).astype(float)
    b, low = _direct_ease(w, 7.0, popularity, 0.0), _direct_lowpass(w, 4)
    combined = b + 0.35 * np.linalg.norm(w @ b) / np.linalg.norm(w @ low) * low
    expected = combined * ((popularity + 1.0) ** -0.2)[None, :]
    got = ease_weights(w, 7.0, popularity, 0.2, lowpass_weight=0.35, lowpass_factors=4)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # the low-pass part has a diagonal (EASE's own stays zero)
    assert np.abs(np.diag(got)).max() > 0
    np.testing.assert_array_equal(ease_weights(w, 7.0, lowpass_weight=0.0),
                                  ease_weights(w, 7.0))


def test_lowpass_settings_are_checked():
    w = np.eye(4)
    with pytest.raises(MovierecError, match="lowpass_weight"):
        ease_weights(w, 1.0, lowpass_weight=-0.1)
    with pytest.raises(MovierecError, match="lowpass_factors"):
        lowpass_weights(w, 0)
    with pytest.raises(ValueError, match="lowpass"):
        model_class("ease")(4, 4, lowpass_factors=0)
    with pytest.raises(MovierecError, match="lowpass-weight"):
        TrainConfig(model="ease", lowpass_weight=-1.0)
    with pytest.raises(MovierecError, match="lowpass-factors"):
        TrainConfig(model="ease", lowpass_factors=0)


def test_model_with_a_lowpass_term_saves_ranks_and_folds_in(tmp_path):
    model, pairs, _ = _fitted(lowpass_weight=0.5, lowpass_factors=2)
    plain, _, _ = _fitted()
    b = keras.ops.convert_to_numpy(model.item_weights)
    assert not np.allclose(b, keras.ops.convert_to_numpy(plain.item_weights))
    model.save(tmp_path / "ease.keras")
    again = keras.saving.load_model(tmp_path / "ease.keras", safe_mode=True)
    config = again.get_config()
    assert (config["lowpass_weight"], config["lowpass_factors"]) == (0.5, 2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again.item_weights), b)
    # two taste blocks: every user's best unrated movie is from their own block
    scores = NumpyScorer(ScoringWeights.from_model(again)).rows_of_users(np.arange(40))
    scores[pairs[:, 0], pairs[:, 1]] = -np.inf
    best = scores.argmax(axis=1)
    assert np.mean(best % 2 == np.arange(40) % 2) == 1.0
    # a new user who liked even movies gets an even one: the fold-in row times B
    row = model.fold_in(np.array([0, 2, 4]), np.array([5.0, 4.0, 5.0]))
    new = row @ b
    new[[0, 2, 4]] = -np.inf
    assert new.argmax() % 2 == 0


def test_side_rows_join_the_solve_but_not_the_lowpass_term():
    rng = np.random.default_rng(4)
    w = (rng.random((25, 30)) < 0.3) * rng.choice([1.0, 0.3], size=(25, 30))
    side = (rng.random((6, 30)) < 0.4).astype(float)
    stacked = np.vstack([w, side])
    b = _direct_ease(stacked, 7.0, np.zeros(30), 0.0)
    np.testing.assert_allclose(ease_weights(w, 7.0, side_rows=side), b, atol=1e-5)
    low = _direct_lowpass(w, 3)  # from the real users' rows only, scaled on them too
    expected = b + 0.4 * np.linalg.norm(w @ b) / np.linalg.norm(w @ low) * low
    np.testing.assert_allclose(
        ease_weights(w, 7.0, lowpass_weight=0.4, lowpass_factors=3, side_rows=side),
        expected, atol=1e-5)
    np.testing.assert_array_equal(ease_weights(w, 7.0, side_rows=side[:0]),
                                  ease_weights(w, 7.0))


def test_side_weight_makes_movies_sharing_a_feature_alike():
    """Movies 0 and 2 were never rated together; a shared genre row links them."""
    pairs = np.array([(u, m) for u in range(6) for m in ((0, 1) if u < 3 else (2, 3))],
                     dtype=np.int32)
    ratings = np.full(len(pairs), 5.0, np.float32)
    feature = np.zeros((1, 4), np.float32)
    feature[0, [0, 2]] = 1.0
    linked = model_class("ease")(6, 4, rating_range=RANGE, lam=1.0, popularity_exponent=0.0,
                                 side_weight=1.0)
    linked.build((None, 2))
    linked.fit_closed_form(pairs, ratings, feature)
    plain = model_class("ease")(6, 4, rating_range=RANGE, lam=1.0, popularity_exponent=0.0)
    plain.build((None, 2))
    plain.fit_closed_form(pairs, ratings, feature)  # side_weight 0: the features are unused
    b_linked = keras.ops.convert_to_numpy(linked.item_weights)
    b_plain = keras.ops.convert_to_numpy(plain.item_weights)
    assert b_plain[0, 2] == pytest.approx(0.0, abs=1e-6) and b_linked[0, 2] > 0.05
    # the real users stay W's rows: the side rows change B, not who is scored
    assert keras.ops.convert_to_numpy(linked.user_items).shape == (6, 4)
    assert linked.get_config()["side_weight"] == 1.0
    with pytest.raises(MovierecError, match="needs the movies' features"):
        linked.fit_closed_form(pairs, ratings)
    with pytest.raises(MovierecError, match=r"movie_features must be \(n_features, 4\)"):
        linked.fit_closed_form(pairs, ratings, np.ones((2, 3), np.float32))


def _two_groups():
    """Users 0-2 (group A) rated movies 0, 1 and 4; users 3-5 (group B) 2, 3 and 4; user 6,
    of group A, only movie 4, which says nothing about which pair they will like."""
    pairs = [(u, m) for u in range(6) for m in ((0, 1, 4) if u < 3 else (2, 3, 4))]
    pairs = np.array([*pairs, (6, 4)], dtype=np.int32)
    groups = np.zeros((7, 2), np.float32)
    groups[[0, 1, 2, 6], 0] = 1.0
    groups[[3, 4, 5], 1] = 1.0
    return pairs, np.full(len(pairs), 5.0, np.float32), groups


def test_user_weight_ranks_by_what_users_alike_in_age_gender_occupation_liked(tmp_path):
    pairs, ratings, groups = _two_groups()
    plain = model_class("ease")(7, 5, rating_range=RANGE, lam=1.0, popularity_exponent=0.0)
    plain.fit_closed_form(pairs, ratings)
    flat = NumpyScorer(ScoringWeights.from_model(plain)).rows_of_users(np.array([6]))[0]
    assert flat[:4] == pytest.approx(np.full(4, flat[0]), abs=1e-5)  # a tie without them
    model = model_class("ease")(7, 5, rating_range=RANGE, lam=1.0, popularity_exponent=0.0,
                                user_weight=0.5)
    model.fit_closed_form(pairs, ratings, user_features=groups)  # unbuilt: takes their count
    assert model.n_user_features == 2
    w = keras.ops.convert_to_numpy(model.user_items)
    b = keras.ops.convert_to_numpy(model.item_weights)
    assert w.shape == (7, 5 + 2) and b.shape == (5 + 2, 5)
    np.testing.assert_array_equal(w[:, 5:], 0.5 * groups)  # kept as W's last columns
    scores = NumpyScorer(ScoringWeights.from_model(model)).rows_of_users(np.arange(7))
    np.testing.assert_allclose(scores, w @ b, atol=1e-5)
    every = np.array([(u, i) for u in range(7) for i in range(5)], dtype=np.int32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(every))[:, 0],
                               (w @ b).reshape(-1), atol=1e-5)
    assert min(scores[6, 0], scores[6, 1]) > max(scores[6, 2], scores[6, 3]) + 0.01
    # saved and reloaded safely, with the feature count; similar movies use W's movies only
    model.save(tmp_path / "ease.keras")
    again = keras.saving.load_model(tmp_path / "ease.keras", safe_mode=True)
    assert (again.get_config()["user_weight"], again.get_config()["n_user_features"]) \
        == (0.5, 2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again.item_weights), b)
    tables = again.scoring_tables()
    assert tables["similarity_vectors"].shape == (5, 7)
    # a new user has no demographics on record: their feature columns are 0
    row = tables["fold_in"](np.array([0]), np.array([5.0]))
    assert row.shape == (7,) and not row[5:].any() and row[0] == 1.0


def test_user_weight_needs_the_users_features_in_the_built_shape():
    pairs, ratings, groups = _two_groups()
    model = model_class("ease")(7, 5, rating_range=RANGE, lam=1.0, user_weight=0.5,
                                n_user_features=3)
    model.build((None, 2))
    with pytest.raises(MovierecError, match="needs the users' age, gender and occupation"):
        model.fit_closed_form(pairs, ratings)
    with pytest.raises(MovierecError, match="built for 3 user features, got 2"):
        model.fit_closed_form(pairs, ratings, user_features=groups)
    with pytest.raises(MovierecError, match=r"user_features must be \(7, n_features\)"):
        model.fit_closed_form(pairs, ratings, user_features=groups[:5])
    with pytest.raises(ValueError, match="must not be negative"):
        model_class("ease")(7, 5, user_weight=-1.0)


def test_model_weights_are_the_recipe():
    model, pairs, ratings = _fitted(lam=5.0, negative_weight=0.3, popularity_exponent=0.2)
    w = np.zeros((40, 30))
    w[pairs[:, 0], pairs[:, 1]] = np.where(ratings >= 4.0, 1.0, 0.3)
    b = _direct_ease(w, 5.0, np.bincount(pairs[:, 1], minlength=30).astype(float), 0.2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.user_items), w, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.item_weights), b, atol=1e-5)
    assert np.all(np.diag(keras.ops.convert_to_numpy(model.item_weights)) == 0.0)
    every = np.array([(u, i) for u in range(40) for i in range(30)], dtype=np.int32)
    raw = keras.ops.convert_to_numpy(model(every))
    assert raw.shape == (len(every), 1)
    np.testing.assert_allclose(raw[:, 0], (w @ b).reshape(-1), atol=1e-4)


def test_numpy_scorer_equals_the_model():
    model, _, _ = _fitted()
    scorer = NumpyScorer(ScoringWeights.from_model(model))
    users = np.arange(40)
    every = np.array([(u, i) for u in users for i in range(30)], dtype=np.int32)
    raw = keras.ops.convert_to_numpy(model(every))[:, 0].reshape(40, 30)
    np.testing.assert_allclose(scorer.rows_of_users(users), raw, atol=1e-4)
    np.testing.assert_allclose(scorer.pairs_of_users(every[:, 0], every[:, 1]),
                               raw.reshape(-1), atol=1e-4)


def test_save_and_reload_safe_mode(tmp_path):
    model, pairs, _ = _fitted(lam=20.0, negative_weight=0.5, positive=3.5,
                              popularity_exponent=0.1)
    model.save(tmp_path / "ease.keras")
    again = keras.saving.load_model(tmp_path / "ease.keras", safe_mode=True)
    assert isinstance(again, EASEModel)
    assert again.get_config() == model.get_config()
    config = again.get_config()
    assert (config["lam"], config["negative_weight"], config["positive"],
            config["popularity_exponent"]) == (20.0, 0.5, 3.5, 0.1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(pairs)),
                                  keras.ops.convert_to_numpy(model(pairs)))


def test_refuses_a_catalogue_too_large_for_a_dense_matrix():
    with pytest.raises(MovierecError, match=r"30,001 x 30,001.*GiB.*factor model"):
        build_model("ease", 5, MAX_ITEMS + 1)


def test_ranks_held_out_in_block_movies_first():
    model, pairs, _ = _fitted(lam=20.0)
    scorer = NumpyScorer(ScoringWeights.from_model(model))
    scores = scorer.rows_of_users(np.arange(40))
    rated = np.zeros((40, 30), dtype=bool)
    rated[pairs[:, 0], pairs[:, 1]] = True
    for user in range(40):
        unrated = np.flatnonzero(~rated[user])
        inside = [m for m in unrated if m % 2 == user % 2]
        outside = [m for m in unrated if m % 2 != user % 2]
        if inside and outside:
            assert scores[user, inside].min() > scores[user, outside].max(), user


def test_closed_form_trainer_reports_ranking_metrics():
    pairs, ratings = _blocks()
    rng = np.random.default_rng(3)
    held = rng.random(len(pairs)) < 0.2
    result = fit(TrainConfig(model="ease", lam=20.0), pairs[~held], ratings[~held],
                 pairs[held], ratings[held], n_users=40, n_movies=30, rating_range=RANGE)
    m = result.metrics
    assert m["ranking_model"] and "rmse" not in m
    assert m["n_train"] == int((~held).sum()) and m["parameters"] == 40 * 30 + 30 * 30
    # The held-out liked movies are among ~15 unrated in-block ones, all ranked first.
    assert m["val_ndcg_at_10"] > 0.5 and m["val_recall_at_10"] > 0.7
    assert result.model.lam == 20.0


def test_train_config_loads_old_runs_and_keeps_ease_settings():
    old = TrainConfig.from_dict({"model": "dot-bias", "epochs": 3, "gone": 1})
    assert old.lam == 100.0 and old.negative_weight == 0.3
    config = TrainConfig(model="ease", lam=50.0, popularity_exponent=0.0)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(MovierecError, match="lam"):
        TrainConfig(model="ease", lam=0.0)


# -- B pruned to its top k per column ----------------------------------------------------------


def test_prune_columns_keeps_each_columns_largest_magnitudes_in_row_order():
    rng = np.random.default_rng(5)
    weights = rng.normal(size=(50, 23)).astype(np.float32)
    values, rows = prune_columns(weights, 7, block=4)  # blocks that do not divide 23
    assert values.shape == rows.shape == (7, 23) and rows.dtype == np.int32
    for column in range(23):
        expected = np.sort(np.argsort(-np.abs(weights[:, column]))[:7])
        np.testing.assert_array_equal(rows[:, column], expected)
        np.testing.assert_array_equal(values[:, column], weights[expected, column])
    with pytest.raises(MovierecError, match="k must be in"):
        prune_columns(weights, 51)


def test_pruned_model_scores_its_kept_weights_everywhere(tmp_path):
    dense, pairs, _ = _fitted()
    model, _, _ = _fitted(weights_per_column=6)
    assert model.pruned and not dense.pruned
    b = keras.ops.convert_to_numpy(dense.item_weights)
    values, rows = prune_columns(b, 6)
    kept = np.zeros_like(b)  # kept as float16, as W is: half the bytes
    np.put_along_axis(kept, rows, values.astype(np.float16).astype(np.float32), axis=0)
    assert model.item_weights.dtype == model.user_items.dtype == "float16"
    assert model.item_rows.dtype == "int16"
    w = keras.ops.convert_to_numpy(model.user_items).astype(np.float32)
    np.testing.assert_allclose(w, keras.ops.convert_to_numpy(dense.user_items), atol=1e-3)
    every = np.array([(u, i) for u in range(40) for i in range(30)], dtype=np.int32)
    expected = (w @ kept).reshape(40, 30)
    assert np.abs(expected - (w @ b).reshape(40, 30)).max() > 1e-3  # pruning changed scores
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(every))[:, 0].reshape(40, 30),
                               expected, atol=1e-5)
    weights = ScoringWeights.from_model(model)
    assert issparse(weights.movie_vectors) and weights.movie_vectors.nnz == 6 * 30
    assert issparse(weights.user_vectors) and issparse(weights.similarity_vectors)
    scorer = NumpyScorer(weights)
    # one copy of B's kept entries: the scorer's B is a view of the weights' B^T
    assert np.shares_memory(scorer.movie_t.data, weights.movie_vectors.data)
    assert np.shares_memory(scorer.movie_t.indices, weights.movie_vectors.indices)
    np.testing.assert_allclose(scorer.rows_of_users(np.arange(40)), expected, atol=1e-5)
    np.testing.assert_allclose(scorer.pairs_of_users(every[:, 0], every[:, 1]),
                               expected.reshape(-1), atol=1e-5)
    new_user = model.fold_in(np.array([0, 2, 4]), np.array([5.0, 4.0, 1.0]))
    np.testing.assert_allclose(scorer.raw_rows(new_user[None, :], np.zeros(1, np.float32))[0],
                               new_user @ kept, atol=1e-5)
    model.save(tmp_path / "pruned.keras")
    again = keras.saving.load_model(tmp_path / "pruned.keras", safe_mode=True)
    assert again.pruned and again.get_config()["weights_per_column"] == 6
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(pairs)),
                                  keras.ops.convert_to_numpy(model(pairs)))
    # The closed-form trainer ranks the pruned model too.
    assert model.count_params() < dense.count_params()


def test_weights_per_column_as_large_as_b_keeps_it_dense():
    model, _, _ = _fitted(weights_per_column=30)
    assert not model.pruned
    assert keras.ops.convert_to_numpy(model.item_weights).shape == (30, 30)
    with pytest.raises(ValueError, match="weights_per_column"):
        model_class("ease")(5, 5, weights_per_column=-1)


def test_dense_runs_of_the_previous_release_still_load_and_score(tmp_path):
    """A model.keras written before pruning existed: no weights_per_column in its config
    and a dense item_weights. It loads dense and scores as saved."""
    model, pairs, _ = _fitted()
    path = tmp_path / "old.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    del config["config"]["weights_per_column"]
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    again = keras.saving.load_model(path, safe_mode=True)
    assert not again.pruned and again.weights_per_column == 0
    weights = ScoringWeights.from_model(again)
    assert not issparse(weights.movie_vectors) and issparse(weights.user_vectors)
    w = keras.ops.convert_to_numpy(model.user_items).astype(np.float32)
    b = keras.ops.convert_to_numpy(model.item_weights)
    scorer = NumpyScorer(weights)  # W's sparse rows against the dense B
    np.testing.assert_allclose(scorer.rows_of_users(np.arange(40)), w @ b, atol=1e-5)
    np.testing.assert_allclose(scorer.pairs_of_users(pairs[:, 0], pairs[:, 1]),
                               (w @ b)[pairs[:, 0], pairs[:, 1]], atol=1e-5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(pairs)),
                                  keras.ops.convert_to_numpy(model(pairs)))
    # and its config.json's train section, without the field, reads as dense
    assert TrainConfig.from_dict({"model": "ease"}).weights_per_column == 0


def test_closed_form_trainer_prunes_as_configured():
    pairs, ratings = _blocks()
    held = np.random.default_rng(3).random(len(pairs)) < 0.2
    result = fit(TrainConfig(model="ease", lam=20.0, weights_per_column=8), pairs[~held],
                 ratings[~held], pairs[held], ratings[held], n_users=40, n_movies=30,
                 rating_range=RANGE)
    assert result.model.pruned and result.model.weights_per_column == 8
    assert result.metrics["parameters"] == 40 * 30 + 2 * 8 * 30
    assert result.metrics["val_ndcg_at_10"] > 0.5
    with pytest.raises(MovierecError, match="weights-per-column"):
        TrainConfig(model="ease", weights_per_column=-1)


@pytest.mark.parametrize("shape", [(40, 30), (20, 30)])  # Woodbury path and direct path
def test_blocks_of_columns_are_the_whole_solve(shape):
    """ease_blocks (what a pruned fit uses: no movies x movies matrix) gives ease_weights'
    B, low-pass term, side rows and popularity scaling included, in any block size."""
    rng = np.random.default_rng(2)
    w = (rng.random(shape) < 0.3) * rng.choice([1.0, 0.3], size=shape)
    side = rng.random((6, shape[1])) < 0.2
    popularity = np.count_nonzero(w, axis=0).astype(float)
    options = {"lowpass_weight": 0.4, "lowpass_factors": 4, "side_rows": side}
    whole = ease_weights(w, 7.0, popularity, 0.2, **options)
    parts = list(ease_blocks(w, 7.0, popularity, 0.2, columns=23, block=7, **options))
    assert [(p.start, p.stop) for p, _ in parts] == [(0, 7), (7, 14), (14, 21), (21, 23)]
    np.testing.assert_allclose(np.hstack([b for _, b in parts]), whole[:, :23], atol=1e-6)


def test_similar_movies_of_the_sparse_w_are_the_cosines_of_its_columns():
    """ease keeps W (and so its movie columns) sparse; the cosines are those of the dense
    columns."""
    model, _, _ = _fitted(weights_per_column=6)
    weights = ScoringWeights.from_model(model)
    scorer = FactorScorer(weights, np.arange(40))
    columns = keras.ops.convert_to_numpy(model.user_items).astype(np.float64).T
    norms = np.linalg.norm(columns, axis=1)
    unit = columns / np.where(norms > 0, norms, 1.0)[:, None]
    assert issparse(scorer.movie_unit())
    for movie in (0, 7, 29):
        np.testing.assert_allclose(scorer.similarities(movie), unit @ unit[movie], atol=1e-6)
