"""The recommender models: the tutorial's Keras models and numpy baselines.

Keras models all take int32 ``(batch, 2)`` = ``[user_index, movie_index]`` and return
``(batch, 1)``. Each is declared once, with
:func:`~movierec.models.registry.register_model` on its class: ``MODEL_NAMES`` lists them and
``model_spec(name)`` says how each trains, what it outputs and how it is scored. The
tutorial's V1-V4 are in :mod:`~movierec.models.embedding`; AutoRec, SVD++ and the blend,
which the presets use, in modules of their own.

Saved models reload with ``keras.saving.load_model(path, safe_mode=True)`` once this
package is imported (importing it registers the classes).

Example:
    >>> import numpy as np
    >>> spec = model_spec("dot-bias")
    >>> model = build_model("dot-bias", n_users=3, n_movies=4, factors=8, seed=0)
    >>> model.compile(optimizer="adam", loss=spec.loss)
    >>> pairs = np.array([[0, 1], [2, 3]], dtype="int32")
    >>> predict_ratings(model, pairs).shape
    (2,)
"""

from __future__ import annotations

import importlib
import pkgutil

import keras
import numpy as np

from movierec.checks import check_rating_range
from movierec.errors import UnknownIdError
from movierec.models.autorec import AutoRecModel, UserAutoRecModel
from movierec.models.blend import BlendModel
from movierec.models.embedding import (
    DotBiasModel,
    DotModel,
    EmbeddingModel,
    MLPModel,
    RecommenderNet,
    RecommenderNetAsPublished,
)
from movierec.models.layers import ScaleToRange
from movierec.models.registry import ModelSpec, model_class, model_names, model_spec
from movierec.models.sparse import SparseAdagrad
from movierec.models.svdpp import SVDppModel

# Every module of this package is imported, so that a model class in a new module registers
# itself (register_model is the one place a model is declared).
for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):  # private: e.g. the fused kernel's numba code
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "MODEL_NAMES",
    "AutoRecModel",
    "BlendModel",
    "DotBiasModel",
    "DotModel",
    "EmbeddingModel",
    "MLPModel",
    "ModelSpec",
    "RecommenderNet",
    "RecommenderNetAsPublished",
    "SVDppModel",
    "ScaleToRange",
    "SparseAdagrad",
    "UserAutoRecModel",
    "build_model",
    "model_class",
    "model_names",
    "model_spec",
    "predict_ratings",
    "training_targets",
]

MODEL_NAMES = model_names()
"""Every registered model, in registration order (derived from the registry)."""


def build_model(
    name: str,
    n_users: int,
    n_movies: int,
    *,
    factors: int = 50,
    l2: float = 1e-6,
    rating_range: tuple[float, float] = (0.5, 5.0),
    seed: int | None = None,
) -> keras.Model:
    """Build model ``name`` with its weights created; compile it with ``model_spec(name).loss``.

    Args:
        name: a registered model (one of ``MODEL_NAMES``).
        n_users, n_movies: embedding table sizes (the encoders' lengths).
        factors: length of the factor vectors.
        l2: L2 penalty on the factor tables.
        rating_range: ``(min, max)`` of the rating scale.
        seed: the same seed gives the same initial weights (and dropout masks).

    Returns:
        An uncompiled :class:`EmbeddingModel` whose input is int32 ``(batch, 2)`` and whose
        output is ``(batch, 1)``.
    """
    cls = model_class(name)
    model = cls(n_users, n_movies, factors=factors, l2=l2, rating_range=rating_range, seed=seed)
    model.build((None, 2))
    return model


def training_targets(
    spec: ModelSpec | str, ratings, rating_range: tuple[float, float]
) -> np.ndarray:
    """The float32 targets ``fit()`` sees for ``ratings``.

    ``"rating"`` models train on the ratings themselves; ``"unit"`` models on
    ``(rating - min) / (max - min)`` in [0, 1].

    Raises:
        ValueError: a rating is not finite or lies outside ``rating_range``.
    """
    if isinstance(spec, str):
        spec = model_spec(spec)
    low, high = check_rating_range(rating_range)
    values = np.asarray(ratings, dtype=np.float64).reshape(-1)
    outside = ~np.isfinite(values) | (values < low) | (values > high)
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} rating(s) are outside the rating range [{low}, {high}], "
            f"e.g. {values[outside][0]!r}"
        )
    if spec.output == "unit":
        values = (values - low) / (high - low)
    return values.astype(np.float32)


def _check_pairs(pairs, n_users: int, n_movies: int) -> np.ndarray:
    """Validate ``pairs`` as int32 ``(n, 2)`` indices inside the model's tables."""
    array = np.asarray(pairs)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"pairs must have shape (n, 2), got {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"pairs must hold integer indices, got dtype {array.dtype}")
    for column, kind, size in ((0, "user", n_users), (1, "movie", n_movies)):
        values = array[:, column]
        bad = (values < 0) | (values >= size)
        if bad.any():
            first = int(values[bad][0])
            more = int(bad.sum()) - 1
            raise UnknownIdError(
                f"{kind} index {first} is unknown to the model, which has {size} {kind}s "
                f"(indices 0..{size - 1})" + (f"; {more} more pair(s) too" if more else "")
            )
    return array.astype(np.int32, copy=False)


def _batch_devices() -> int:
    """Devices this process splits a batch over under the current ``keras.distribution``."""
    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        return 1
    import jax

    return int(jax.local_device_count())


def predict_ratings(model: keras.Model, pairs, batch_size: int = 8192) -> np.ndarray:
    """Predicted ratings (rating units, clipped to ``model.rating_range``) for ``pairs``.

    "unit" models' outputs are scaled from [0, 1] back onto the rating range.

    For a batch-dependent model (``recommender-net-as-published``) rows are scored in
    consecutive batches of exactly ``batch_size`` (the last one shorter), so callers should
    pass the batch size it was trained with. Other models give the same predictions whatever
    ``batch_size`` is; their last batch is padded to a power of two so that JAX compiles the
    prediction function for few shapes.

    Args:
        model: a model from :func:`build_model` (or reloaded from a ``.keras`` file).
        pairs: integer array ``(n, 2)`` of ``[user_index, movie_index]``.
        batch_size: rows per forward pass.

    Returns:
        float32 array of shape ``(n,)``.

    Raises:
        UnknownIdError: an index is negative or beyond the model's tables.
        ValueError: ``pairs`` is not an integer ``(n, 2)`` array, or ``batch_size`` < 1.
        TypeError: ``model`` is not one of movierec's models.
    """
    if not isinstance(model, EmbeddingModel):
        raise TypeError(f"predict_ratings needs a movierec model, got {type(model).__name__}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)
    spec = model_spec(model.model_name)
    array = _check_pairs(pairs, model.n_users, model.n_movies)
    n = len(array)
    if n == 0:
        return np.empty(0, dtype=np.float32)
    if spec.batch_dependent:
        raw = model.predict(array, batch_size=batch_size, verbose=0)
    else:
        chunk = min(batch_size, 1 << (n - 1).bit_length())
        split = _batch_devices()  # under a keras.distribution a batch splits over devices
        chunk = -(-chunk // split) * split
        padded = -n % chunk
        if padded:
            array = np.concatenate([array, np.zeros((padded, 2), dtype=np.int32)])
        raw = model.predict(array, batch_size=chunk, verbose=0)
    predicted = np.asarray(raw, dtype=np.float32).reshape(-1)[:n]
    low, high = model.rating_range
    if spec.output == "unit":
        predicted = low + (high - low) * predicted
    return np.clip(predicted, low, high).astype(np.float32, copy=False)
