"""``mult-dae``: a denoising autoencoder with a multinomial likelihood (Liang et al.,
"Variational Autoencoders for Collaborative Filtering", WWW 2018), rating-weighted.

A ranking model: its score orders movies and is no rating. Each user is a row ``x_u`` over
the movies, as ``ease``'s input::

    x_u[i] = 1               if u rated i >= positive (4.0 by default)
           = negative_weight if u rated i below it, 0 if unrated

encoded through one tanh layer of ``factors`` units and decoded to one logit per movie::

    h_u = tanh(dropout(x_u / |x_u|) W_enc + b_enc)        (dropout only while training)
    logits_u = h_u W_dec + b_dec,   score(u, i) = logits_u[i]

trained by Adam on the multinomial log-likelihood of the row,
``-sum_i x_u[i] log softmax(logits_u)[i]`` (averaged over a batch of users), plus ``l2`` on
both kernels. The softmax over every movie makes the movies compete for the user's
probability mass, which is what a top-10 needs.

The training rows are a non-trainable ``(n_users, n_movies)`` weight (set by
:meth:`MultDAEModel.set_history`, saved with the model), so a reloaded ``.keras`` file
scores alone; being dense, the model refuses tables beyond ``MAX_CELLS`` cells. The decoder
is the movie embedding table (``W_dec^T``) and ``b_dec`` the movie bias table, so the numpy
recommender scores it as a dot product: :meth:`MultDAEModel.scoring_tables` computes every
user's ``h_u`` once from their row, and :meth:`MultDAEModel.fold_in` the ``h`` of a new
user from their ratings with the same numpy function.

Trained by the ``autoencoder`` trainer (``movierec.training.autoencoder``): ``fit`` on user
indices (a row-wise batch, as ``u-autorec``), ``batch_size`` counting users.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import keras
import numpy as np
from keras import ops

from movierec.errors import MovierecError
from movierec.models.embedding import EmbeddingModel, value_of
from movierec.models.fold_in import FoldIn, liked_weights
from movierec.models.registry import register_model

__all__ = ["MAX_CELLS", "MultDAEModel", "encode_rows", "input_rows"]

MAX_CELLS = 200_000_000
"""Largest ``n_users * n_movies`` the dense input matrix may have (800 MB of float32)."""

_ENCODER, _DROPOUT = 8, 9  # seed offsets beyond EmbeddingModel's


def input_rows(users: np.ndarray, movies: np.ndarray, ratings: np.ndarray, n_users: int,
               n_movies: int, negative_weight: float, positive: float) -> np.ndarray:
    """The ``(n_users, n_movies)`` float32 input rows ``x`` of the given ratings."""
    matrix = np.zeros((n_users, n_movies), dtype=np.float32)
    ratings = np.asarray(ratings, dtype=np.float32).reshape(-1)
    matrix[users, movies] = liked_weights(ratings, positive, negative_weight)
    return matrix


def encode_rows(rows: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``tanh(x / |x| W_enc + b_enc)`` of input rows ``x`` (an all-zero row stays zero
    before the bias), in numpy: the model's encoder at inference."""
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.sqrt(np.sum(np.square(rows), axis=1, keepdims=True))
    normalized = rows / np.maximum(norms, 1e-12)
    return np.tanh(normalized @ kernel + bias).astype(np.float32)


def encode_new_user(movies: np.ndarray, ratings: np.ndarray, *, n_movies: int,
                    negative_weight: float, positive: float,
                    encode: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A new user's code: their input row (as :func:`input_rows` builds one) through
    ``encode``, the model's numpy encoder."""
    movies = np.asarray(movies, dtype=np.int64).reshape(-1)
    row = input_rows(np.zeros(len(movies), np.int64), movies, ratings, 1, n_movies,
                     negative_weight, positive)
    return encode(row)[0]


@register_model(
    "mult-dae",
    trainer="autoencoder",
    group="ranking",
    description="Mult-DAE: each user's liked (and, weighted, disliked) movies through a "
                "tanh code, softmax over every movie; ranks, predicts no rating",
)
class MultDAEModel(EmbeddingModel):
    """Rating-weighted Mult-DAE (see the module docstring).

    Args:
        n_users, n_movies, rating_range, seed: as :class:`EmbeddingModel`.
        factors: width of the tanh code (the paper: 200).
        l2: L2 penalty (``l2 * sum(w^2)``) on the encoder and decoder kernels.
        dropout: dropout rate on the normalized input row while training.
        negative_weight: the input's value for a movie rated below ``positive``.
        positive: the rating from which a movie counts as liked.

    Attributes:
        encoder, encoder_bias: ``W_enc`` ``(n_movies, factors)`` and ``b_enc``.
        movie_embedding, movie_bias: ``W_dec^T`` ``(n_movies, factors)`` and ``b_dec``.
        user_items: non-trainable ``(n_users, n_movies)`` input rows ``x``.
    """

    use_bias = True
    link = "linear"

    def __init__(self, n_users: int, n_movies: int, factors: int = 200, l2: float = 1e-6,
                 rating_range: tuple[float, float] | list[float] = (0.5, 5.0),
                 seed: int | None = None, dropout: float = 0.5,
                 negative_weight: float = 0.3, positive: float = 4.0,
                 **kwargs: Any) -> None:
        if int(n_users) * int(n_movies) > MAX_CELLS:
            raise MovierecError(
                f"mult-dae keeps a dense {n_users:,} x {n_movies:,} input matrix, more than "
                f"{MAX_CELLS:,} cells; use ials for a dataset this large"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if negative_weight < 0:
            raise ValueError(f"negative_weight must not be negative, got {negative_weight!r}")
        super().__init__(n_users, n_movies, factors, l2, rating_range, seed, **kwargs)
        self.dropout = float(dropout)
        self.negative_weight = float(negative_weight)
        self.positive = float(positive)
        self.input_dropout = keras.layers.Dropout(self.dropout, seed=self._seed(_DROPOUT),
                                                  name="input_dropout")

    # The user side has no table (a user is their row); the decoder is the movie table.
    def _factor_table(self, rows: int, offset: int, name: str) -> keras.layers.Embedding | None:
        if name == "user_embedding":
            return None
        return keras.layers.Embedding(
            rows, self.factors,
            embeddings_initializer=keras.initializers.GlorotUniform(seed=self._seed(offset)),
            embeddings_regularizer=keras.regularizers.L2(self.l2) if self.l2 else None,
            name=name)

    def _bias_table(self, rows: int, offset: int, name: str) -> keras.layers.Embedding | None:
        if name == "user_bias":
            return None
        return keras.layers.Embedding(rows, 1, embeddings_initializer="zeros", name=name)

    def build_head(self) -> None:
        if getattr(self, "encoder", None) is not None:
            return
        self.encoder = self.add_weight(
            shape=(self.n_movies, self.factors), name="encoder",
            initializer=keras.initializers.GlorotUniform(seed=self._seed(_ENCODER)),
            regularizer=keras.regularizers.L2(self.l2) if self.l2 else None)
        self.encoder_bias = self.add_weight(shape=(self.factors,), name="encoder_bias",
                                            initializer="zeros")
        self.user_items = self.add_weight(shape=(self.n_users, self.n_movies),
                                          name="user_items", initializer="zeros",
                                          trainable=False)

    # -- forward pass -------------------------------------------------------------------------

    @property
    def decoder_bias(self) -> keras.layers.Embedding:
        """``b_dec``: the movie bias table (always built: ``use_bias``)."""
        if self.movie_bias is None:  # pragma: no cover - built in __init__
            raise ValueError("mult-dae has no movie bias table")
        return self.movie_bias

    def code(self, rows, training: bool = False):
        """``h = tanh(dropout(x / |x|) W_enc + b_enc)`` of ``(batch, n_movies)`` rows."""
        norms = ops.sqrt(ops.sum(ops.square(rows), axis=1, keepdims=True))
        normalized = ops.divide(rows, ops.maximum(norms, 1e-12))
        normalized = self.input_dropout(normalized, training=training)
        return ops.tanh(ops.add(ops.matmul(normalized, self.encoder), self.encoder_bias))

    def call(self, inputs, training: bool = False):
        if len(inputs.shape) == 1:  # row-wise training: every movie's logit for each user
            code = self.code(ops.take(self.user_items, inputs, axis=0), training=training)
            logits = ops.matmul(code, ops.transpose(self.movie_embedding.embeddings))
            return ops.add(logits, ops.reshape(self.decoder_bias.embeddings, (1, -1)))
        users, movies = inputs[:, 0], inputs[:, 1]
        code = self.code(ops.take(self.user_items, users, axis=0), training=training)
        return ops.add(ops.sum(ops.multiply(code, self.movie_embedding(movies)), axis=-1,
                               keepdims=True), self.decoder_bias(movies))

    def compute_output_shape(self, input_shape):
        if len(input_shape) == 1:
            return (input_shape[0], self.n_movies)
        return (input_shape[0], 1)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Row-wise: the multinomial negative log-likelihood of ``y`` (the batch's input
        rows), summed over movies and averaged over users, plus the L2 penalties."""
        if x is None or len(x.shape) != 1:
            return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                        training=training)
        log_probabilities = ops.log_softmax(y_pred, axis=-1)
        loss = ops.negative(ops.mean(ops.sum(ops.multiply(log_probabilities, y), axis=-1)))
        for penalty in self.losses:
            loss = ops.add(loss, ops.cast(penalty, loss.dtype))
        return loss

    # -- data, numpy scoring, fold-in -----------------------------------------------------------

    def set_history(self, pairs: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """Store the training rows ``x`` of ``pairs`` and their ratings; return them."""
        pairs = np.asarray(pairs)
        rows = input_rows(pairs[:, 0], pairs[:, 1], ratings, self.n_users, self.n_movies,
                          self.negative_weight, self.positive)
        if not self.built:
            self.build((None, 2))
        self.user_items.assign(rows)
        return rows

    def numpy_encoder(self) -> Callable[[np.ndarray], np.ndarray]:
        """Input rows -> codes, in numpy, over a copy of the current weights."""
        return partial(encode_rows, kernel=value_of(self.encoder),
                       bias=value_of(self.encoder_bias))

    def scoring_tables(self) -> dict[str, Any]:
        """``score(u, i) = h_u . W_dec[:, i] + b_dec[i]``, every ``h_u`` from the stored rows;
        a new user's ``h`` by the same encoder (the ``fold_in`` entry)."""
        encode = self.numpy_encoder()
        return {"user_vectors": encode(value_of(self.user_items)),
                "movie_vectors": value_of(self.movie_embedding.embeddings),
                "user_bias": None,
                "movie_bias": value_of(self.decoder_bias.embeddings).reshape(-1),
                "link": "linear",
                "fold_in": FoldIn(
                    method=f"{self.model_name}'s encoder on their ratings (1 per movie rated "
                           f">= {self.positive:g}, {self.negative_weight:g} per lower rating)",
                    rule=partial(encode_new_user, n_movies=self.n_movies,
                                 negative_weight=self.negative_weight,
                                 positive=self.positive, encode=encode))}

    def fold_in(self, movies: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """A new user's code (float32 ``(factors,)``) from their ratings of movie indices
        ``movies``: the encoder of :meth:`scoring_tables` on their row."""
        return encode_new_user(movies, ratings, n_movies=self.n_movies,
                               negative_weight=self.negative_weight, positive=self.positive,
                               encode=self.numpy_encoder())

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"dropout": self.dropout, "negative_weight": self.negative_weight,
                       "positive": self.positive})
        return config
