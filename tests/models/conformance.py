"""The contract every registered model keeps, as a mixin (after lkpy's ``ScorerTests`` and
implicit's ``RecommenderBaseTestMixin``).

A model's test class sets :attr:`ModelConformance.model_name` (and, when the defaults do not
suit it, :attr:`~ModelConformance.overrides`); ``tests/models/test_conformance.py`` makes one
such class for every name in the registry, so a new model is checked without being listed.

Each model is trained through :func:`movierec.training.fit` (so by its registered trainer) on
the synthetic taste clusters, then:

- its registration agrees with what the model is;
- the numpy scorer the recommender uses gives the model's own forward pass;
- a ``.keras`` file reloads with ``safe_mode=True`` and scores the same;
- the same seed gives the same scores (CPU determinism);
- it ranks the movies of a user's own cluster above the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import keras
import numpy as np
import pytest
from helpers import synthetic_pair_split

from movierec.models import EmbeddingModel, model_spec, predict_ratings
from movierec.recommend.scorers import scorer_for
from movierec.recommend.scoring import weights_of
from movierec.training import TrainConfig, TrainResult, fit

RANGE = (0.5, 5.0)


def train(name: str, overrides: dict[str, Any], *, seed: int = 0) -> TrainResult:
    """``name`` fitted on 80 users x 50 movies of the taste clusters (odd users like odd
    movies), validated on a fifth of the ratings."""
    train_pairs, train_ratings, val_pairs, val_ratings, n_users, n_movies = \
        synthetic_pair_split()
    settings = {"epochs": 8, "batch_size": 32, "factors": 8, "learning_rate": 1e-2,
                **overrides}
    config = TrainConfig(model=name, seed=seed, **settings)
    return fit(config, train_pairs, train_ratings, val_pairs, val_ratings,
               n_users=n_users, n_movies=n_movies, rating_range=RANGE, verbose=0)


def numpy_rows(model: EmbeddingModel) -> np.ndarray:
    """Every user's scores of every movie from the weights with numpy, as the recommender
    computes them: ratings for a rating model, raw scores for a ranking model."""
    weights = weights_of(model)
    n_users = int(model.get_config()["n_users"])
    scorer = scorer_for(weights, np.arange(n_users))
    rows = scorer.rows(np.arange(n_users))
    return scorer.to_rating(rows) if model.spec.predicts_ratings else rows


def forward_rows(model: EmbeddingModel) -> np.ndarray:
    """The same table from the Keras model itself."""
    config = model.get_config()
    n_users, n_movies = int(config["n_users"]), int(config["n_movies"])
    users, movies = np.meshgrid(np.arange(n_users), np.arange(n_movies), indexing="ij")
    pairs = np.stack([users.ravel(), movies.ravel()], axis=1).astype(np.int32)
    if model.spec.predicts_ratings:
        out = predict_ratings(model, pairs, batch_size=4096)
    else:
        out = keras.ops.convert_to_numpy(model(pairs))[:, 0]
    return np.asarray(out).reshape(n_users, n_movies)


class ModelConformance:
    """Mixin: subclass with ``model_name`` set; pytest collects the subclass."""

    model_name: ClassVar[str]
    overrides: ClassVar[dict[str, Any]] = {}
    """TrainConfig settings that let the model learn the clusters in a few seconds."""
    min_cluster_margin: ClassVar[float] = 0.0
    """How much higher the own cluster's mean score must be than the other cluster's, in the
    model's own units (a rating model: stars)."""

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls) -> TrainResult:
        return train(cls.model_name, cls.overrides)

    @pytest.fixture(scope="class")
    @classmethod
    def rows(cls, result: TrainResult) -> np.ndarray:
        return numpy_rows(result.model)

    def test_registration_matches_the_model(self, result: TrainResult) -> None:
        model = result.model
        spec = model_spec(self.model_name)
        assert isinstance(model, EmbeddingModel) and isinstance(model, keras.Model)
        assert model.model_name == spec.name == self.model_name
        assert model.spec == spec
        assert spec.description and spec.group in {"tutorial", "rating", "ranking"}
        assert result.config.model == self.model_name
        if spec.trainer == "keras":
            assert result.history, "the trainer recorded no history"

    def test_numpy_scores_are_the_forward_pass(self, result: TrainResult,
                                               rows: np.ndarray) -> None:
        np.testing.assert_allclose(rows, forward_rows(result.model), rtol=1e-4, atol=1e-4)

    def test_reloads_with_safe_mode_and_scores_the_same(self, result: TrainResult,
                                                        rows: np.ndarray,
                                                        tmp_path: Path) -> None:
        path = tmp_path / f"{self.model_name}.keras"
        result.model.save(path)
        again = keras.saving.load_model(path, safe_mode=True)
        assert type(again) is type(result.model)
        assert again.get_config() == result.model.get_config()
        np.testing.assert_allclose(numpy_rows(again), rows, rtol=0, atol=1e-6)

    def test_same_seed_same_scores(self, rows: np.ndarray) -> None:
        again = numpy_rows(train(self.model_name, self.overrides).model)
        np.testing.assert_array_equal(again, rows)

    def test_ranks_the_users_own_cluster_first(self, rows: np.ndarray) -> None:
        """Odd users like odd movies (index = id - 1, so parity flips; it is the same rule)."""
        own = (np.arange(rows.shape[0])[:, None] % 2) == (np.arange(rows.shape[1])[None, :] % 2)
        margin = rows[own].mean() - rows[~own].mean()
        assert margin > self.min_cluster_margin, margin
