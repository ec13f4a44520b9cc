"""The tutorial's embedding models as registered, serializable Keras 3 models.

Every model takes an int32 tensor ``(batch, 2)`` of ``[user_index, movie_index]`` and returns
``(batch, 1)``. The maths uses ``keras.ops`` only, so the models run on any Keras backend
(JAX by default, PyTorch in CI). :class:`EmbeddingModel` holds what they share (the
constructor arguments, the two factor tables and optional bias tables); each subclass only
says how a user vector and a movie vector become a score.

Defaults are the tutorial's: 50 factors, ``he_normal`` factor initializer and an L2 penalty
of 1e-6 on the factor tables. Bias tables are ``Embedding(n, 1)`` with Keras' default
uniform initializer and no penalty, as in the keras.io RecommenderNet.

With an integer ``seed`` every initializer and Dropout layer gets its own seed derived from
it, so two models built with the same seed start from identical weights.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from movierec.checks import check_rating_range
from movierec.models.layers import ScaleToRange
from movierec.models.registry import ModelSpec, register_model

# Offsets added to the model's seed, one per random component, so that the user and movie
# tables (same shape, same initializer) do not start identical.
_USER_EMBEDDING, _MOVIE_EMBEDDING, _USER_BIAS, _MOVIE_BIAS = 0, 1, 2, 3
_HIDDEN, _OUTPUT, _EMBEDDING_DROPOUT, _HIDDEN_DROPOUT = 4, 5, 6, 7


class EmbeddingModel(keras.Model):
    """Base class: configuration, user/movie factor tables and (optionally) bias tables.

    Subclasses are registered with :func:`~movierec.models.registry.register_model` (which
    sets :attr:`model_name` and :attr:`spec`), set :attr:`use_bias` and :attr:`link`, and
    implement :meth:`score`. They are not meant to be built directly: use
    :func:`movierec.models.build_model`.

    Args:
        n_users: rows of the user tables (user indices are ``0 .. n_users - 1``).
        n_movies: rows of the movie tables.
        factors: length of each factor vector.
        l2: L2 penalty on the factor tables (0 turns it off).
        rating_range: ``(min, max)`` of the rating scale; models with a sigmoid output are
            scaled to it, the others use it only when predictions are clipped.
        seed: makes initial weights and dropout reproducible; ``None`` draws them at random.

    Attributes:
        user_embedding, movie_embedding: ``keras.layers.Embedding(n, factors)``.
        user_bias, movie_bias: ``keras.layers.Embedding(n, 1)``, or ``None`` without biases.
        rating_range: the ``(min, max)`` tuple.
    """

    model_name: ClassVar[str] = ""
    spec: ClassVar[ModelSpec]
    use_bias: ClassVar[bool] = False
    link: ClassVar[str] = "sigmoid"
    """How the raw score ``u . m (+ b_u + b_m)`` becomes a rating: ``"linear"`` (it is the
    rating) or ``"sigmoid"`` (``min + (max - min) * sigmoid(score)``)."""

    def __init__(
        self,
        n_users: int,
        n_movies: int,
        factors: int = 50,
        l2: float = 1e-6,
        rating_range: tuple[float, float] | list[float] = (0.5, 5.0),
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for arg, value in (("n_users", n_users), ("n_movies", n_movies), ("factors", factors)):
            if int(value) != value or value < 1:
                raise ValueError(f"{arg} must be a positive integer, got {value!r}")
        if l2 < 0:
            raise ValueError(f"l2 must not be negative, got {l2!r}")
        low, high = check_rating_range(rating_range)
        if seed is not None and int(seed) != seed:
            raise ValueError(f"seed must be an integer or None, got {seed!r}")
        self.n_users = int(n_users)
        self.n_movies = int(n_movies)
        self.factors = int(factors)
        self.l2 = float(l2)
        self.rating_range = (low, high)
        self.seed = None if seed is None else int(seed)

        self.user_embedding = self._factor_table(self.n_users, _USER_EMBEDDING, "user_embedding")
        self.movie_embedding = self._factor_table(
            self.n_movies, _MOVIE_EMBEDDING, "movie_embedding"
        )
        self.user_bias: keras.layers.Embedding | None = None
        self.movie_bias: keras.layers.Embedding | None = None
        if self.use_bias:
            self.user_bias = self._bias_table(self.n_users, _USER_BIAS, "user_bias")
            self.movie_bias = self._bias_table(self.n_movies, _MOVIE_BIAS, "movie_bias")

    # -- construction helpers -------------------------------------------------------------

    def _seed(self, offset: int) -> int | None:
        """The seed of one random component, derived from the model's seed."""
        return None if self.seed is None else (self.seed + offset) % (2**31 - 1)

    def _factor_table(self, rows: int, offset: int, name: str) -> keras.layers.Embedding:
        return keras.layers.Embedding(
            rows,
            self.factors,
            embeddings_initializer=keras.initializers.HeNormal(seed=self._seed(offset)),
            embeddings_regularizer=keras.regularizers.L2(self.l2) if self.l2 else None,
            name=name,
        )

    def _bias_table(self, rows: int, offset: int, name: str) -> keras.layers.Embedding:
        return keras.layers.Embedding(
            rows,
            1,
            embeddings_initializer=keras.initializers.RandomUniform(
                -0.05, 0.05, seed=self._seed(offset)
            ),
            name=name,
        )

    def build(self, input_shape=None) -> None:
        """Create every weight up front, so a fresh model can be inspected and compared."""
        for layer in (self.user_embedding, self.movie_embedding, self.user_bias,
                      self.movie_bias):
            if layer is not None and not layer.built:
                layer.build((None,))
        self.build_head()
        self.built = True

    def build_head(self) -> None:
        """Build the layers after the embeddings, if a subclass has any."""

    # -- forward pass ---------------------------------------------------------------------

    def call(self, inputs, training: bool = False):
        users = inputs[:, 0]
        movies = inputs[:, 1]
        return self.score(
            self.user_embedding(users), self.movie_embedding(movies), users, movies, training
        )

    def score(self, user_vector, movie_vector, users, movies, training: bool):
        """Turn ``(batch, factors)`` user and movie vectors into a ``(batch, 1)`` output."""
        raise NotImplementedError

    def bias_tables(self) -> tuple[keras.layers.Embedding, keras.layers.Embedding]:
        """``(user_bias, movie_bias)``, for the models that have them (``use_bias``).

        Raises:
            ValueError: the model was built without biases.
        """
        if self.user_bias is None or self.movie_bias is None:
            raise ValueError(f"{type(self).__name__} has no bias tables (use_bias is False)")
        return self.user_bias, self.movie_bias

    def biases(self, users, movies):
        """``user_bias + movie_bias`` for the batch, shape ``(batch, 1)``."""
        user_bias, movie_bias = self.bias_tables()
        return ops.add(user_bias(users), movie_bias(movies))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    # -- numpy scoring ----------------------------------------------------------------------

    def scoring_tables(self) -> dict[str, Any]:
        """The weights the numpy recommender scores with, as float32 arrays.

        ``user_vectors`` ``(n_users, F)``, ``movie_vectors`` ``(n_movies, F)``,
        ``user_bias``/``movie_bias`` (``(n,)`` or None) and ``link``; the keys are
        :class:`movierec.recommend.scoring.ScoringWeights`' fields. A model whose score is
        not a biased dot product of its own tables overrides this (see ``mlp``, ``autorec``).
        """
        return {
            "user_vectors": table_of(self.user_embedding),
            "movie_vectors": table_of(self.movie_embedding),
            "user_bias": None if self.user_bias is None else table_of(self.user_bias)[:, 0],
            "movie_bias": None if self.movie_bias is None else table_of(self.movie_bias)[:, 0],
            "link": self.link,
        }

    # -- serialization --------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "n_users": self.n_users,
                "n_movies": self.n_movies,
                "factors": self.factors,
                "l2": self.l2,
                "rating_range": list(self.rating_range),
                "seed": self.seed,
            }
        )
        return config


def table_of(layer: keras.layers.Layer) -> np.ndarray:
    """A layer's first weight (an embedding table, a kernel) as a float32 numpy array."""
    return np.asarray(layer.get_weights()[0], dtype=np.float32)


def value_of(weight: Any) -> np.ndarray:
    """A Keras variable's (or tensor's) value as a float32 numpy array."""
    return np.asarray(ops.convert_to_numpy(weight), dtype=np.float32)


def _row_dot(user_vector, movie_vector):
    """Per-row dot product: ``(batch, factors) x (batch, factors) -> (batch, 1)``.

    Summed by a product with a column of ones, not ``ops.sum(..., axis=-1)``: on XLA's CPU
    backend a reduction along a short last axis (50 factors) ran at half the speed of the
    matrix-vector product, and it was the fast path's costliest operation
    (``benchmarks/results/compiled-sgd.md``)."""
    return row_sum(ops.multiply(user_vector, movie_vector))


def row_sum(x):
    """``(batch, n) -> (batch, 1)``: each row's sum, as a product with a column of ones."""
    return ops.matmul(x, ops.ones((x.shape[-1], 1), dtype=x.dtype))


@register_model(
    "dot",
    group="tutorial",
    description="V1: dot product of user and movie factors, in rating units",
)
class DotModel(EmbeddingModel):
    """V1 (``dot``): the dot product of the user and movie vectors, in rating units.

    No bias and no activation; trained with MSE on raw ratings.
    """

    link = "linear"


    def score(self, user_vector, movie_vector, users, movies, training: bool):
        return _row_dot(user_vector, movie_vector)


class _ScaledModel(EmbeddingModel):
    """A model whose sigmoid output is scaled onto the rating range."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scale = ScaleToRange(*self.rating_range, name="scale_to_range")


@register_model(
    "dot-bias",
    group="tutorial",
    description="V2: dot product plus user and movie biases, sigmoid scaled to the range",
)
class DotBiasModel(_ScaledModel):
    """V2 (``dot-bias``): dot product plus user and movie biases, sigmoid, scaled to range.

    ``rating = min + (max - min) * sigmoid(u . m + b_u + b_m)``; trained with MSE.
    """

    use_bias = True

    def score(self, user_vector, movie_vector, users, movies, training: bool):
        logit = ops.add(_row_dot(user_vector, movie_vector), self.biases(users, movies))
        return self.scale(ops.sigmoid(logit))


@register_model(
    "mlp",
    group="tutorial",
    description="V3: concatenated factors through Dense(10, relu), sigmoid scaled",
)
class MLPModel(_ScaledModel):
    """V3 (``mlp``): concatenated vectors through a small network, scaled to the range.

    ``concat(u, m) -> Dropout(0.05) -> Dense(10, relu) -> Dropout(0.5) -> Dense(1, sigmoid)``,
    both Dense layers ``he_normal``; trained with MSE.

    Args:
        embedding_dropout: dropout rate on the concatenated vectors.
        hidden_dropout: dropout rate after the hidden layer.
        hidden_units: width of the hidden layer.
        (the others as :class:`EmbeddingModel`)

    Attributes:
        hidden: the ``Dense(hidden_units, relu)`` layer.
        output_layer: the ``Dense(1, sigmoid)`` layer.
    """


    def __init__(
        self,
        n_users: int,
        n_movies: int,
        factors: int = 50,
        l2: float = 1e-6,
        rating_range: tuple[float, float] | list[float] = (0.5, 5.0),
        seed: int | None = None,
        embedding_dropout: float = 0.05,
        hidden_dropout: float = 0.5,
        hidden_units: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(n_users, n_movies, factors, l2, rating_range, seed, **kwargs)
        for arg, rate in (("embedding_dropout", embedding_dropout),
                          ("hidden_dropout", hidden_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{arg} must be in [0, 1), got {rate!r}")
        if int(hidden_units) != hidden_units or hidden_units < 1:
            raise ValueError(f"hidden_units must be a positive integer, got {hidden_units!r}")
        self.embedding_dropout = float(embedding_dropout)
        self.hidden_dropout = float(hidden_dropout)
        self.hidden_units = int(hidden_units)
        self.dropout_embeddings = keras.layers.Dropout(
            self.embedding_dropout, seed=self._seed(_EMBEDDING_DROPOUT), name="embedding_dropout"
        )
        self.hidden = keras.layers.Dense(
            self.hidden_units,
            activation="relu",
            kernel_initializer=keras.initializers.HeNormal(seed=self._seed(_HIDDEN)),
            name="hidden",
        )
        self.dropout_hidden = keras.layers.Dropout(
            self.hidden_dropout, seed=self._seed(_HIDDEN_DROPOUT), name="hidden_dropout"
        )
        self.output_layer = keras.layers.Dense(
            1,
            activation="sigmoid",
            kernel_initializer=keras.initializers.HeNormal(seed=self._seed(_OUTPUT)),
            name="output",
        )

    def build_head(self) -> None:
        if not self.hidden.built:
            self.hidden.build((None, 2 * self.factors))
        if not self.output_layer.built:
            self.output_layer.build((None, self.hidden_units))

    def scoring_tables(self) -> dict[str, Any]:
        """The factor tables plus both Dense layers (``hidden_kernel`` ``(2F, H)``, user
        rows first, ``hidden_bias``, ``output_kernel`` ``(H,)``, ``output_bias``)."""
        kernel, bias = self.hidden.get_weights()
        out_kernel, out_bias = self.output_layer.get_weights()
        return {
            **super().scoring_tables(),
            "hidden_kernel": np.asarray(kernel, np.float32),
            "hidden_bias": np.asarray(bias, np.float32),
            "output_kernel": np.asarray(out_kernel, np.float32).reshape(-1),
            "output_bias": float(np.asarray(out_bias).reshape(-1)[0]),
        }

    def score(self, user_vector, movie_vector, users, movies, training: bool):
        x = ops.concatenate([user_vector, movie_vector], axis=-1)
        x = self.dropout_embeddings(x, training=training)
        x = self.dropout_hidden(self.hidden(x), training=training)
        return self.scale(self.output_layer(x))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "embedding_dropout": self.embedding_dropout,
                "hidden_dropout": self.hidden_dropout,
                "hidden_units": self.hidden_units,
            }
        )
        return config


@register_model(
    "recommender-net",
    group="tutorial",
    loss="binary_crossentropy", output="unit",
    description="V4: keras.io RecommenderNet (per-row dot + biases, sigmoid), trained with BCE",
)
class RecommenderNet(EmbeddingModel):
    """V4 (``recommender-net``): the keras.io RecommenderNet with a per-row dot product.

    ``sigmoid(u . m + b_u + b_m)`` in [0, 1] ("unit" output), trained with binary
    cross-entropy on ratings scaled to [0, 1] (see ``training_targets``); ``predict_ratings``
    scales predictions back to rating units.
    """

    use_bias = True

    def score(self, user_vector, movie_vector, users, movies, training: bool):
        return ops.sigmoid(ops.add(_row_dot(user_vector, movie_vector), self.biases(users, movies)))


@register_model(
    "recommender-net-as-published",
    group="tutorial",
    loss="binary_crossentropy", output="unit", batch_dependent=True,
    description="V4 as keras.io publishes it: tensordot sums over the batch (kept to show the bug)",
)
class RecommenderNetAsPublished(RecommenderNet):
    """``recommender-net-as-published``: RecommenderNet exactly as keras.io publishes it.

    The published ``call`` computes ``ops.tensordot(user_vector, movie_vector, 2)``. With
    ``axes=2`` that contracts *both* axes, the batch axis included, so it is one scalar, the
    sum of the dot products of every row in the batch, and that same scalar is added to
    every row's biases. A row's prediction therefore depends on the other rows it is scored
    with, and the factor vectors only learn a batch-wide offset.

    It is kept only so that the comparison can show what this bug costs; do not use it to
    recommend. Its predictions are batch-dependent (``ModelSpec.batch_dependent`` is True):
    score it in batches of the size it was trained with (``predict_ratings``' batch_size).
    """


    def score(self, user_vector, movie_vector, users, movies, training: bool):
        dot_user_movie = ops.tensordot(user_vector, movie_vector, 2)  # the published bug
        return ops.sigmoid(ops.add(dot_user_movie, self.biases(users, movies)))
