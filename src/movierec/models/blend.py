"""``blend``: a weighted sum of several trained models, weights fitted on held-out ratings.

    rating(u, i) = intercept + a_u f_u + a_i f_i
                   + sum_k (w_k + w_k^u f_u + w_k^i f_i) * clip(rating_k(u, i))

Different models make different mistakes (a factor model smooths over similar users, an
item autoencoder reads each movie's own rating vector), so a linear blend of their
predictions beats the best of them. How much to trust each one also depends on how much
is known about the user and the movie, so each member's weight is linear in the *support*
features ``f_u = log(1 + ratings of user u)`` and ``f_i = log(1 + ratings of movie i)`` in
the training data ("feature-weighted linear stacking", Sill et al. 2009). The blend keeps
``f_u`` and ``f_i`` as non-trainable weights, so predictions need nothing else. With the
same members this took the validation RMSE from 0.8964 to 0.8938 on 100k and from 0.8161 to
0.8145 on latest-small. (Squared counts as extra features, with a ridge penalty tuned for
them, gained 0.0006 and 0.0013 more; the users' rating spread or the members' disagreement,
under 0.0005.) A blend built without ``support_weights`` (as saved before, or by
:func:`~movierec.models.build_model`) has ``w_k`` only.

:func:`fit_blend` builds it without touching the evaluation data:

1. hold out 10 % of the *training* ratings (the same draw as
   :func:`movierec.splits.validation_split`, seed 42) and train every member on the rest,
   with early stopping on that holdout;
2. fit all the weights above by least squares on the holdout predictions, with the
   support features counted on the ratings those members were trained on;
3. retrain every member on all the training ratings for the number of epochs step 1
   found best, and combine them with those weights. (Also keeping step 1's fits, each
   member then the average of two, measured no better on the validation splits: 0.8179
   against 0.8161 on latest-small, 0.8969 against 0.8964 on 100k.) The support features
   are then counted on all the training ratings.

The result is an ordinary registered Keras model (:class:`BlendModel`): ``predict_ratings``,
saving and reloading work as for any model. The numpy recommender scores it from its
members' weights (:class:`movierec.recommend.scorers.BlendScorer`).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from keras import ops

from movierec.errors import MovierecError
from movierec.models.embedding import EmbeddingModel

if TYPE_CHECKING:
    from movierec.training import TrainConfig, TrainResult

__all__ = ["DEFAULT_MEMBERS", "BlendModel", "fit_blend", "support_features", "support_of"]

DEFAULT_MEMBERS = ({"model": "dot-bias"}, {"model": "autorec"})
"""The members of a blend built without ``members`` (the conformance tests build one)."""

HOLDOUT = 0.1
"""Fraction of the training ratings held out to fit the blend weights."""

_BASE_KEYS = ("n_users", "n_movies", "rating_range", "name", "trainable", "dtype")


@keras.saving.register_keras_serializable(package="movierec")
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

    model_name = "blend"

    def __init__(self, n_users: int, n_movies: int, factors: int = 50, l2: float = 1e-6,
                 rating_range: tuple[float, float] | list[float] = (0.5, 5.0),
                 seed: int | None = None, members: list[dict] | None = None,
                 blend_weights: list[float] | None = None, intercept: float = 0.0,
                 support_weights: list[list[float]] | None = None,
                 support_bias: list[float] | None = None, **kwargs: Any) -> None:
        from movierec.models import MODEL_CLASSES, model_spec

        keras.Model.__init__(self, **kwargs)  # no tables of its own: the members have them
        low, high = (float(bound) for bound in rating_range)
        if not low < high:
            raise ValueError(f"rating_range must be (min, max) with min < max, got {rating_range}")
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
            if name not in MODEL_CLASSES or name == self.model_name:
                raise ValueError(f"unknown blend member model {name!r}")
            if model_spec(name).batch_dependent:
                raise ValueError(f"{name} is batch-dependent and cannot be blended")
            arguments = {"factors": self.factors, "l2": self.l2,
                         "seed": None if self.seed is None else self.seed + 101 * (k + 1),
                         **{key: value for key, value in spec.items() if key != "model"}}
            self.member_specs.append({"model": name, **arguments})
            built.append(MODEL_CLASSES[name](self.n_users, self.n_movies,
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
        from movierec.models import model_spec

        low, high = self.rating_range
        total = ops.convert_to_tensor(self.intercept)
        weights: list[Any] = list(self.blend_weights)
        if self.support_weights is not None:
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
        if self.support_weights is not None:
            config.update({"support_weights": [list(w) for w in self.support_weights],
                           "support_bias": list(self.support_bias)})
        return config


def support_of(counts: Any) -> np.ndarray:
    """The support feature of a user or movie with ``counts`` ratings: ``log(1 + counts)``."""
    return np.log1p(np.asarray(counts, dtype=np.float64)).astype(np.float32)


def support_features(pairs: np.ndarray, n_users: int, n_movies: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The support features of every user and every movie, from the ratings in ``pairs``."""
    return (support_of(np.bincount(pairs[:, 0], minlength=n_users)),
            support_of(np.bincount(pairs[:, 1], minlength=n_movies)))


def member_spec(model: EmbeddingModel) -> dict:
    """The ``members`` entry that rebuilds ``model``: its config (which mirrors its
    constructor) without the arguments the blend shares with its members."""
    return {"model": model.model_name,
            **{k: v for k, v in model.get_config().items() if k not in _BASE_KEYS}}


def holdout_indices(n: int, fraction: float = HOLDOUT, seed: int = 42
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(rest, holdout)`` row positions, drawn as ``validation_split`` draws them."""
    n_holdout = math.ceil(fraction * n)
    order = np.random.RandomState(seed).permutation(n)
    return order[n_holdout:], order[:n_holdout]


def fit_blend(config: TrainConfig, train_pairs: np.ndarray, train_ratings: np.ndarray,
              val_pairs: np.ndarray, val_ratings: np.ndarray, *, n_users: int, n_movies: int,
              rating_range: tuple[float, float], verbose: int | None = None) -> TrainResult:
    """Train ``config.members`` and blend them (see the module docstring).

    ``val_pairs``/``val_ratings`` are only scored (history and metrics), never used to
    choose anything.
    """
    from movierec import metrics
    from movierec.measure import measure
    from movierec.models import predict_ratings
    from movierec.training import TrainConfig, TrainResult, fit

    if not config.members:
        raise MovierecError(
            "model 'blend' needs its members' settings (TrainConfig.members); train it with "
            "--preset best, which defines them for each dataset"
        )
    member_configs = [TrainConfig.from_dict({"seed": config.seed, **dict(m)})
                      for m in config.members]
    started = time.perf_counter()
    with measure() as cost:
        rest, holdout = holdout_indices(len(train_pairs), seed=config.seed)
        columns, epochs = [], []
        for member in member_configs:
            result = fit(member, train_pairs[rest], train_ratings[rest], train_pairs[holdout],
                         train_ratings[holdout], n_users=n_users, n_movies=n_movies,
                         rating_range=rating_range, verbose=verbose)
            columns.append(predict_ratings(result.model, train_pairs[holdout]))
            epochs.append(result.metrics["best_epoch"] if member.early_stopping
                          else member.epochs)
        # Columns: intercept, f_u, f_i, the K predictions, then each times f_u, times f_i.
        user, movie = support_features(train_pairs[rest], n_users, n_movies)
        support = np.column_stack([user[train_pairs[holdout, 0]],
                                   movie[train_pairs[holdout, 1]]]).astype(np.float64)
        predictions = np.column_stack(columns).astype(np.float64)
        design = np.column_stack([np.ones(len(holdout)), support, predictions,
                                  predictions * support[:, :1], predictions * support[:, 1:]])
        coef = np.linalg.lstsq(design, train_ratings[holdout].astype(np.float64), rcond=None)[0]
        holdout_rmse = metrics.rmse(train_ratings[holdout],
                                    np.clip(design @ coef, *rating_range))
        k = len(columns)
        weights = [float(c) for c in coef[3:3 + k]]
        support_weights = [[float(u), float(i)]
                           for u, i in zip(coef[3 + k:3 + 2 * k], coef[3 + 2 * k:], strict=True)]
        final = [fit(replace(member, epochs=int(n), early_stopping=None), train_pairs,
                     train_ratings, val_pairs, val_ratings, n_users=n_users, n_movies=n_movies,
                     rating_range=rating_range, verbose=verbose).model
                 for member, n in zip(member_configs, epochs, strict=True)]
        blend = BlendModel(n_users, n_movies, factors=config.factors, l2=config.l2,
                           rating_range=rating_range, seed=config.seed,
                           members=[member_spec(m) for m in final], blend_weights=weights,
                           intercept=float(coef[0]), support_weights=support_weights,
                           support_bias=[float(coef[1]), float(coef[2])])
        blend.build((None, 2))
        for target, source in zip(blend.members, final, strict=True):
            target.set_weights(source.get_weights())
        blend.set_support(train_pairs)
        # Not compiled: nothing trains it further, and a saved optimizer that never ran
        # would only make loading warn.
    seconds = time.perf_counter() - started
    predicted = predict_ratings(blend, val_pairs)
    fitted = predict_ratings(blend, train_pairs)
    rmse, mae = metrics.rmse(val_ratings, predicted), metrics.mae(val_ratings, predicted)
    history = [{"epoch": 1, "loss": float(np.mean((fitted - train_ratings) ** 2)),
                "val_loss": float(np.mean((predicted - val_ratings) ** 2)), "val_rmse": rmse,
                "val_mae": mae, "seconds": seconds, "fit_seconds": seconds}]
    result_metrics = {
        "rmse": rmse, "mae": mae, "final_epoch_rmse": rmse, "best_epoch": 1,
        "best_epoch_rmse": rmse, "epochs_run": 1, "train_seconds": cost.seconds,
        "seconds_per_epoch": seconds, "ratings_per_second": len(train_pairs) / seconds,
        "peak_rss_mib": cost.peak_rss_mib, "parameters": int(blend.count_params()),
        "n_train": len(train_pairs), "n_validation": len(val_pairs),
        "eval_batch_size": 8192, "holdout_rmse": holdout_rmse,
        "blend_weights": weights, "intercept": float(coef[0]),
        "support_weights": support_weights, "support_bias": [float(coef[1]), float(coef[2])],
        "member_epochs": [int(n) for n in epochs],
    }
    return TrainResult(model=blend, config=config, history=history, metrics=result_metrics)
