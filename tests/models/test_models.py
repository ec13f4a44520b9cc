"""Conformance suite every Keras model passes, on every backend CI runs (JAX and PyTorch).

Each model is built, compiled with its spec's loss, fitted a few steps on synthetic data,
checked against a numpy reference computed from its own weights, saved to ``.keras`` and
reloaded in a fresh process with ``safe_mode=True``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import synthetic_ratings

from movierec.errors import UnknownIdError
from movierec.models import (
    MODEL_NAMES,
    EmbeddingModel,
    ModelSpec,
    ScaleToRange,
    build_model,
    model_spec,
    predict_ratings,
    training_targets,
)

pytestmark = pytest.mark.backend

RANGE = (0.5, 5.0)
FACTORS = 8
# The rating models Keras trains on pairs; the ranking models (ease, ials, mult-dae, mult-vae)
# train with their own trainers and have their own tests (test_<name>.py). Every model,
# whatever its trainer, also passes the registry-driven contract (test_conformance.py).
NAMES = tuple(name for name in MODEL_NAMES if model_spec(name).group != "ranking")


def _encoded(ratings) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Synthetic ids are 1-based and contiguous: index = id - 1."""
    pairs = np.stack([ratings["user_id"] - 1, ratings["movie_id"] - 1], axis=1).astype(np.int32)
    return (pairs, ratings["rating"].to_numpy(np.float32),
            int(ratings["user_id"].max()), int(ratings["movie_id"].max()))


@pytest.fixture(scope="module")
def data():
    return _encoded(synthetic_ratings())


def _fit(name: str, data, *, epochs: int = 2, seed: int = 0, factors: int = FACTORS,
         learning_rate: float = 1e-2, batch_size: int = 64):
    pairs, ratings, n_users, n_movies = data
    spec = model_spec(name)
    model = build_model(name, n_users, n_movies, factors=factors, rating_range=RANGE, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=spec.loss)
    history = model.fit(pairs, training_targets(spec, ratings, RANGE), batch_size=batch_size,
                        epochs=epochs, shuffle=False, verbose=0)
    return model, history


@pytest.fixture(scope="module")
def trained(data):
    """Every model fitted two short epochs (15 steps), shared by the tests below."""
    return {name: _fit(name, data) for name in NAMES}


# -- numpy reference: what each model computes, from its own weights -----------------------

def _np(variable) -> np.ndarray:
    """A variable's value as numpy (via ``.value``: Keras' ``Variable.__array__`` warns)."""
    return keras.ops.convert_to_numpy(variable.value)


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [_np(w) for w in model.weights]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _reference(model: EmbeddingModel, pairs: np.ndarray, batch_size: int) -> np.ndarray:
    """The model's output in rating units, computed with numpy (inference: no dropout)."""
    users, movies = pairs[:, 0], pairs[:, 1]
    u = _np(model.user_embedding.embeddings)[users]
    m = _np(model.movie_embedding.embeddings)[movies]
    low, high = model.rating_range
    if model.user_bias is not None:
        bias = (_np(model.user_bias.embeddings)[users, 0]
                + _np(model.movie_bias.embeddings)[movies, 0])
    name = model.model_name
    if name == "dot":
        out = (u * m).sum(axis=1)
    elif name == "dot-bias":
        out = low + (high - low) * _sigmoid((u * m).sum(axis=1) + bias)
    elif name == "mlp":
        w1, b1 = (_np(w) for w in model.hidden.weights)
        w2, b2 = (_np(w) for w in model.output_layer.weights)
        hidden = np.maximum(np.concatenate([u, m], axis=1) @ w1 + b1, 0.0)
        out = low + (high - low) * _sigmoid(hidden @ w2 + b2)[:, 0]
    elif name == "recommender-net":
        out = low + (high - low) * _sigmoid((u * m).sum(axis=1) + bias)
    elif name == "recommender-net-as-published":
        products = (u * m).sum(axis=1)
        batch_sums = np.concatenate([
            np.full(len(chunk), chunk.sum()) for chunk in np.split(
                products, range(batch_size, len(products), batch_size))
        ])
        out = low + (high - low) * _sigmoid(batch_sums + bias)
    elif name in ("autorec", "u-autorec"):
        if name == "autorec":  # a movie's rating vector is encoded, decoded per user
            encoded, embedded, decoder = _np(model.item_ratings)[movies], m, u
        else:
            encoded, embedded, decoder = _np(model.item_ratings).T[users], u, m
        code = _sigmoid(encoded @ _np(model.encoder) + embedded + _np(model.encoder_bias))
        out = (code * decoder).sum(axis=1) + bias
    elif name == "svdpp":  # the implicit term: the user's rated movies' implicit factors
        implicit = _np(model.implicit)[users] @ _np(model.implicit_factors)
        out = ((u + implicit) * m).sum(axis=1) + bias + _np(model.global_bias)
    elif name == "blend":
        weights = [np.full(len(pairs), w) for w in model.blend_weights]
        out = np.full(len(pairs), model.intercept)
        if model.support_weights is not None:
            f_u = _np(model.user_support)[users]
            f_i = _np(model.movie_support)[movies]
            out = out + model.support_bias[0] * f_u + model.support_bias[1] * f_i
            weights = [w + w_u * f_u + w_i * f_i
                       for w, (w_u, w_i) in zip(weights, model.support_weights, strict=True)]
        out = out + sum(weight * _reference(member, pairs, batch_size)
                        for member, weight in zip(model.members, weights, strict=True))
    else:  # pragma: no cover - a new model needs its reference here
        raise AssertionError(f"no reference for {name}")
    return np.clip(out, low, high)


# -- specs ------------------------------------------------------------------------------------

def test_every_name_has_a_spec():
    for name in NAMES:
        spec = model_spec(name)
        assert isinstance(spec, ModelSpec) and spec.name == name
        assert spec.loss in {"mse", "binary_crossentropy"}
        assert spec.output in {"rating", "unit"}
        assert spec.description
        assert (spec.output == "unit") == (spec.loss == "binary_crossentropy")
        assert spec.batch_dependent == (name == "recommender-net-as-published")


def test_unknown_model_name_is_rejected():
    with pytest.raises(ValueError, match="dot-bias"):
        model_spec("svd")
    with pytest.raises(ValueError, match="unknown model"):
        build_model("svd", 3, 3)


def test_training_targets():
    ratings = np.array([0.5, 2.75, 5.0])
    assert training_targets(model_spec("dot"), ratings, RANGE).tolist() == [0.5, 2.75, 5.0]
    unit = training_targets(model_spec("recommender-net"), ratings, RANGE)
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit, [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="outside the rating range"):
        training_targets(model_spec("dot"), [1.0, 5.5], RANGE)
    with pytest.raises(ValueError, match="outside"):
        training_targets("recommender-net", [np.nan], RANGE)


def test_scale_to_range_layer():
    layer = ScaleToRange(1.0, 5.0)
    out = keras.ops.convert_to_numpy(layer(np.array([[0.0], [0.5], [1.0]], dtype="float32")))
    np.testing.assert_allclose(out[:, 0], [1.0, 3.0, 5.0])
    config = layer.get_config()
    assert config["minimum"] == 1.0 and config["maximum"] == 5.0
    assert ScaleToRange.from_config(config).get_config() == config
    with pytest.raises(ValueError):
        ScaleToRange(5.0, 1.0)


def test_invalid_constructor_arguments():
    with pytest.raises(ValueError, match="n_users"):
        build_model("dot", 0, 3)
    with pytest.raises(ValueError, match="rating_range"):
        build_model("dot", 3, 3, rating_range=(5.0, 1.0))
    with pytest.raises(ValueError, match="l2"):
        build_model("dot", 3, 3, l2=-1.0)


# -- the conformance suite ---------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_contract_attributes(name):
    model = build_model(name, 7, 9, factors=FACTORS, rating_range=(1.0, 5.0), seed=3)
    assert isinstance(model, keras.Model) and model.built
    assert model.model_name == name
    assert model.rating_range == (1.0, 5.0) and isinstance(model.rating_range, tuple)
    assert isinstance(model.user_embedding, keras.layers.Embedding)
    assert tuple(model.user_embedding.embeddings.shape) == (7, FACTORS)
    assert tuple(model.movie_embedding.embeddings.shape) == (9, FACTORS)
    if name in {"dot", "mlp"}:
        assert model.user_bias is None and model.movie_bias is None
    else:
        assert tuple(model.user_bias.embeddings.shape) == (7, 1)
        assert tuple(model.movie_bias.embeddings.shape) == (9, 1)
    if name == "mlp":
        assert model.hidden.units == 10 and model.output_layer.units == 1


@pytest.mark.parametrize("name", NAMES)
def test_fit_shapes_and_range(name, trained, data):
    model, history = trained[name]
    pairs, _, _, _ = data
    assert all(np.isfinite(history.history["loss"]))
    raw = keras.ops.convert_to_numpy(model(pairs[:5]))
    assert raw.shape == (5, 1)
    if model_spec(name).output == "unit":
        assert ((raw >= 0) & (raw <= 1)).all()
    predicted = predict_ratings(model, pairs, batch_size=64)
    assert predicted.shape == (len(pairs),) and predicted.dtype == np.float32
    assert ((predicted >= RANGE[0]) & (predicted <= RANGE[1])).all()


@pytest.mark.parametrize("name", NAMES)
def test_predictions_match_numpy_reference(name, trained, data):
    model, _ = trained[name]
    pairs = data[0][:150]
    for batch_size in (64, 8192):
        np.testing.assert_allclose(
            predict_ratings(model, pairs, batch_size=batch_size),
            _reference(model, pairs, batch_size), rtol=1e-5, atol=1e-5,
        )


@pytest.fixture(scope="module")
def reloaded(trained, data, tmp_path_factory):
    """Save every trained model, reload all of them in one fresh process, predict there."""
    folder = tmp_path_factory.mktemp("saved")
    pairs = data[0]
    np.save(folder / "pairs.npy", pairs)
    for name, (model, _) in trained.items():
        model.save(folder / f"{name}.keras")
    script = (
        "import json, sys, numpy as np, keras\n"
        "import movierec.models as models\n"
        "folder = sys.argv[1]; pairs = np.load(folder + '/pairs.npy'); meta = {}\n"
        "for name in sys.argv[2:]:\n"
        "    model = keras.saving.load_model(f'{folder}/{name}.keras', safe_mode=True)\n"
        "    np.save(f'{folder}/{name}.npy', models.predict_ratings(model, pairs, 64))\n"
        "    meta[name] = {'class': type(model).__name__, 'config': model.get_config(),\n"
        "                  'backend': keras.backend.backend()}\n"
        "json.dump(meta, open(folder + '/meta.json', 'w'))\n"
    )
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    done = subprocess.run([sys.executable, "-c", script, str(folder), *trained], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, json.loads(Path(folder / "meta.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_save_and_reload_in_fresh_process(name, trained, data, reloaded):
    model, _ = trained[name]
    folder, meta = reloaded
    assert meta[name]["backend"] == keras.backend.backend()
    assert meta[name]["class"] == type(model).__name__
    assert meta[name]["config"] == json.loads(json.dumps(model.get_config()))
    np.testing.assert_allclose(
        np.load(folder / f"{name}.npy"), predict_ratings(model, data[0], 64), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name, trained, data):
    model, _ = trained[name]
    config = model.get_config()
    assert json.loads(json.dumps(config)) == config  # JSON-safe: rating_range is a list
    assert config["rating_range"] == list(RANGE)
    expected = {"n_users", "n_movies", "factors", "l2", "rating_range", "seed"}
    assert expected <= set(config)
    if name == "mlp":
        assert config["embedding_dropout"] == 0.05 and config["hidden_dropout"] == 0.5
    clone = type(model).from_config(config)
    clone.build((None, 2))
    assert clone.get_config() == config
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in model.weights]
    clone.set_weights(_weights(model))
    pairs = data[0][:64]
    np.testing.assert_allclose(predict_ratings(clone, pairs, 64), predict_ratings(model, pairs, 64),
                               atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_indices_are_rejected(name, trained, data):
    model, _ = trained[name]
    n_users, n_movies = data[2], data[3]
    with pytest.raises(UnknownIdError, match=f"user index {n_users}"):
        predict_ratings(model, np.array([[0, 0], [n_users, 0]], dtype=np.int32))
    with pytest.raises(UnknownIdError, match=f"movie index {n_movies}"):
        predict_ratings(model, np.array([[0, n_movies]], dtype=np.int32))
    with pytest.raises(UnknownIdError, match="movie index -1"):
        predict_ratings(model, np.array([[0, -1]], dtype=np.int64))
    with pytest.raises(ValueError, match="shape"):
        predict_ratings(model, np.array([0, 1], dtype=np.int32))
    with pytest.raises(ValueError, match="integer"):
        predict_ratings(model, np.array([[0.0, 1.0]]))
    assert predict_ratings(model, np.zeros((0, 2), dtype=np.int32)).shape == (0,)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_initial_weights(name):
    def weights(seed):
        return _weights(build_model(name, 6, 6, factors=FACTORS, seed=seed))

    first, again, other = weights(7), weights(7), weights(8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    # Same shapes, different tables: each component gets its own seed.
    assert not np.array_equal(first[0], first[1])


def test_only_the_as_published_model_depends_on_the_batch(data):
    pairs = data[0][:128]
    fixed = build_model("recommender-net", data[2], data[3], factors=FACTORS, seed=0)
    published = build_model("recommender-net-as-published", data[2], data[3], factors=FACTORS,
                            seed=0)
    np.testing.assert_allclose(predict_ratings(fixed, pairs, 16),
                               predict_ratings(fixed, pairs, 128), atol=1e-6)
    small, whole = predict_ratings(published, pairs, 16), predict_ratings(published, pairs, 128)
    assert np.abs(small - whole).max() > 1e-3
    # Same weights (same seed): the bug is the only difference between the two models.
    for a, b in zip(_weights(fixed), _weights(published), strict=True):
        np.testing.assert_array_equal(a, b)


def test_dot_bias_learns_more_than_the_global_mean():
    pairs, ratings, n_users, n_movies = _encoded(synthetic_ratings())
    test = np.random.default_rng(0).random(len(pairs)) < 0.2
    train_data = (pairs[~test], ratings[~test], n_users, n_movies)
    model, _ = _fit("dot-bias", train_data, epochs=10, batch_size=32, seed=0)
    predicted = predict_ratings(model, pairs[test])
    rmse = float(np.sqrt(np.mean((predicted - ratings[test]) ** 2)))
    baseline = float(np.sqrt(np.mean((ratings[~test].mean() - ratings[test]) ** 2)))
    assert rmse < 0.8 * baseline, (rmse, baseline)
