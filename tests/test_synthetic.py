"""The synthetic MovieLens-shaped generator: sizes, scale, long tails, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.data import Dataset
from movierec.models.baselines import BiasBaseline, GlobalMean
from movierec.synthetic import default_shape, generate, synthetic_dataset


@pytest.fixture(scope="module")
def data():
    return generate(60_000, seed=3)


def test_exact_size_ids_in_range_and_no_duplicate_pairs(data):
    assert data.pairs.shape == (60_000, 2) and data.pairs.dtype == np.int32
    assert data.ratings.shape == (60_000,) and data.ratings.dtype == np.float32
    assert (data.n_users, data.n_movies) == default_shape(60_000)
    users, movies = data.pairs[:, 0], data.pairs[:, 1]
    assert users.min() >= 0 and users.max() < data.n_users
    assert movies.min() >= 0 and movies.max() < data.n_movies
    keys = users.astype(np.int64) * data.n_movies + movies
    assert np.unique(keys).size == keys.size
    assert np.all(np.diff(keys) > 0)  # sorted by user, then movie


def test_ratings_are_half_stars_on_the_movielens_scale(data):
    assert data.ratings.min() >= 0.5 and data.ratings.max() <= 5.0
    np.testing.assert_array_equal(data.ratings * 2, np.round(data.ratings * 2))
    assert 3.2 < data.ratings.mean() < 3.8  # MovieLens: ~3.5
    assert 0.8 < data.ratings.std() < 1.2   # MovieLens: ~1.0
    assert len(np.unique(data.ratings)) == 10


def test_user_activity_and_movie_popularity_are_long_tailed(data):
    per_user = np.bincount(data.pairs[:, 0], minlength=data.n_users)
    per_movie = np.sort(np.bincount(data.pairs[:, 1], minlength=data.n_movies))[::-1]
    assert per_user.max() > 8 * np.median(per_user)
    head = per_movie[: data.n_movies // 10].sum() / per_movie.sum()
    assert head > 0.35  # the 10 % most popular movies hold over a third of the ratings
    assert (per_movie <= 3).sum() > 0.1 * data.n_movies  # and a long tail is rarely rated


def test_same_seed_same_data_other_seed_other_data():
    first, again, other = generate(5_000, seed=1), generate(5_000, seed=1), generate(5_000, seed=2)
    np.testing.assert_array_equal(first.pairs, again.pairs)
    np.testing.assert_array_equal(first.ratings, again.ratings)
    assert not np.array_equal(first.pairs, other.pairs)


def test_the_ratings_carry_learnable_signal(data):
    """User and movie effects exist: a bias baseline beats the global mean on held-out data."""
    test = np.random.default_rng(0).random(len(data.ratings)) < 0.2
    fitted = [model(rating_range=(0.5, 5.0)).fit(data.pairs[~test], data.ratings[~test],
                                                 data.n_users, data.n_movies)
              for model in (GlobalMean, BiasBaseline)]
    rmse = [float(np.sqrt(np.mean((m.predict(data.pairs[test]) - data.ratings[test]) ** 2)))
            for m in fitted]
    assert rmse[1] < rmse[0] - 0.05


def test_explicit_shape_and_impossible_sizes():
    small = generate(500, n_users=50, n_movies=40, seed=0)
    assert (small.n_users, small.n_movies) == (50, 40)
    with pytest.raises(ValueError, match="do not fit"):
        generate(1_500, n_users=50, n_movies=40)
    with pytest.raises(ValueError, match="positive"):
        generate(0)


def test_dataset_wrapper_has_the_standard_columns():
    dataset = synthetic_dataset(2_000, seed=0)
    assert isinstance(dataset, Dataset)
    assert list(dataset.ratings.columns) == ["user_id", "movie_id", "rating", "timestamp"]
    assert dataset.ratings["user_id"].min() == 1  # 1-based ids, like MovieLens
    assert dataset.n_ratings == 2_000 and dataset.rating_scale == (0.5, 5.0)
    assert list(dataset.movies.columns) == ["movie_id", "title", "year", "genres"]
