"""``autorec``, ``u-autorec``: autoencoders over rating vectors (AutoRec), with embeddings.

Sedhain et al., "AutoRec: Autoencoders Meet Collaborative Filtering" (WWW 2015). In the
item-based form (I-AutoRec, the default) each movie is the vector of the ratings its users
gave it (``r_i``, zeros where unrated), encoded into ``factors`` sigmoid units and decoded
back into one predicted rating per user. Here the code also gets a free per-movie embedding
(helps movies with few ratings) and the output a movie bias:

    h_i = sigmoid(r_i W + e_i + b)                (encoder; e_i = movie_embedding)
    rating(u, i) = h_i . v_u + c_u + b_i          (decoder; v_u = user_embedding,
                                                   c_u = user_bias, b_i = movie_bias)

In ``u-autorec`` (U-AutoRec, :class:`UserAutoRecModel`) the roles swap: each user's rating
vector over movies is encoded (``e_u`` = user_embedding) and decoded per movie (``v_i`` =
movie_embedding). It is less accurate alone but errs differently, which a blend uses.

The training ratings are a non-trainable dense ``(n_movies, n_users)`` weight, set by
:meth:`AutoRecModel.training_examples` and saved with the model, so predictions need nothing
else. Being dense, the model refuses tables beyond ``MAX_CELLS`` cells (fine for
latest-small and 100k, not for the 25M release).

Training is row-wise, as in the paper: ``fit`` sees one example per movie (per user when
user-based) and reconstructs its whole rating vector, with the squared error counted on the
observed ratings only; ``batch_size`` counts movies (users). Calling the model on
``(batch, 2)`` pairs gives ``(batch, 1)`` ratings like every other model. ``l2`` is a Keras L2
penalty (``l2 * sum(w^2)``) on ``W`` and on the user and movie tables, added to each step.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from movierec.models.embedding import EmbeddingModel, value_of
from movierec.models.registry import register_model

__all__ = ["MAX_CELLS", "AutoRecModel", "UserAutoRecModel"]

MAX_CELLS = 200_000_000
"""Largest ``n_users * n_movies`` the dense rating matrix may have (800 MB of float32)."""

_ENCODER = 8  # seed offset beyond EmbeddingModel's
SHRINKAGE = 5.0
"""Ratings' worth of the global mean added to each decoded row's mean (its starting bias)."""


@register_model(
    "autorec",
    description="I-AutoRec: each movie's rating vector through a sigmoid code (+ movie "
                "embedding), decoded per user; trained item-wise",
)
class AutoRecModel(EmbeddingModel):
    """I-AutoRec with a movie embedding and biases (see the module docstring).

    Args:
        n_users, n_movies, factors, l2, rating_range, seed: as :class:`EmbeddingModel`;
            ``factors`` is the width of the hidden code.

    Attributes:
        encoder: ``(n_users, factors)`` kernel applied to a movie's rating vector
            (``(n_movies, factors)`` applied to a user's when user-based).
        encoder_bias: ``(factors,)``.
        item_ratings: non-trainable ``(n_movies, n_users)`` training ratings (0: unrated).
    """

    use_bias = True
    user_based: ClassVar[bool] = False
    """Encode users' rating vectors (U-AutoRec) instead of movies' (I-AutoRec)."""

    def __init__(self, n_users: int, n_movies: int, factors: int = 50, l2: float = 1e-6,
                 rating_range: tuple[float, float] | list[float] = (0.5, 5.0),
                 seed: int | None = None, **kwargs: Any) -> None:
        if int(n_users) * int(n_movies) > MAX_CELLS:
            raise ValueError(
                f"autorec keeps a dense {n_movies} x {n_users} rating matrix, more than "
                f"{MAX_CELLS:,} cells; use dot-bias for a dataset this large"
            )
        super().__init__(n_users, n_movies, factors, l2, rating_range, seed, **kwargs)

    # Small random codes and zero biases, as the paper's initialisation; the tutorial's
    # he_normal (scaled by the table size) would start the decoder at zero.
    def _factor_table(self, rows: int, offset: int, name: str) -> keras.layers.Embedding:
        decoder = "movie_embedding" if self.user_based else "user_embedding"
        return keras.layers.Embedding(
            rows, self.factors,
            embeddings_initializer=keras.initializers.RandomNormal(
                0.0, 0.03 if name == decoder else 0.01, seed=self._seed(offset)),
            embeddings_regularizer=keras.regularizers.L2(self.l2) if self.l2 else None,
            name=name,
        )

    def _bias_table(self, rows: int, offset: int, name: str) -> keras.layers.Embedding:
        return keras.layers.Embedding(rows, 1, embeddings_initializer="zeros", name=name)

    def build_head(self) -> None:
        if getattr(self, "encoder", None) is not None:
            return
        inputs = self.n_movies if self.user_based else self.n_users
        self.encoder = self.add_weight(
            shape=(inputs, self.factors), name="encoder",
            initializer=keras.initializers.RandomNormal(0.0, 0.03, seed=self._seed(_ENCODER)),
            regularizer=keras.regularizers.L2(self.l2) if self.l2 else None,
        )
        self.encoder_bias = self.add_weight(shape=(self.factors,), name="encoder_bias",
                                            initializer="zeros")
        self.item_ratings = self.add_weight(shape=(self.n_movies, self.n_users),
                                            name="item_ratings", initializer="zeros",
                                            trainable=False)

    # -- forward pass -----------------------------------------------------------------------

    def code(self, rows, embedded):
        """The hidden code of each encoded row (movie, or user when user-based)."""
        ratings = (ops.transpose(ops.take(self.item_ratings, rows, axis=1)) if self.user_based
                   else ops.take(self.item_ratings, rows, axis=0))
        return ops.sigmoid(ops.add(ops.add(ops.matmul(ratings, self.encoder), embedded),
                                   self.encoder_bias))

    def _tables(self):
        """(encoded side's embedding and bias layers, decoded side's)."""
        users = (self.user_embedding, self.user_bias)
        movies = (self.movie_embedding, self.movie_bias)
        return (users, movies) if self.user_based else (movies, users)

    def call(self, inputs, training: bool = False):
        if len(inputs.shape) == 1:  # row-wise training: reconstruct whole rating vectors
            (embedding, bias), (decoder, decoder_bias) = self._tables()
            code = self.code(inputs, embedding(inputs))
            decoded = ops.matmul(code, ops.transpose(decoder.embeddings))
            return ops.add(ops.add(decoded, ops.reshape(decoder_bias.embeddings, (1, -1))),
                           bias(inputs))
        return super().call(inputs, training=training)

    def score(self, user_vector, movie_vector, users, movies, training: bool):
        if self.user_based:
            code, other = self.code(users, user_vector), movie_vector
        else:
            code, other = self.code(movies, movie_vector), user_vector
        return ops.add(ops.sum(ops.multiply(code, other), axis=-1, keepdims=True),
                       self.biases(users, movies))

    def scoring_tables(self) -> dict[str, Any]:
        """The model as a biased dot product, for scoring with numpy.

        ``rating(u, i) = user_vectors[u] . movie_vectors[i] + user_bias[u] + movie_bias[i]``
        (linear link, then clipped to the range): the encoded side's codes are computed once
        from the stored ratings. A numpy recommender can rank with these like dot-bias.
        """
        ratings = value_of(self.item_ratings)
        encoder, encoder_bias = value_of(self.encoder), value_of(self.encoder_bias)
        users = value_of(self.user_embedding.embeddings)
        movies = value_of(self.movie_embedding.embeddings)
        if self.user_based:
            codes = 1.0 / (1.0 + np.exp(-(ratings.T @ encoder + users + encoder_bias)))
            users = codes.astype(np.float32)
        else:
            codes = 1.0 / (1.0 + np.exp(-(ratings @ encoder + movies + encoder_bias)))
            movies = codes.astype(np.float32)
        user_bias, movie_bias = self.bias_tables()
        return {"user_vectors": users, "movie_vectors": movies,
                "user_bias": value_of(user_bias.embeddings).reshape(-1),
                "movie_bias": value_of(movie_bias.embeddings).reshape(-1),
                "link": "linear"}

    def compute_output_shape(self, input_shape):
        if len(input_shape) == 1:
            return (input_shape[0], self.n_movies if self.user_based else self.n_users)
        return (input_shape[0], 1)

    # -- training ---------------------------------------------------------------------------

    def training_examples(self, pairs: np.ndarray, ratings: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Store the training ratings in the model and return the row-wise examples.

        Args:
            pairs: int ``(n, 2)`` training ``[user_index, movie_index]``.
            ratings: the training targets (rating units, all above 0).

        Returns:
            ``(rows, vectors)``: every movie index (user index when user-based) and its
            rating vector (0 where unrated), what ``fit`` trains on.
        """
        ratings = np.asarray(ratings, dtype=np.float32).reshape(-1)
        matrix = np.zeros((self.n_movies, self.n_users), dtype=np.float32)
        matrix[pairs[:, 1], pairs[:, 0]] = ratings
        if not self.built:
            self.build((None, 2))
        self.item_ratings.assign(matrix)
        if self.user_based:
            self._start_biases_at_means(pairs, ratings)
            return np.arange(self.n_users, dtype=np.int32), np.ascontiguousarray(matrix.T)
        return np.arange(self.n_movies, dtype=np.int32), matrix

    def _start_biases_at_means(self, pairs: np.ndarray, ratings: np.ndarray) -> None:
        """Start the decoded side's biases at their (shrunk) mean ratings.

        The code then only has to learn deviations. It helps U-AutoRec a lot; I-AutoRec
        blended worse with it, so only U-AutoRec starts this way
        (``benchmarks/results/tuning-notes.md``).
        """
        (_, _), (_, decoder_bias) = self._tables()
        column = 1 if self.user_based else 0
        size = decoder_bias.embeddings.shape[0]
        sums = np.bincount(pairs[:, column], weights=ratings, minlength=size)
        counts = np.bincount(pairs[:, column], minlength=size)
        mean = float(ratings.mean()) if len(ratings) else 0.0
        shrunk = (sums + SHRINKAGE * mean) / (counts + SHRINKAGE)
        decoder_bias.embeddings.assign(shrunk.reshape(-1, 1).astype(np.float32))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if x is None or len(x.shape) != 1:
            return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                        training=training)
        # Row-wise: squared error on the observed ratings (y > 0), summed per row and
        # averaged over the batch's rows, plus the L2 penalties.
        observed = ops.cast(ops.greater(y, 0.0), y_pred.dtype)
        error = ops.multiply(observed, ops.square(ops.subtract(y_pred, y)))
        loss = ops.mean(ops.sum(error, axis=-1))
        for penalty in self.losses:
            loss = ops.add(loss, ops.cast(penalty, loss.dtype))
        return loss


@register_model(
    "u-autorec",
    description="U-AutoRec: each user's rating vector through a sigmoid code (+ user "
                "embedding), decoded per movie; trained user-wise",
)
class UserAutoRecModel(AutoRecModel):
    """``u-autorec``: U-AutoRec, each user's rating vector encoded, decoded per movie.

    ``h_u = sigmoid(r_u W + e_u + b)``, ``rating(u, i) = h_u . v_i + b_i + c_u``, with
    ``e_u`` = user_embedding and ``v_i`` = movie_embedding; trained user-wise.
    """

    user_based = True
