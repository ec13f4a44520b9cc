"""``mult-dae``: its rows, its trainer, its saved weights, its numpy scoring and fold-in."""

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

from movierec.errors import MovierecError
from movierec.models import model_class, model_spec
from movierec.models.mult_dae import MAX_CELLS, MultDAEModel, encode_rows, input_rows
from movierec.recommend.scoring import NumpyScorer, ScoringWeights
from movierec.training import TrainConfig
from movierec.training.core import fit

# Rerun on PyTorch and TensorFlow by scripts/test.sh: the model must be backend-agnostic.
pytestmark = pytest.mark.backend

RANGE = (0.5, 5.0)
# negative_weight 0: a disliked movie is not in the row. (With 0.3 the synthetic users, who
# rate as many movies of the other cluster as of their own, keep some weight on it, and a
# few other-cluster movies reach some users' top 5.)
CONFIG = {"model": "mult-dae", "factors": 16, "epochs": 25, "batch_size": 16,
          "learning_rate": 1e-2, "dropout": 0.5, "l2": 1e-4, "negative_weight": 0.0}


def _data():
    ratings = synthetic_ratings()
    pairs = np.stack([ratings["user_id"] - 1, ratings["movie_id"] - 1], axis=1).astype(np.int32)
    return pairs, ratings["rating"].to_numpy(np.float32), 60, 40


@pytest.fixture(scope="module")
def trained():
    """Trained on every synthetic rating (no validation part); the tests that train are
    marked slow (a Keras fit with its compile takes seconds)."""
    pairs, ratings, n_users, n_movies = _data()
    empty = np.zeros((0, 2), np.int32)
    result = fit(TrainConfig(**CONFIG, seed=3), pairs, ratings, empty, np.zeros(0, np.float32),
                 n_users=n_users, n_movies=n_movies, rating_range=RANGE, verbose=0)
    return result, pairs, ratings


def test_spec_is_a_ranking_model_with_its_own_trainer():
    spec = model_spec("mult-dae")
    assert spec.trainer == "autoencoder" and spec.group == "ranking"
    assert spec.scoring == "factors" and not spec.predicts_ratings


def test_input_rows_weigh_liked_and_disliked_movies():
    rows = input_rows(np.array([0, 0, 1]), np.array([2, 0, 1]), np.array([4.0, 2.0, 5.0]),
                      2, 3, negative_weight=0.3, positive=4.0)
    np.testing.assert_allclose(rows, [[0.3, 0.0, 1.0], [0.0, 1.0, 0.0]])
    codes = encode_rows(rows, np.eye(3, 2, dtype=np.float32), np.zeros(2, np.float32))
    np.testing.assert_allclose(codes[0], np.tanh(np.array([0.3, 0.0]) / np.hypot(0.3, 1.0)),
                               rtol=1e-6)


@pytest.mark.slow
def test_ranks_the_users_own_cluster_first(trained):
    result, pairs, _ = trained
    scores = NumpyScorer(ScoringWeights.from_model(result.model)).rows_of_users(np.arange(60))
    assert_top_unrated_in_own_cluster(scores, pairs)


@pytest.mark.slow
def test_numpy_scorer_equals_the_model(trained):
    model = trained[0].model
    every = np.array([(u, i) for u in range(60) for i in range(40)], dtype=np.int32)
    raw = keras.ops.convert_to_numpy(model(every))[:, 0].reshape(60, 40)
    scorer = NumpyScorer(ScoringWeights.from_model(model))
    np.testing.assert_allclose(scorer.rows_of_users(np.arange(60)), raw, atol=1e-4)
    # The row-wise forward pass (what training sees, without dropout) gives the same logits.
    rows = keras.ops.convert_to_numpy(model(np.arange(60, dtype=np.int32)))
    np.testing.assert_allclose(rows, raw, atol=1e-4)


@pytest.mark.slow
def test_loss_decreases_and_history_has_a_row_per_epoch(trained):
    result = trained[0]
    losses = [row["loss"] for row in result.history]
    assert len(losses) == CONFIG["epochs"] and losses[-1] < losses[0]
    m = result.metrics
    assert m["ranking_model"] and not m["validation"] and "rmse" not in m
    assert m["parameters"] == 40 * 16 * 2 + 16 + 40 + 60 * 40


@pytest.mark.slow
def test_same_seed_same_model():
    pairs, ratings, n_users, n_movies = _data()
    empty = np.zeros((0, 2), np.int32)

    def tables(seed: int) -> np.ndarray:
        config = TrainConfig(**{**CONFIG, "epochs": 2}, seed=seed)
        model = fit(config, pairs, ratings, empty, np.zeros(0, np.float32), n_users=n_users,
                    n_movies=n_movies, rating_range=RANGE, verbose=0).model
        return ScoringWeights.from_model(model).movie_vectors

    first = tables(5)
    np.testing.assert_array_equal(first, tables(5))
    assert not np.allclose(first, tables(6))


@pytest.mark.slow
def test_save_and_reload_safe_mode(tmp_path, trained):
    model, pairs = trained[0].model, trained[1]
    model.save(tmp_path / "dae.keras")
    again = keras.saving.load_model(tmp_path / "dae.keras", safe_mode=True)
    assert isinstance(again, MultDAEModel)
    assert again.get_config() == model.get_config()
    assert (again.dropout, again.negative_weight, again.positive) == (0.5, 0.0, 4.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(pairs)),
                                  keras.ops.convert_to_numpy(model(pairs)))
    np.testing.assert_array_equal(ScoringWeights.from_model(again).user_vectors,
                                  ScoringWeights.from_model(model).user_vectors)


@pytest.mark.slow
def test_fold_in_is_the_encoder_and_ranks_the_cluster(trained):
    model, pairs, ratings = trained
    model = model.model
    weights = ScoringWeights.from_model(model)
    user = 11
    mine = pairs[:, 0] == user
    np.testing.assert_allclose(model.fold_in(pairs[mine, 1], ratings[mine]),
                               weights.user_vectors[user], atol=1e-6)
    new = model.fold_in(np.array([0, 2, 4, 1]), np.array([5.0, 4.5, 4.0, 1.0]))
    scores = weights.movie_vectors @ new + weights.movie_bias
    scores[[0, 2, 4, 1]] = -np.inf
    assert np.all(np.argsort(-scores)[:5] % 2 == 0)


@pytest.mark.slow
def test_trainer_validates_and_stops_early():
    train_pairs, train_ratings, val_pairs, val_ratings, n_users, n_movies = synthetic_pair_split()
    config = TrainConfig(**{**CONFIG, "epochs": 40}, early_stopping=3)
    result = fit(config, train_pairs, train_ratings, val_pairs, val_ratings,
                 n_users=n_users, n_movies=n_movies, rating_range=RANGE, verbose=0)
    m = result.metrics
    popularity = popularity_val_ndcg(train_pairs, val_pairs, val_ratings, n_users, n_movies)
    assert m["validation"] and m["val_ndcg_at_10"] > 1.4 * popularity
    assert all("val_ndcg_at_10" in row for row in result.history)
    assert m["epochs_run"] < 40 and m["best_epoch"] <= m["epochs_run"]
    assert m["val_ndcg_at_10"] == pytest.approx(m["best_epoch_ndcg_at_10"])
    with pytest.raises(MovierecError, match="early stopping"):
        fit(config, train_pairs, train_ratings, np.zeros((0, 2), np.int32),
            np.zeros(0, np.float32), n_users=n_users, n_movies=n_movies, rating_range=RANGE)


def test_refuses_a_table_too_large_and_bad_dropout():
    with pytest.raises(MovierecError, match=r"dense.*ials"):
        model_class("mult-dae")(MAX_CELLS // 100 + 1, 100)
    with pytest.raises(ValueError, match="dropout"):
        MultDAEModel(3, 4, dropout=1.0)
