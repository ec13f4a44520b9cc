"""``blend``: a weighted sum of several trained models, weights fitted on held-out ratings.

    rating(u, i) = intercept + a_u f_u + a_i f_i
                   + sum_k (w_k + w_k^u f_u + w_k^i f_i) * clip(rating_k(u, i))

Different models make different mistakes (a factor model smooths over similar users, an
item autoencoder reads each movie's own rating vector), so a linear blend of their
predictions beats the best of them. How much to trust each one also depends on how much
is known about the user and the movie, so each member's weight is linear in the *support*
features ``f_u = log(1 + ratings of user u)`` and ``f_i = log(1 + ratings of movie i)`` in
the training data ("feature-weighted linear stacking", Sill et al. 2009). The blend keeps
``f_u`` and ``f_i`` as non-trainable weights, so predictions need nothing else. A blend
built without ``support_weights`` (as saved before, or by
:func:`~movierec.models.build_model`) has ``w_k`` only.

:func:`movierec.training.blend.fit_blend` fits it on ratings held out of the training data,
never on the evaluation data.

The result is an ordinary registered Keras model (:class:`BlendModel`): ``predict_ratings``,
saving and reloading work as for any model. The numpy recommender scores it from its
members' weights (:class:`movierec.recommend.scorers.BlendScorer`).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from movierec.checks import check_rating_range
from movierec.models.embedding import EmbeddingModel
from movierec.models.registry import model_class, model_names, model_spec, register_model
from movierec.support import support_features

__all__ = ["DEFAULT_MEMBERS", "BlendModel", "member_spec"]

DEFAULT_MEMBERS = ({"model": "dot-bias"}, {"model": "autorec"})
"""The members of a blend built without ``members`` (the conformance tests build one)."""

_BASE_KEYS = ("n_users", "n_movies", "rating_range", "name", "trainable", "dtype")


@register_model(
    "blend",
    description="a least-squares blend of several models, weights fitted on ratings held "
                "out of the training data",
    trainer="blend",
    scoring="blend",
)
class BlendModel(EmbeddingModel):
    """A weighted sum of registered member models (the formula in the module docstring).

    Args:
        n_users, n_movies, factors, l2, rating_range, seed: as :class:`EmbeddingModel`;
            ``factors``, ``l2`` and ``seed`` are the defaults of members that do not set them.
        members: one dict per member: ``{"model": name, **constructor arguments}`` (the
            shared ``n_users``, ``n_movies`` and ``rating_range`` are filled in). Default
            :data:`DEFAULT_MEMBERS`.
        blend_weights: ``w_k``, one per member (default: equal weights summing to 1).
        intercept: added to the weighted sum.
        support_weights: ``[w_k^u, w_k^i]`` per member; ``None`` (default): a plain blend,
            without the support features.
        support_bias: ``[a_u, a_i]`` (default zeros); only with ``support_weights``.

    Attributes:
        members: the member models (movierec models whose output is not batch-dependent).
        user_support, movie_support: non-trainable ``(n_users,)`` and ``(n_movies,)``
            support features ``f_u`` and ``f_i`` (only with ``support_weights``; set them
            with :meth:`set_support`).
        user_embedding, movie_embedding, user_bias, movie_bias: the first member's.
    """


    def __init__(self, n_users: int, n_movies: int, factors: int = 50, l2: float = 1e-6,
                 rating_range: tuple[float, float] | list[float] = (0.5, 5.0),
                 seed: int | None = None, members: list[dict] | None = None,
                 blend_weights: list[float] | None = None, intercept: float = 0.0,
                 support_weights: list[list[float]] | None = None,
                 support_bias: list[float] | None = None, **kwargs: Any) -> None:
        keras.Model.__init__(self, **kwargs)  # no tables of its own: the members have them
        low, high = check_rating_range(rating_range)
        if int(n_users) != n_users or n_users < 1 or int(n_movies) != n_movies or n_movies < 1:
            raise ValueError(f"n_users and n_movies must be positive integers, got "
                             f"{n_users!r} and {n_movies!r}")
        if l2 < 0:
            raise ValueError(f"l2 must not be negative, got {l2!r}")
        self.n_users, self.n_movies = int(n_users), int(n_movies)
        self.factors, self.l2 = int(factors), float(l2)
        self.rating_range = (low, high)
        self.seed = None if seed is None else int(seed)
        specs = [dict(spec) for spec in (members or DEFAULT_MEMBERS)]
        if not specs:
            raise ValueError("a blend needs at least one member")
        weights = [1.0 / len(specs)] * len(specs) if blend_weights is None else blend_weights
        if len(weights) != len(specs):
            raise ValueError(f"{len(specs)} members but {len(weights)} blend weights")
        self.member_specs: list[dict] = []
        built = []
        for k, spec in enumerate(specs):
            name = spec.get("model")
            if name not in model_names() or name == self.model_name:
                raise ValueError(f"unknown blend member model {name!r}")
            if model_spec(name).batch_dependent:
                raise ValueError(f"{name} is batch-dependent and cannot be blended")
            arguments = {"factors": self.factors, "l2": self.l2,
                         "seed": None if self.seed is None else self.seed + 101 * (k + 1),
                         **{key: value for key, value in spec.items() if key != "model"}}
            self.member_specs.append({"model": name, **arguments})
            built.append(model_class(name)(self.n_users, self.n_movies,
                                             rating_range=self.rating_range, **arguments))
        self.members = built
        self.blend_weights = [float(w) for w in weights]
        self.intercept = float(intercept)
        self.support_weights: list[list[float]] | None = None
        self.support_bias: list[float] | None = None
        if support_weights is not None:
            if len(support_weights) != len(specs) or any(len(w) != 2 for w in support_weights):
                raise ValueError(f"support_weights needs [user, movie] weights for each of the "
                                 f"{len(specs)} members")
            self.support_weights = [[float(u), float(i)] for u, i in support_weights]
            bias = [0.0, 0.0] if support_bias is None else support_bias
            if len(bias) != 2:
                raise ValueError(f"support_bias must be [user, movie], got {support_bias!r}")
            self.support_bias = [float(b) for b in bias]
        elif support_bias is not None:
            raise ValueError("support_bias needs support_weights")

    # The contract's layer attributes, from the first member (not tracked twice).
    @property
    def user_embedding(self):
        return self.members[0].user_embedding

    @property
    def movie_embedding(self):
        return self.members[0].movie_embedding

    @property
    def user_bias(self):
        return self.members[0].user_bias

    @property
    def movie_bias(self):
        return self.members[0].movie_bias

    def build(self, input_shape=None) -> None:
        for member in self.members:
            if not member.built:
                member.build((None, 2))
        if self.support_weights is not None and getattr(self, "user_support", None) is None:
            self.user_support = self.add_weight(shape=(self.n_users,), name="user_support",
                                                initializer="zeros", trainable=False)
            self.movie_support = self.add_weight(shape=(self.n_movies,), name="movie_support",
                                                 initializer="zeros", trainable=False)
        self.built = True

    def set_support(self, pairs: np.ndarray) -> None:
        """Set the support features from the training pairs the members were trained on."""
        if self.support_weights is None:
            raise ValueError("this blend has no support features (support_weights is None)")
        if not self.built:
            self.build((None, 2))
        user, movie = support_features(pairs, self.n_users, self.n_movies)
        self.user_support.assign(user)
        self.movie_support.assign(movie)

    def call(self, inputs, training: bool = False):
        low, high = self.rating_range
        total = ops.convert_to_tensor(self.intercept)
        weights: list[Any] = list(self.blend_weights)
        # support_weights and support_bias are set together in __init__.
        if self.support_weights is not None and self.support_bias is not None:
            f_u = ops.expand_dims(ops.take(self.user_support, inputs[:, 0]), -1)
            f_i = ops.expand_dims(ops.take(self.movie_support, inputs[:, 1]), -1)
            a_u, a_i = self.support_bias
            total = ops.add(total, ops.add(ops.multiply(f_u, a_u), ops.multiply(f_i, a_i)))
            weights = [ops.add(ops.add(ops.multiply(f_u, w_u), ops.multiply(f_i, w_i)), w)
                       for w, (w_u, w_i) in zip(weights, self.support_weights, strict=True)]
        for member, weight in zip(self.members, weights, strict=True):
            out = member(inputs, training=training)
            if model_spec(member.model_name).output == "unit":
                out = ops.add(ops.multiply(out, high - low), low)
            total = ops.add(total, ops.multiply(ops.clip(out, low, high), weight))
        return total

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"members": [dict(spec) for spec in self.member_specs],
                       "blend_weights": list(self.blend_weights),
                       "intercept": self.intercept})
        if self.support_weights is not None and self.support_bias is not None:
            config.update({"support_weights": [list(w) for w in self.support_weights],
                           "support_bias": list(self.support_bias)})
        return config


def member_spec(model: EmbeddingModel) -> dict:
    """The ``members`` entry that rebuilds ``model``: its config (which mirrors its
    constructor) without the arguments the blend shares with its members."""
    return {"model": model.model_name,
            **{k: v for k, v in model.get_config().items() if k not in _BASE_KEYS}}
