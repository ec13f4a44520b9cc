"""``mult-vae``: its trainer and KL annealing, saved weights, numpy scoring and fold-in."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import assert_top_unrated_in_own_cluster, synthetic_ratings

from movierec.models import model_spec
from movierec.models.mult_vae import MultVAEModel
from movierec.recommend.scoring import NumpyScorer, ScoringWeights
from movierec.training import TrainConfig
from movierec.training.core import fit

# Rerun on PyTorch and TensorFlow by scripts/test.sh: the model must be backend-agnostic.
pytestmark = pytest.mark.backend

RANGE = (0.5, 5.0)
# negative_weight 0 as in test_mult_dae.py (the synthetic users rate both clusters alike).
CONFIG = {"model": "mult-vae", "factors": 16, "epochs": 30, "batch_size": 16,
          "learning_rate": 1e-2, "dropout": 0.5, "l2": 1e-4, "negative_weight": 0.0}


def _data():
    ratings = synthetic_ratings()
    pairs = np.stack([ratings["user_id"] - 1, ratings["movie_id"] - 1], axis=1).astype(np.int32)
    return pairs, ratings["rating"].to_numpy(np.float32), 60, 40


def _fit(seed: int, epochs: int):
    pairs, ratings, n_users, n_movies = _data()
    config = TrainConfig(**{**CONFIG, "epochs": epochs}, seed=seed)
    return fit(config, pairs, ratings, np.zeros((0, 2), np.int32), np.zeros(0, np.float32),
               n_users=n_users, n_movies=n_movies, rating_range=RANGE, verbose=0)


@pytest.fixture(scope="module")
def trained():
    """Trained on every synthetic rating (a Keras fit: the tests using it are slow)."""
    pairs, ratings, _, _ = _data()
    return _fit(3, CONFIG["epochs"]), pairs, ratings


def test_spec_is_a_ranking_model_with_the_autoencoder_trainer():
    spec = model_spec("mult-vae")
    assert spec.trainer == "autoencoder" and spec.group == "ranking"
    assert spec.scoring == "factors"


@pytest.mark.slow
def test_ranks_the_users_own_cluster_first(trained):
    result, pairs, _ = trained
    scores = NumpyScorer(ScoringWeights.from_model(result.model)).rows_of_users(np.arange(60))
    assert_top_unrated_in_own_cluster(scores, pairs)


@pytest.mark.slow
def test_numpy_scorer_equals_the_model_and_annealing_counts_steps(trained):
    model = trained[0].model
    every = np.array([(u, i) for u in range(60) for i in range(40)], dtype=np.int32)
    raw = keras.ops.convert_to_numpy(model(every))[:, 0].reshape(60, 40)
    scorer = NumpyScorer(ScoringWeights.from_model(model))
    np.testing.assert_allclose(scorer.rows_of_users(np.arange(60)), raw, atol=1e-4)
    # Without sampling, the row-wise pass's logits are the pairs' scores.
    rows = keras.ops.convert_to_numpy(model(np.arange(60, dtype=np.int32)))
    np.testing.assert_allclose(rows[:, :40], raw, atol=1e-4)
    # 60 users in batches of 16: 4 steps an epoch.
    assert float(keras.ops.convert_to_numpy(model.anneal_step)) == 4 * CONFIG["epochs"]


@pytest.mark.slow
def test_same_seed_same_model():
    first = ScoringWeights.from_model(_fit(5, 2).model).movie_vectors
    np.testing.assert_array_equal(first, ScoringWeights.from_model(_fit(5, 2).model)
                                  .movie_vectors)
    assert not np.allclose(first, ScoringWeights.from_model(_fit(6, 2).model).movie_vectors)


@pytest.mark.slow
def test_save_and_reload_safe_mode(tmp_path, trained):
    model, pairs = trained[0].model, trained[1]
    model.save(tmp_path / "vae.keras")
    again = keras.saving.load_model(tmp_path / "vae.keras", safe_mode=True)
    assert isinstance(again, MultVAEModel)
    assert again.get_config() == model.get_config()
    assert (again.latent, again.beta_cap, again.anneal_steps) == (200, 0.2, 2000)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(pairs)),
                                  keras.ops.convert_to_numpy(model(pairs)))


@pytest.mark.slow
def test_fold_in_ranks_the_cluster(trained):
    result, pairs, ratings = trained
    model = result.model
    weights = ScoringWeights.from_model(model)
    mine = pairs[:, 0] == 11
    np.testing.assert_allclose(model.fold_in(pairs[mine, 1], ratings[mine]),
                               weights.user_vectors[11], atol=1e-6)
    new = model.fold_in(np.array([0, 2, 4, 1]), np.array([5.0, 4.5, 4.0, 1.0]))
    scores = weights.movie_vectors @ new + weights.movie_bias
    scores[[0, 2, 4, 1]] = -np.inf
    assert np.all(np.argsort(-scores)[:5] % 2 == 0)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="latent"):
        MultVAEModel(3, 4, latent=0)
    with pytest.raises(ValueError, match="beta_cap"):
        MultVAEModel(3, 4, beta_cap=-1.0)
