"""Builders the tests share: synthetic taste clusters, their titles and a tiny saved run.

Nothing here reads MovieLens; every table is generated, so the tests run anywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from movierec.data import Dataset
from movierec.runs import save_run
from movierec.splits import random_split
from movierec.training import EncodedSplit, TrainConfig


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



_WORDS = ["Silent", "Crimson", "Electric", "Midnight", "Golden", "Paper", "Hidden", "Lonely",
          "Neon", "Wild"]
_NOUNS = ["River", "Garden", "Empire", "Harbor", "Mirror", "Orbit", "Lantern", "Summer"]


def synthetic_movies(n_movies: int = 40, *, string_ids: bool = False) -> pd.DataFrame:
    """Titles for the taste clusters: odd movies are comedies, even ones science fiction.

    Movie 1 is "Toy Story (1995)" so that searches have a familiar title to find, and one
    catalogue movie (n_movies + 1) is never rated, so the model cannot score it.
    """
    rows = []
    for movie in range(1, n_movies + 2):
        title = (f"{_WORDS[movie % len(_WORDS)]} {_NOUNS[(movie * 3) % len(_NOUNS)]} "
                 f"{movie}")
        if movie == 1:
            title = "Toy Story"
        year = 1970 + movie
        genres = "Comedy|Romance" if movie % 2 else "Action|Sci-Fi"
        rows.append((f"m{movie}" if string_ids else movie, f"{title} ({year})", year, genres))
    movies = pd.DataFrame(rows, columns=["movie_id", "title", "year", "genres"])
    movies["year"] = movies["year"].astype("Int64")
    return movies


def train_tiny_run(out: Path, *, string_ids: bool = False, model: str = "dot-bias",
                   epochs: int = 2) -> Path:
    """A run on the synthetic clusters (dot-bias: about a second), saved to ``out``; a
    blend's members are dot-bias and an AutoRec."""
    ratings = synthetic_ratings()
    if string_ids:
        ratings = ratings.assign(user_id="u" + ratings["user_id"].astype(str),
                                 movie_id="m" + ratings["movie_id"].astype(str))
    dataset = Dataset(name="synthetic", ratings=ratings,
                      movies=synthetic_movies(string_ids=string_ids), rating_scale=(0.5, 5.0))
    encoded = EncodedSplit.from_dataset(dataset, random_split(ratings, test_size=0.1, seed=0))
    members = ({"model": "dot-bias", "factors": 8},
               {"model": "autorec", "factors": 8, "epochs": 30, "learning_rate": 0.1})
    config = TrainConfig(model=model, epochs=epochs, batch_size=32, factors=8,
                         learning_rate=0.02, seed=0, members=members if model == "blend" else ())
    result = encoded.fit(config, verbose=0)
    return save_run(out, result, encoded, dataset)


def assert_top_unrated_in_own_cluster(scores: np.ndarray, pairs: np.ndarray, n: int = 5) -> None:
    """Every user's ``n`` best-scored unrated movies are of the user's own taste cluster
    (index parity: odd ids like odd ids, and index = id - 1 keeps the rule)."""
    rated = np.zeros(scores.shape, dtype=bool)
    rated[pairs[:, 0], pairs[:, 1]] = True
    for user in range(scores.shape[0]):
        unrated = np.flatnonzero(~rated[user])
        top = unrated[np.argsort(-scores[user, unrated])[:n]]
        assert np.all(top % 2 == user % 2), (user, top)


def popularity_val_ndcg(train_pairs: np.ndarray, val_pairs: np.ndarray,
                        val_ratings: np.ndarray, n_users: int, n_movies: int,
                        positive: float = 4.0) -> float:
    """Popularity's NDCG@10 by the protocol of a ranking run's ``val_ndcg_at_10``: mean over
    validation users with a movie rated ``>= positive``, training movies excluded; the
    baseline a ranking model must beat on the same pairs."""
    from movierec.metrics import ItemSets, ranking_metrics
    from movierec.topk import top_k

    relevant_pairs = val_pairs[np.asarray(val_ratings) >= positive]
    relevant = ItemSets.from_pairs(relevant_pairs[:, 0], relevant_pairs[:, 1], n_users)
    seen = ItemSets.from_pairs(train_pairs[:, 0], train_pairs[:, 1], n_users)
    users = np.flatnonzero(relevant.sizes())
    counts = np.bincount(train_pairs[:, 1], minlength=n_movies).astype(np.float32)
    top, _ = top_k(np.tile(counts, (len(users), 1)), 10, exclude=seen.take(users))
    return float(np.mean(ranking_metrics(top, relevant.take(users), 10, per_user=True)["ndcg"]))


def png_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` in pixels of the PNG at ``path``, decoded in full (a truncated or
    corrupt file raises); it must not be blank (one colour everywhere)."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG", path
        image.load()
        low, high = image.convert("L").getextrema()
        assert low < high, f"{path} is blank"
        return image.size
