"""Ranking models (registry group ``"ranking"``) recommend for new users and find similar
movies, through the model's own rule (:class:`movierec.models.fold_in.FoldIn`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import synthetic_ratings

from movierec.data import Dataset
from movierec.errors import MovierecError, UnknownIdError
from movierec.models import model_names
from movierec.recommend import Recommender
from movierec.splits import random_split
from movierec.training import EncodedSplit, TrainConfig

RANKERS = model_names(group="ranking")
# Settings under which each ranker learns 60 synthetic users with 15 ratings each; a model
# not listed trains with lam 5, 20 epochs and 8 factors.
SETTINGS = {
    "mult-dae": {"factors": 16, "batch_size": 16, "learning_rate": 1e-2, "l2": 1e-4},
    "mult-vae": {"factors": 16, "epochs": 30, "batch_size": 16, "learning_rate": 1e-2,
                 "l2": 1e-4},
}


def _movies(n: int = 40) -> pd.DataFrame:
    ids = np.arange(1, n + 1)
    return pd.DataFrame({"movie_id": ids, "title": [f"Movie {i} ({1950 + i})" for i in ids],
                         "year": pd.array(1950 + ids, dtype="Int64"), "genres": ""})


@pytest.fixture(scope="module")
def encoded() -> EncodedSplit:
    dataset = Dataset("synthetic", synthetic_ratings(), _movies(), (1.0, 5.0))
    return EncodedSplit.from_dataset(dataset, random_split(dataset.ratings, 0.1, seed=0))


@pytest.fixture(scope="module", params=RANKERS)
def rec(request: pytest.FixtureRequest, encoded: EncodedSplit) -> Recommender:
    # lam 5: the synthetic users have 15 ratings each, latest-small's 100 would swamp them
    settings = {"lam": 5.0, "epochs": 20, "factors": 8, **SETTINGS.get(request.param, {})}
    config = TrainConfig(model=request.param, seed=0, **settings)
    model = encoded.fit(config, verbose=0).model
    return Recommender.from_model(model, encoded.encoders, encoded.split.train, _movies())


def _even(ids) -> np.ndarray:
    return np.asarray(ids) % 2 == 0


def test_a_new_user_gets_their_own_cluster_with_relative_scores(rec: Recommender) -> None:
    assert not rec.predicts_ratings
    loves_even = {2: 5.0, 4: 5.0, 6: 4.5, 1: 1.0, 3: 1.5}
    ids, scores = rec.recommend_new_user(loves_even, k=5)
    assert _even(ids).all(), ids
    assert not set(loves_even) & set(ids.tolist())
    assert (np.diff(scores) <= 0).all() and np.isfinite(scores).all()
    odd, _ = rec.recommend_new_user({1: 5.0, 3: 5.0, 5: 4.5, 2: 1.0, 4: 1.0}, k=5)
    assert not _even(odd).any(), odd
    assert rec.fold_in_method


def test_new_user_exclusions_and_errors(rec: Recommender) -> None:
    ids, _ = rec.recommend_new_user({2: 5.0}, k=3)
    again, _ = rec.recommend_new_user({2: 5.0}, k=3, exclude=[ids[0]])
    assert ids[0] not in again.tolist()
    with pytest.raises(MovierecError, match="at least one"):
        rec.recommend_new_user({})
    with pytest.raises(MovierecError, match="rating range"):
        rec.recommend_new_user({2: 9.0})
    with pytest.raises(UnknownIdError, match="unknown movie id 999"):
        rec.recommend_new_user({999: 4.0})


def test_similar_movies_share_the_cluster(rec: Recommender) -> None:
    ids, similarity = rec.similar_movies(2, k=5)
    assert 2 not in ids.tolist() and _even(ids).sum() >= 4, ids
    assert (np.diff(similarity) <= 0).all() and (np.abs(similarity) <= 1.0 + 1e-6).all()


def test_ease_folds_in_a_trained_users_history_to_their_own_scores(encoded) -> None:
    """EASE's new-user row is the training row ``W[u]``: a known user's training ratings,
    folded in, rank exactly as the trained user does."""
    config = TrainConfig(model="ease", lam=5.0)
    rec = Recommender.from_model(encoded.fit(config, verbose=0).model, encoded.encoders,
                                 encoded.split.train, _movies())
    train = encoded.split.train
    user = int(train["user_id"].iloc[0])
    history = train[train["user_id"] == user]
    ratings = dict(zip(history["movie_id"].tolist(), history["rating"].tolist(), strict=True))
    new_ids, new_scores = rec.recommend_new_user(ratings, k=10)
    known_ids, known_scores = rec.recommend([user], k=10)
    np.testing.assert_array_equal(new_ids, known_ids[0])
    np.testing.assert_allclose(new_scores, known_scores[0], rtol=1e-5, atol=1e-6)
    assert "weighted history" in rec.fold_in_method


def test_the_all_users_export_names_the_value_a_score(rec: Recommender) -> None:
    from movierec.recommend.export import all_users_top_k

    frame = all_users_top_k(rec, k=3)
    assert list(frame.columns) == ["user_id", "rank", "movie_id", "score", "title"]
    assert len(frame) == 3 * rec.n_users
