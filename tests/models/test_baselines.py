"""The numpy baselines, on data whose right answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.models.baselines import BiasBaseline, GlobalMean


def _grid(user_bias, movie_bias, mu=3.0):
    """Every user rates every movie exactly ``mu + b_user + b_movie``."""
    users, movies = np.meshgrid(np.arange(len(user_bias)), np.arange(len(movie_bias)),
                                indexing="ij")
    pairs = np.stack([users.ravel(), movies.ravel()], axis=1).astype(np.int32)
    ratings = mu + np.asarray(user_bias)[pairs[:, 0]] + np.asarray(movie_bias)[pairs[:, 1]]
    return pairs, ratings


def _surprise_als(pairs, ratings, n_users, n_movies, reg_user, reg_movie, n_epochs):
    """Surprise's BaselineOnly ALS, transcribed with plain loops over ratings."""
    mu = float(np.mean(ratings))
    by_user = {u: [] for u in range(n_users)}
    by_movie = {i: [] for i in range(n_movies)}
    for (u, i), r in zip(pairs.tolist(), ratings.tolist(), strict=True):
        by_user[u].append((i, r))
        by_movie[i].append((u, r))
    bu, bi = np.zeros(n_users), np.zeros(n_movies)
    for _ in range(n_epochs):
        for i, rows in by_movie.items():
            bi[i] = sum(r - mu - bu[u] for u, r in rows) / (reg_movie + len(rows))
        for u, rows in by_user.items():
            bu[u] = sum(r - mu - bi[i] for i, r in rows) / (reg_user + len(rows))
    return mu, bu, bi


def test_global_mean():
    model = GlobalMean().fit(np.array([[0, 0], [1, 1], [1, 0]]), [2.0, 4.0, 4.5], 2, 2)
    assert model.global_mean == pytest.approx(3.5)
    predicted = model.predict(np.array([[0, 1], [7, -1]]))  # unknown indices are fine
    assert predicted.dtype == np.float32 and predicted.tolist() == [3.5, 3.5]


def test_unregularized_biases_are_exact_on_a_complete_grid():
    user_bias, movie_bias = [-1.0, 0.0, 1.0], [0.5, -0.5]
    pairs, ratings = _grid(user_bias, movie_bias)
    model = BiasBaseline(reg_user=0, reg_movie=0, n_epochs=1).fit(pairs, ratings, 3, 2)
    assert model.global_mean == pytest.approx(3.0)
    np.testing.assert_allclose(model.user_bias, user_bias, atol=1e-12)
    np.testing.assert_allclose(model.movie_bias, movie_bias, atol=1e-12)
    np.testing.assert_allclose(model.predict(pairs), ratings, atol=1e-6)


def test_one_regularized_sweep_by_hand():
    # mu = 4; residuals 1, 1, -2. Movies first: b_m0 = 2/(1+2), b_m1 = -2/(1+1).
    # Then users: b_u0 = ((1 - 2/3) + (-2 + 1)) / (1+2) = -2/9, b_u1 = (1 - 2/3) / (1+1).
    pairs = np.array([[0, 0], [1, 0], [0, 1]])
    model = BiasBaseline(reg_user=1, reg_movie=1, n_epochs=1, rating_range=None)
    model.fit(pairs, [5.0, 5.0, 2.0], 2, 2)
    np.testing.assert_allclose(model.movie_bias, [2 / 3, -1.0])
    np.testing.assert_allclose(model.user_bias, [-2 / 9, 1 / 6])


def test_matches_surprise_als_with_default_settings():
    rng = np.random.default_rng(0)
    pairs = np.stack([rng.integers(0, 30, 400), rng.integers(0, 20, 400)], axis=1)
    ratings = rng.choice(np.arange(1.0, 5.5, 0.5), size=400)
    model = BiasBaseline().fit(pairs, ratings, 32, 21)  # user 31 and movie 20 are unrated
    mu, bu, bi = _surprise_als(pairs, ratings, 32, 21, reg_user=15, reg_movie=10, n_epochs=10)
    assert model.global_mean == pytest.approx(mu)
    np.testing.assert_allclose(model.user_bias, bu, atol=1e-12)
    np.testing.assert_allclose(model.movie_bias, bi, atol=1e-12)
    assert model.user_bias[31] == 0.0 and model.movie_bias[20] == 0.0


def test_unknown_indices_get_the_mean_plus_the_known_bias():
    pairs, ratings = _grid([-1.0, 1.0], [0.5, -0.5])
    model = BiasBaseline(reg_user=0, reg_movie=0).fit(pairs, ratings, 2, 2)
    predicted = model.predict(np.array([[-1, 0], [1, 2], [5, -1], [1, 0]]))
    np.testing.assert_allclose(predicted, [3.5, 4.0, 3.0, 4.5], atol=1e-6)


def test_predictions_are_clipped_to_the_range():
    pairs, ratings = _grid([-2.0, 2.0], [0.0, 0.0])  # ratings 1 and 5
    clipped = BiasBaseline(reg_user=0, reg_movie=0, rating_range=(2.0, 4.0))
    assert clipped.fit(pairs, ratings, 2, 2).predict(pairs).tolist() == [2.0, 2.0, 4.0, 4.0]
    free = BiasBaseline(reg_user=0, reg_movie=0, rating_range=None).fit(pairs, ratings, 2, 2)
    np.testing.assert_allclose(free.predict(pairs), [1.0, 1.0, 5.0, 5.0], atol=1e-6)


@pytest.mark.parametrize("filename", ["baseline.npz", "baseline"])
def test_save_and_load_round_trip(tmp_path, filename):
    pairs, ratings = _grid([-1.0, 0.0, 1.0], [0.5, -0.5])
    path = tmp_path / filename
    model = BiasBaseline(reg_user=3, reg_movie=2, n_epochs=4, rating_range=(1.0, 5.0))
    model.fit(pairs, ratings, 3, 2).save(path)
    assert path.exists() and list(tmp_path.iterdir()) == [path]  # exactly there, no temp left
    loaded = BiasBaseline.load(path)
    assert (loaded.reg_user, loaded.reg_movie, loaded.n_epochs) == (3.0, 2.0, 4)
    assert loaded.rating_range == (1.0, 5.0)
    probe = np.array([[0, 0], [2, 1], [-1, 1]])
    np.testing.assert_array_equal(loaded.predict(probe), model.predict(probe))

    mean = GlobalMean(rating_range=None).fit(pairs, ratings, 3, 2)
    mean.save(tmp_path / "mean.npz")
    reloaded = GlobalMean.load(tmp_path / "mean.npz")
    assert reloaded.rating_range is None and reloaded.global_mean == mean.global_mean
    with pytest.raises(ValueError, match="global-mean"):
        BiasBaseline.load(tmp_path / "mean.npz")


def test_misuse_is_reported():
    with pytest.raises(RuntimeError, match="fit"):
        BiasBaseline().predict(np.array([[0, 0]]))
    with pytest.raises(RuntimeError, match="fit"):
        GlobalMean().save("unused.npz")
    model = BiasBaseline()
    with pytest.raises(ValueError, match="2 pairs but 1 ratings"):
        model.fit(np.array([[0, 0], [1, 1]]), [3.0], 2, 2)
    with pytest.raises(ValueError, match="movie indices"):
        model.fit(np.array([[0, 2]]), [3.0], 2, 2)
    with pytest.raises(ValueError, match="no ratings"):
        model.fit(np.zeros((0, 2), dtype=int), [], 2, 2)
    with pytest.raises(ValueError, match="shape"):
        model.fit(np.array([0, 1]), [3.0], 2, 2)
    with pytest.raises(ValueError, match="integer"):
        model.fit(np.array([[0.0, 1.0]]), [3.0], 2, 2)
    with pytest.raises(ValueError, match="rating_range"):
        BiasBaseline(rating_range=(5.0, 1.0))
