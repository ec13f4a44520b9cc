"""SVD++ (``svdpp``): the implicit term, its per-rating penalty and training through ``fit``.

The conformance suite (test_models.py) trains it with a bare ``model.fit``, where the matrix
of who rated what stays zero; these tests train it as ``fit`` does, with that matrix set.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import synthetic_pair_split

from movierec import metrics
from movierec.models import build_model, predict_ratings
from movierec.models.autorec import MAX_CELLS
from movierec.models.svdpp import SVDppModel
from movierec.training import TrainConfig, fit

RANGE = (1.0, 5.0)


@pytest.fixture(scope="module")
def data():
    return synthetic_pair_split()


@pytest.fixture(scope="module")
def trained(data):
    train_pairs, train_y, test_pairs, test_y, n_users, n_movies = data
    config = TrainConfig(model="svdpp", batch_size=64, learning_rate=1e-2, factors=8,
                         l2=1e-3, epochs=30, seed=0)
    return fit(config, train_pairs, train_y, test_pairs, test_y, n_users=n_users,
               n_movies=n_movies, rating_range=RANGE, verbose=0)


def _np(variable) -> np.ndarray:
    return keras.ops.convert_to_numpy(variable.value)


def _by_hand(model: SVDppModel, train_pairs: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j), N(u) from the pairs."""
    y = _np(model.implicit_factors)
    users, movies = pairs[:, 0], pairs[:, 1]
    implicit = np.zeros((len(pairs), model.factors))
    for row, user in enumerate(users):
        rated = train_pairs[train_pairs[:, 0] == user, 1]
        if len(rated):
            implicit[row] = y[rated].sum(axis=0) / np.sqrt(len(rated))
    p = _np(model.user_embedding.embeddings)[users]
    q = _np(model.movie_embedding.embeddings)[movies]
    out = (_np(model.global_bias) + _np(model.user_bias.embeddings)[users, 0]
           + _np(model.movie_bias.embeddings)[movies, 0] + ((p + implicit) * q).sum(axis=1))
    return np.clip(out, *RANGE)


def test_fit_stores_who_rated_what_and_learns(trained, data):
    train_pairs, train_y, _, test_y, n_users, n_movies = data
    model = trained.model
    stored = _np(model.implicit)
    assert stored.shape == (n_users, n_movies)
    per_user = np.bincount(train_pairs[:, 0], minlength=n_users)
    np.testing.assert_allclose(stored[train_pairs[:, 0], train_pairs[:, 1]],
                               1 / np.sqrt(per_user[train_pairs[:, 0]]), rtol=1e-6)
    assert (stored > 0).sum() == len(train_pairs)
    mean_rmse = metrics.rmse(test_y, np.full_like(test_y, train_y.mean()))
    assert trained.metrics["rmse"] < 0.8 * mean_rmse


def test_predictions_follow_the_svdpp_formula(trained, data):
    train_pairs, _, test_pairs, _, _, _ = data
    model = trained.model
    assert np.abs(_np(model.implicit_factors)).max() > 0.05  # the implicit term was trained
    np.testing.assert_allclose(predict_ratings(model, test_pairs),
                               _by_hand(model, train_pairs, test_pairs), atol=1e-4)


def test_scoring_tables_give_the_same_ratings(trained, data):
    test_pairs = data[2]
    tables = trained.model.scoring_tables()
    u, m = test_pairs[:, 0], test_pairs[:, 1]
    dot = ((tables["user_vectors"][u] * tables["movie_vectors"][m]).sum(axis=1)
           + tables["user_bias"][u] + tables["movie_bias"][m])
    np.testing.assert_allclose(predict_ratings(trained.model, test_pairs), np.clip(dot, *RANGE),
                               atol=1e-4)


def test_saved_model_keeps_its_implicit_matrix(trained, data, tmp_path):
    trained.model.save(tmp_path / "svdpp.keras")
    again = keras.saving.load_model(tmp_path / "svdpp.keras", safe_mode=True)
    np.testing.assert_array_equal(_np(again.implicit), _np(trained.model.implicit))
    np.testing.assert_allclose(predict_ratings(again, data[2]),
                               predict_ratings(trained.model, data[2]), atol=1e-6)


def test_penalty_is_per_rating(data):
    train_pairs, train_y, _, _, n_users, n_movies = data
    l2 = 0.1
    model = build_model("svdpp", n_users, n_movies, factors=4, l2=l2, rating_range=RANGE, seed=3)
    model.compile(optimizer="adam", loss="mse")
    pairs, y = model.training_examples(train_pairs, train_y)
    batch, targets = pairs[:32], y[:32]
    predicted = model(batch)
    loss = float(keras.ops.convert_to_numpy(
        model.compute_loss(x=batch, y=targets, y_pred=predicted, training=True)))
    users, movies = batch[:, 0], batch[:, 1]
    counts = np.bincount(train_pairs[:, 0], minlength=n_users)
    y_squares = (_np(model.implicit_factors) ** 2).sum(axis=1)
    per_rating = ((_np(model.user_embedding.embeddings)[users] ** 2).sum(axis=1)
                  + (_np(model.movie_embedding.embeddings)[movies] ** 2).sum(axis=1)
                  + np.array([y_squares[train_pairs[train_pairs[:, 0] == u, 1]].sum()
                              for u in users]) / np.sqrt(counts[users]))
    mse = np.mean((keras.ops.convert_to_numpy(predicted)[:, 0] - targets) ** 2)
    assert loss == pytest.approx(mse + l2 * per_rating.mean(), rel=1e-5)


def test_the_dense_matrix_has_a_size_limit():
    with pytest.raises(ValueError, match="dot-bias"):
        SVDppModel(MAX_CELLS // 1000 + 1, 1000)
