"""``svdpp``: SVD++, a biased factor model whose user vector also reads which movies were rated.

Koren, "Factorization Meets the Neighborhood" (KDD 2008):

    rating(u, i) = mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)

with ``N(u)`` the movies user ``u`` rated in the training data, ``q_i`` = movie_embedding,
``p_u`` = user_embedding, ``y_j`` = :attr:`SVDppModel.implicit_factors`, ``b_u``/``b_i`` the
bias tables and ``mu`` a learned global offset (started at the mean training rating). The
implicit term lets a user with few ratings still get a vector from *what* they rated, and
makes its errors differ from plain matrix factorization's, which helps a blend.

The sum is a matrix product: the non-trainable ``(n_users, n_movies)`` weight
:attr:`SVDppModel.implicit` holds ``|N(u)|^-1/2`` where user ``u`` rated movie ``j`` (0
elsewhere), set from the training pairs by :meth:`SVDppModel.training_examples` and saved
with the model, so a batch's implicit vectors are ``implicit[users] @ implicit_factors``
(keras.ops only: any backend). Being dense, like AutoRec's rating matrix, the model refuses
tables beyond :data:`~movierec.models.autorec.MAX_CELLS` cells.

It trains on rating pairs, but with the ``adam`` optimizer only: the sparse row-wise step
(:mod:`movierec.models.sparse`) updates the batch's own rows, while here every movie a batch's
users rated gets a gradient. ``l2`` is a per-rating penalty, as in SGD matrix factorization:
each rating adds ``l2 * (|p_u|^2 + |q_i|^2 + |N(u)|^-1/2 sum_{j in N(u)} |y_j|^2)`` to its
squared error (biases are not penalized); that penalty measured better than a table-wide
Keras L2 penalty or other weightings of the ``y_j`` term
(``benchmarks/results/tuning-notes.md``).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from movierec.models.autorec import MAX_CELLS
from movierec.models.embedding import EmbeddingModel, value_of
from movierec.models.registry import register_model

__all__ = ["SVDppModel"]

_IMPLICIT = 9  # seed offset beyond EmbeddingModel's (and AutoRec's encoder)


@register_model(
    "svdpp",
    description="SVD++: biased factors, each user's vector plus the implicit factors of "
                "the movies they rated",
)
class SVDppModel(EmbeddingModel):
    """SVD++ (see the module docstring).

    Args:
        n_users, n_movies, factors, l2, rating_range, seed: as :class:`EmbeddingModel`.

    Attributes:
        implicit_factors: ``(n_movies, factors)``: ``y_j``, what rating movie ``j`` adds to
            a user's vector.
        global_bias: scalar ``mu``.
        implicit: non-trainable ``(n_users, n_movies)``: ``|N(u)|^-1/2`` where ``u`` rated
            ``j`` in training, else 0.
    """

    use_bias = True

    def __init__(self, n_users: int, n_movies: int, factors: int = 50, l2: float = 1e-6,
                 rating_range: tuple[float, float] | list[float] = (0.5, 5.0),
                 seed: int | None = None, **kwargs: Any) -> None:
        if int(n_users) * int(n_movies) > MAX_CELLS:
            raise ValueError(
                f"svdpp keeps a dense {n_users} x {n_movies} matrix of who rated what, more "
                f"than {MAX_CELLS:,} cells; use dot-bias for a dataset this large"
            )
        super().__init__(n_users, n_movies, factors, l2, rating_range, seed, **kwargs)

    # Penalties are per rating (see compute_loss), not on the whole tables.
    def _factor_table(self, rows: int, offset: int, name: str) -> keras.layers.Embedding:
        return keras.layers.Embedding(
            rows, self.factors,
            embeddings_initializer=keras.initializers.RandomNormal(0.0, 0.05,
                                                                   seed=self._seed(offset)),
            name=name,
        )

    # Biases start at zero: the global offset carries the mean.
    def _bias_table(self, rows: int, offset: int, name: str) -> keras.layers.Embedding:
        return keras.layers.Embedding(rows, 1, embeddings_initializer="zeros", name=name)

    def build_head(self) -> None:
        if getattr(self, "implicit_factors", None) is not None:
            return
        self.implicit_factors = self.add_weight(
            shape=(self.n_movies, self.factors), name="implicit_factors",
            initializer=keras.initializers.RandomNormal(0.0, 0.01, seed=self._seed(_IMPLICIT)),
        )
        self.global_bias = self.add_weight(shape=(), name="global_bias", initializer="zeros")
        self.implicit = self.add_weight(shape=(self.n_users, self.n_movies), name="implicit",
                                        initializer="zeros", trainable=False)

    def score(self, user_vector, movie_vector, users, movies, training: bool):
        implicit = ops.matmul(ops.take(self.implicit, users, axis=0), self.implicit_factors)
        dot = ops.sum(ops.multiply(ops.add(user_vector, implicit), movie_vector), axis=-1,
                      keepdims=True)
        return ops.add(ops.add(dot, self.biases(users, movies)), self.global_bias)

    def scoring_tables(self) -> dict[str, Any]:
        """The model as a biased dot product, for scoring with numpy.

        ``rating(u, i) = user_vectors[u] . movie_vectors[i] + user_bias[u] + movie_bias[i]``
        (linear link, then clipped to the range): each user's vector already includes its
        implicit term, and the user bias the global offset.
        """
        users = (value_of(self.user_embedding.embeddings)
                 + value_of(self.implicit) @ value_of(self.implicit_factors))
        user_bias, movie_bias = self.bias_tables()
        return {"user_vectors": users, "movie_vectors": value_of(self.movie_embedding.embeddings),
                "user_bias": (value_of(user_bias.embeddings).reshape(-1)
                              + value_of(self.global_bias)),
                "movie_bias": value_of(movie_bias.embeddings).reshape(-1),
                "link": "linear"}

    def training_examples(self, pairs: np.ndarray, ratings: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Store who rated what (and start the global offset at the mean rating).

        Args:
            pairs: int ``(n, 2)`` training ``[user_index, movie_index]``.
            ratings: the training targets (rating units).

        Returns:
            ``(pairs, ratings)`` unchanged: the model trains on rating pairs.
        """
        ratings = np.asarray(ratings, dtype=np.float32).reshape(-1)
        rated = np.zeros((self.n_users, self.n_movies), dtype=np.float32)
        rated[pairs[:, 0], pairs[:, 1]] = 1.0
        per_user = rated.sum(axis=1, keepdims=True)
        rated /= np.sqrt(np.maximum(per_user, 1.0))
        if not self.built:
            self.build((None, 2))
        self.implicit.assign(rated)
        self.global_bias.assign(float(ratings.mean()) if len(ratings) else 0.0)
        return pairs, ratings

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The mean squared error plus the per-rating penalty (see the module docstring)."""
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                    training=training)
        if not self.l2 or x is None:
            return loss
        users, movies = x[:, 0], x[:, 1]
        squares = ops.add(ops.sum(ops.square(self.user_embedding(users)), axis=-1),
                          ops.sum(ops.square(self.movie_embedding(movies)), axis=-1))
        # implicit[u] is |N(u)|^-1/2 on the movies u rated: |N(u)|^-1/2 sum_j |y_j|^2.
        implicit = ops.matmul(ops.take(self.implicit, users, axis=0),
                              ops.sum(ops.square(self.implicit_factors), axis=-1))
        penalty = ops.multiply(self.l2, ops.mean(ops.add(squares, implicit)))
        return ops.add(loss, ops.cast(penalty, loss.dtype))
