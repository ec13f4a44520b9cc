"""``ials``: its least-squares solves, its saved factors, its numpy scoring and fold-in."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import (
    assert_top_unrated_in_own_cluster,
    popularity_val_ndcg,
    synthetic_pair_split,
    synthetic_ratings,
)

from movierec.models import model_class, model_spec
from movierec.models.ials import ImplicitALSModel, als_solve, implicit_targets
from movierec.recommend.scoring import NumpyScorer, ScoringWeights
from movierec.training import TrainConfig
from movierec.training.core import fit

# Rerun on PyTorch and TensorFlow by scripts/test.sh: the model must be backend-agnostic.
pytestmark = pytest.mark.backend

RANGE = (0.5, 5.0)


def _data():
    ratings = synthetic_ratings()
    pairs = np.stack([ratings["user_id"] - 1, ratings["movie_id"] - 1], axis=1).astype(np.int32)
    return pairs, ratings["rating"].to_numpy(np.float32), 60, 40


def _fitted(seed: int = 0, **kwargs) -> tuple[ImplicitALSModel, np.ndarray, np.ndarray]:
    pairs, ratings, n_users, n_movies = _data()
    kwargs = {"factors": 8, "reg": 10.0, "alpha": 4.0, "iterations": 8, **kwargs}
    model = model_class("ials")(n_users, n_movies, rating_range=RANGE, seed=seed, **kwargs)
    model.build((None, 2))
    model.fit_closed_form(pairs, ratings)
    return model, pairs, ratings


def _dense_solve(fixed, rows, columns, ratings, n_rows, reg, alpha, negative_weight):
    """The same solves written out with dense confidence and preference matrices."""
    c = np.ones((n_rows, len(fixed)))
    p = np.zeros((n_rows, len(fixed)))
    value = np.where(ratings >= 4.0, 1.0, negative_weight)
    c[rows, columns] = 1.0 + alpha * value
    p[rows, columns] = value
    out = []
    for r in range(n_rows):
        a = fixed.T @ (c[r][:, None] * fixed) + reg * np.eye(fixed.shape[1])
        out.append(np.linalg.solve(a, fixed.T @ (c[r] * p[r])))
    return np.array(out)


def test_spec_is_a_ranking_model_trained_by_als():
    spec = model_spec("ials")
    assert spec.trainer == "als" and spec.group == "ranking" and spec.scoring == "factors"
    assert not spec.predicts_ratings


def test_solve_matches_the_dense_normal_equations():
    rng = np.random.default_rng(2)
    fixed = rng.normal(size=(12, 4))
    rows = np.array([0, 0, 1, 3, 3, 3])
    columns = np.array([1, 5, 5, 0, 2, 11])
    ratings = np.array([5.0, 2.0, 4.0, 1.0, 4.5, 3.0])
    extra, weighted = implicit_targets(ratings, 3.0, 0.3, 4.0)
    indptr = np.array([0, 2, 3, 3, 6])  # row 2 has no ratings
    got = als_solve(fixed, indptr, columns, extra, weighted, reg=0.5)
    expected = _dense_solve(fixed, rows, columns, ratings, 4, 0.5, 3.0, 0.3)
    np.testing.assert_allclose(got, expected, atol=1e-10)
    assert np.all(got[2] == 0.0)


def test_ranks_the_users_own_cluster_first():
    model, pairs, _ = _fitted()
    scores = NumpyScorer(ScoringWeights.from_model(model)).rows_of_users(np.arange(60))
    assert_top_unrated_in_own_cluster(scores, pairs)


def test_numpy_scorer_equals_the_model():
    model, _, _ = _fitted()
    every = np.array([(u, i) for u in range(60) for i in range(40)], dtype=np.int32)
    raw = keras.ops.convert_to_numpy(model(every))[:, 0].reshape(60, 40)
    scorer = NumpyScorer(ScoringWeights.from_model(model))
    np.testing.assert_allclose(scorer.rows_of_users(np.arange(60)), raw, atol=1e-4)


def test_same_seed_same_factors_other_seed_other():
    first, _, _ = _fitted(seed=3)
    again, _, _ = _fitted(seed=3)
    other, _, _ = _fitted(seed=4)
    tables = [ScoringWeights.from_model(m).movie_vectors for m in (first, again, other)]
    np.testing.assert_array_equal(tables[0], tables[1])
    assert not np.allclose(tables[0], tables[2])


def test_save_and_reload_safe_mode(tmp_path):
    model, pairs, _ = _fitted(reg=2.0, alpha=3.0, negative_weight=0.1, positive=3.5)
    model.save(tmp_path / "ials.keras")
    again = keras.saving.load_model(tmp_path / "ials.keras", safe_mode=True)
    assert isinstance(again, ImplicitALSModel)
    assert again.get_config() == model.get_config()
    config = again.get_config()
    assert (config["reg"], config["alpha"], config["negative_weight"], config["positive"],
            config["iterations"]) == (2.0, 3.0, 0.1, 3.5, 8)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(pairs)),
                                  keras.ops.convert_to_numpy(model(pairs)))


def test_fold_in_is_the_training_solve_and_ranks_the_cluster():
    model, pairs, ratings = _fitted()
    # A user the model knows, folded in again from their ratings: the last sweep's user
    # solve (each sweep ends with the users, against the final movie factors).
    user = 7
    mine = pairs[:, 0] == user
    vector = model.fold_in(pairs[mine, 1], ratings[mine])
    known = ScoringWeights.from_model(model).user_vectors[user]
    np.testing.assert_allclose(vector, known, rtol=1e-4, atol=1e-6)
    # A new even user who liked three even movies and disliked an odd one.
    new = model.fold_in(np.array([0, 2, 4, 1]), np.array([5.0, 4.5, 4.0, 1.0]))
    scores = ScoringWeights.from_model(model).movie_vectors @ new
    scores[[0, 2, 4, 1]] = -np.inf
    assert np.all(np.argsort(-scores)[:5] % 2 == 0)


def test_trainer_reports_ranking_metrics():
    train_pairs, train_ratings, val_pairs, val_ratings, n_users, n_movies = synthetic_pair_split()
    config = TrainConfig(model="ials", factors=8, epochs=6, reg=1.0, alpha=4.0)
    result = fit(config, train_pairs, train_ratings, val_pairs, val_ratings,
                 n_users=n_users, n_movies=n_movies, rating_range=RANGE)
    m = result.metrics
    assert m["ranking_model"] and "rmse" not in m and result.history == []
    assert m["parameters"] == (n_users + n_movies) * 8 and m["epochs_run"] == 6
    popularity = popularity_val_ndcg(train_pairs, val_pairs, val_ratings, n_users, n_movies)
    assert m["val_ndcg_at_10"] > 1.4 * popularity  # the clusters, not just the hits
    assert (result.model.reg, result.model.alpha, result.model.iterations) == (1.0, 4.0, 6)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="reg"):
        ImplicitALSModel(3, 4, reg=0.0)
    with pytest.raises(ValueError, match="iterations"):
        ImplicitALSModel(3, 4, iterations=0)


def test_scales_past_ease_catalogue_limit():
    """No movies x movies matrix: a catalogue beyond ease's MAX_ITEMS fits in a moment."""
    from movierec.models.ease import MAX_ITEMS

    rng = np.random.default_rng(0)
    n_users, n_movies = 50, MAX_ITEMS + 10_000
    pairs = np.stack([rng.integers(0, n_users, 2000), rng.integers(0, n_movies, 2000)],
                     axis=1).astype(np.int32)
    ratings = rng.choice([1.0, 3.0, 4.0, 5.0], size=2000)
    model = ImplicitALSModel(n_users, n_movies, factors=4, iterations=2, seed=0)
    model.fit_closed_form(pairs, ratings)
    weights = ScoringWeights.from_model(model)
    assert weights.movie_vectors.shape == (n_movies, 4)
    assert np.all(np.isfinite(weights.user_vectors)) and np.any(weights.movie_vectors)
