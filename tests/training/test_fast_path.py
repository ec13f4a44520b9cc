"""The fast path (sparse row-wise Adagrad), AutoRec's row-wise training and the blend."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import synthetic_pair_split

from movierec import metrics
from movierec.errors import MovierecError
from movierec.models import BlendModel, build_model, predict_ratings
from movierec.models.sparse import (
    SparseAdagrad,
    block_size,
    sparse_updates_supported,
    use_sparse_updates,
)
from movierec.training import TrainConfig, fit

pytestmark = pytest.mark.skipif(not sparse_updates_supported(),
                                reason="the sparse step needs the JAX backend")
RANGE = (1.0, 5.0)


@pytest.fixture(scope="module")
def data():
    return synthetic_pair_split()


def _np(variable) -> np.ndarray:
    return keras.ops.convert_to_numpy(variable.value)


def test_one_sparse_step_matches_row_wise_adagrad_by_hand():
    """dot model, one batch with a repeated user: every occurrence adds its own update."""
    model = build_model("dot", 4, 3, factors=2, l2=0.0, seed=0)
    model.compile(optimizer=SparseAdagrad(0.1, epsilon=1e-8), loss="mse")
    l2 = 0.01
    use_sparse_updates(model, l2=l2)
    pairs = np.array([[0, 1], [2, 0], [0, 2]], dtype=np.int32)
    y = np.array([4.0, 2.0, 3.0], dtype=np.float32)
    users0, movies0 = _np(model.user_embedding.embeddings), _np(model.movie_embedding.embeddings)
    model.fit(pairs, y, batch_size=3, epochs=1, shuffle=False, verbose=0)

    u, m = users0[pairs[:, 0]], movies0[pairs[:, 1]]
    error = (u * m).sum(axis=1) - y
    # Per-rating gradients of (prediction - y)^2 + l2 (|u|^2 + |m|^2).
    grad_u = 2 * error[:, None] * m + 2 * l2 * u
    grad_m = 2 * error[:, None] * u + 2 * l2 * m
    expected_users, expected_movies = users0.copy(), movies0.copy()
    for table, index, grads in ((expected_users, pairs[:, 0], grad_u),
                                (expected_movies, pairs[:, 1], grad_m)):
        accumulator = np.zeros(len(table))
        np.add.at(accumulator, index, (grads ** 2).mean(axis=1))
        np.add.at(table, index, -0.1 * grads / np.sqrt(accumulator[index] + 1e-8)[:, None])
    np.testing.assert_allclose(_np(model.user_embedding.embeddings), expected_users, rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(_np(model.movie_embedding.embeddings), expected_movies,
                               rtol=1e-4, atol=1e-6)
    # Rows the batch did not touch are exactly as they were.
    np.testing.assert_array_equal(_np(model.user_embedding.embeddings)[[1, 3]], users0[[1, 3]])


def _trained_weights(name: str, pairs, y, fit_batch: int, steps_of: int | None,
                     epochs: int = 2, weighted: bool = False) -> list[np.ndarray]:
    keras.utils.set_random_seed(3)
    model = build_model(name, 80, 50, factors=4, l2=0.0, rating_range=RANGE, seed=3)
    model.compile(optimizer=SparseAdagrad(0.05), loss="mse")
    use_sparse_updates(model, l2=0.01, bias_l2=0.001, batch_size=steps_of)
    weight = np.linspace(0.5, 1.5, len(y)).astype(np.float32) if weighted else None
    model.fit(pairs, y, sample_weight=weight, batch_size=fit_batch, epochs=epochs,
              shuffle=True, verbose=0)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations.value)) == epochs * (
        -(-len(y) // (steps_of or fit_batch)))
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize(("name", "weighted"), [("dot-bias", False), ("dot-bias", True),
                                                ("mlp", False)])
def test_block_of_steps_in_one_call_matches_the_plain_steps(name, weighted, data):
    """A ``fit`` batch of k x 64 ratings, scanned as k steps of 64 (the last block shorter,
    its last step too), trains the same weights as ``fit`` with 64 ratings per step."""
    pairs, y = data[0], data[1]
    assert len(y) % 64 and len(y) % (3 * 64)  # the last block and its last step are short
    plain = _trained_weights(name, pairs, y, 64, None, weighted=weighted)
    blocks = _trained_weights(name, pairs, y, 3 * 64, 64, weighted=weighted)
    for a, b in zip(plain, blocks, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    # and a different step size trains different weights: the blocks do run 64 at a time
    other = _trained_weights(name, pairs, y, 3 * 64, 3 * 64, weighted=weighted)
    assert not all(np.allclose(a, b, atol=1e-4) for a, b in zip(plain, other, strict=True))


def test_block_size_is_a_multiple_of_the_step_within_the_data():
    assert block_size(4096, 64, 10_000_000) == 64 * 4096
    assert block_size(4096, 64, 9_000) == 3 * 4096  # no larger than the data needs
    assert block_size(4096, 64, 10) == 4096
    with pytest.raises(ValueError, match="positive"):
        block_size(4096, 0, 10)


def test_fast_path_is_deterministic_and_records_its_steady_speed(data):
    """Same seed, same metrics (on CPU), through ``fit``'s blocks of steps."""
    train_pairs, train_y, test_pairs, test_y, n_users, n_movies = data
    config = TrainConfig(model="dot-bias", optimizer="sparse-adagrad", batch_size=32,
                         learning_rate=0.05, l2=0.01, epochs=3, seed=5)
    runs = [fit(config, train_pairs, train_y, test_pairs, test_y, n_users=n_users,
                n_movies=n_movies, rating_range=RANGE, verbose=0) for _ in range(2)]
    first, second = (r.metrics for r in runs)
    assert first["rmse"] == second["rmse"]
    assert [r["val_rmse"] for r in runs[0].history] == [r["val_rmse"] for r in runs[1].history]
    assert first["steady_ratings_per_second"] > 0
    assert int(keras.ops.convert_to_numpy(runs[0].model.optimizer.iterations.value)) == (
        3 * -(-len(train_y) // 32))


def test_fit_in_blocks_matches_fit_one_step_per_call(data, monkeypatch):
    """``fit``'s blocks of steps (keras_fit.STEPS_PER_CALL) train what one step per call
    trains: the same validation RMSE after every epoch, the same final weights."""
    from movierec.training import keras_fit

    train_pairs, train_y, test_pairs, test_y, n_users, n_movies = data
    config = TrainConfig(model="dot-bias", optimizer="sparse-adagrad", batch_size=48,
                         learning_rate=0.05, l2=0.01, bias_l2=0.001, epochs=3, seed=2)
    runs = []
    for steps in (1, keras_fit.STEPS_PER_CALL):
        monkeypatch.setattr(keras_fit, "STEPS_PER_CALL", steps)
        runs.append(fit(config, train_pairs, train_y, test_pairs, test_y, n_users=n_users,
                        n_movies=n_movies, rating_range=RANGE, verbose=0))
    plain, blocks = runs
    np.testing.assert_allclose([r["val_rmse"] for r in blocks.history],
                               [r["val_rmse"] for r in plain.history], rtol=1e-5)
    for a, b in zip(plain.model.get_weights(), blocks.model.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["dot-bias", "mlp", "recommender-net"])
def test_sparse_training_learns(name, data):
    train_pairs, train_y, test_pairs, test_y, n_users, n_movies = data
    config = TrainConfig(model=name, optimizer="sparse-adagrad", batch_size=256,
                         learning_rate=0.05, l2=0.01, epochs=15, seed=0)
    result = fit(config, train_pairs, train_y, test_pairs, test_y, n_users=n_users,
                 n_movies=n_movies, rating_range=RANGE, verbose=0)
    mean_rmse = metrics.rmse(test_y, np.full_like(test_y, train_y.mean()))
    assert result.metrics["rmse"] < 0.8 * mean_rmse
    assert all(row["fit_seconds"] > 0 for row in result.history)


@pytest.mark.parametrize("name", ["autorec", "svdpp"])
def test_sparse_updates_refuse_models_that_keep_their_training_data(name):
    model = build_model(name, 5, 4, factors=3)
    model.compile(optimizer=SparseAdagrad(0.1), loss="mse")
    with pytest.raises(TypeError, match="adam"):
        use_sparse_updates(model)
    plain = build_model("dot-bias", 5, 4)
    plain.compile(optimizer="adam", loss="mse")
    with pytest.raises(RuntimeError, match="SparseAdagrad"):
        use_sparse_updates(plain)


@pytest.mark.parametrize("name", ["autorec", "u-autorec"])
def test_autorec_trains_row_wise_and_stores_its_ratings(name, data):
    train_pairs, train_y, test_pairs, test_y, n_users, n_movies = data
    config = TrainConfig(model=name, batch_size=8, learning_rate=3e-3, factors=64, l2=1e-3,
                         epochs=60, seed=0)
    result = fit(config, train_pairs, train_y, test_pairs, test_y, n_users=n_users,
                 n_movies=n_movies, rating_range=RANGE, verbose=0)
    stored = _np(result.model.item_ratings)
    assert stored.shape == (n_movies, n_users)
    np.testing.assert_array_equal(stored[train_pairs[:, 1], train_pairs[:, 0]], train_y)
    assert (stored > 0).sum() == len(train_pairs)
    mean_rmse = metrics.rmse(test_y, np.full_like(test_y, train_y.mean()))
    assert result.metrics["rmse"] < 0.8 * mean_rmse
    tables = result.model.scoring_tables()  # the same predictions as a biased dot product
    u, m = test_pairs[:, 0], test_pairs[:, 1]
    dot = ((tables["user_vectors"][u] * tables["movie_vectors"][m]).sum(axis=1)
           + tables["user_bias"][u] + tables["movie_bias"][m])
    np.testing.assert_allclose(predict_ratings(result.model, test_pairs), np.clip(dot, *RANGE),
                               atol=1e-4)


def test_blend_fits_weights_on_held_out_training_ratings(data, tmp_path):
    train_pairs, train_y, test_pairs, test_y, n_users, n_movies = data
    members = (
        {"model": "dot-bias", "optimizer": "sparse-adagrad", "batch_size": 256,
         "learning_rate": 0.05, "l2": 0.01, "epochs": 15},
        {"model": "autorec", "batch_size": 8, "learning_rate": 3e-3, "factors": 64,
         "l2": 1e-3, "epochs": 60, "early_stopping": 5},
    )
    result = fit(TrainConfig(model="blend", members=members, seed=0), train_pairs, train_y,
                 test_pairs, test_y, n_users=n_users, n_movies=n_movies, rating_range=RANGE,
                 verbose=0)
    blend = result.model
    assert len(blend.members) == 2 and len(blend.blend_weights) == 2
    assert len(blend.support_weights) == 2 and len(blend.support_bias) == 2
    # Each member's weight is linear in log(1 + training ratings) of the user and the movie.
    f_u = np.log1p(np.bincount(train_pairs[:, 0], minlength=n_users))[test_pairs[:, 0]]
    f_i = np.log1p(np.bincount(train_pairs[:, 1], minlength=n_movies))[test_pairs[:, 1]]
    a_u, a_i = blend.support_bias
    by_hand = blend.intercept + a_u * f_u + a_i * f_i + sum(
        (w + w_u * f_u + w_i * f_i) * predict_ratings(member, test_pairs)
        for member, w, (w_u, w_i) in zip(blend.members, blend.blend_weights,
                                         blend.support_weights, strict=True))
    np.testing.assert_allclose(predict_ratings(blend, test_pairs),
                               np.clip(by_hand, *RANGE), atol=1e-4)
    mean_rmse = metrics.rmse(test_y, np.full_like(test_y, train_y.mean()))
    assert result.metrics["rmse"] < 0.8 * mean_rmse
    blend.save(tmp_path / "blend.keras")
    again = keras.saving.load_model(tmp_path / "blend.keras", safe_mode=True)
    np.testing.assert_allclose(predict_ratings(again, test_pairs),
                               predict_ratings(blend, test_pairs), atol=1e-6)


def test_blend_without_support_weights_is_a_plain_weighted_sum(data, tmp_path):
    """Blends saved before the support features (no support_weights) load and predict as
    they did: no extra weights, ``intercept + sum_k w_k * rating_k``."""
    train_pairs, _, test_pairs, _, n_users, n_movies = data
    blend = build_model("blend", n_users, n_movies, factors=4, rating_range=RANGE, seed=0)
    assert blend.support_weights is None
    assert len(blend.weights) == sum(len(member.weights) for member in blend.members)
    assert "support_weights" not in blend.get_config()
    with pytest.raises(ValueError, match="no support features"):
        blend.set_support(train_pairs)
    by_hand = blend.intercept + sum(
        w * predict_ratings(member, test_pairs)
        for member, w in zip(blend.members, blend.blend_weights, strict=True))
    np.testing.assert_allclose(predict_ratings(blend, test_pairs), np.clip(by_hand, *RANGE),
                               atol=1e-5)
    with pytest.raises(ValueError, match="support_weights"):
        BlendModel(n_users, n_movies, support_weights=[[0.0, 0.0]])
    with pytest.raises(ValueError, match="support_bias needs"):
        BlendModel(n_users, n_movies, support_bias=[0.0, 0.0])


def test_blend_needs_members(data):
    train_pairs, train_y, test_pairs, test_y, n_users, n_movies = data
    with pytest.raises(MovierecError, match="preset best"):
        fit(TrainConfig(model="blend"), train_pairs, train_y, test_pairs, test_y,
            n_users=n_users, n_movies=n_movies, rating_range=RANGE, verbose=0)
