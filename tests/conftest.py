"""Shared fixtures: the real MovieLens folder and small synthetic rating tables."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")

REPO = Path(__file__).resolve().parents[1]


def _real_data_dir() -> Path:
    configured = os.environ.get("MOVIEREC_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder holding ``ml-latest-small/`` and ``ml-100k/`` as GroupLens ships them."""
    folder = _real_data_dir()
    if not (folder / "ml-latest-small" / "ratings.csv").exists():
        pytest.skip(f"MovieLens files not found under {folder}; set MOVIEREC_DATA")
    return folder


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never let a test touch the user's real cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


def synthetic_ratings(
    n_users: int = 60, n_movies: int = 40, per_user: int = 15, seed: int = 0
) -> pd.DataFrame:
    """Ratings from two taste clusters: even users love even movies, odd users odd ones.

    A model that learns anything ranks a user's own cluster first, which tests can assert.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        movies = rng.choice(n_movies, size=per_user, replace=False)
        for movie in movies:
            liked = (user % 2) == (movie % 2)
            rating = rng.choice([4.0, 4.5, 5.0]) if liked else rng.choice([1.0, 1.5, 2.0])
            rows.append((user + 1, movie + 1, float(rating), 1_000_000 + len(rows)))
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])


def synthetic_pair_split(test_fraction: float = 0.2) -> tuple:
    """``(train_pairs, train_ratings, test_pairs, test_ratings, n_users, n_movies)`` of 80
    users x 50 movies of :func:`synthetic_ratings`, as ``movierec.training.fit`` takes them
    (indices = ids - 1)."""
    ratings = synthetic_ratings(n_users=80, n_movies=50, per_user=20, seed=1)
    pairs = np.stack([ratings["user_id"] - 1, ratings["movie_id"] - 1], axis=1).astype(np.int32)
    values = ratings["rating"].to_numpy(np.float32)
    test = np.random.default_rng(0).random(len(pairs)) < test_fraction
    return pairs[~test], values[~test], pairs[test], values[test], 80, 50


@pytest.fixture
def ratings() -> pd.DataFrame:
    return synthetic_ratings()
