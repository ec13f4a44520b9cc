"""``blend``: a weighted sum of several trained models, weights fitted on held-out ratings.

    rating(u, i) = intercept + sum_k w_k * clip(rating_k(u, i))

Different models make different mistakes (a factor model smooths over similar users, an
item autoencoder reads each movie's own rating vector), so a linear blend of their
predictions beats the best of them. :func:`fit_blend` does it without touching the
evaluation data:

1. hold out 10 % of the *training* ratings (the same draw as
   :func:`movierec.splits.validation_split`, seed 42) and train every member on the rest,
   with early stopping on that holdout;
2. fit the blend weights by least squares (with an intercept) on the holdout predictions;
3. retrain every member on all the training ratings for the number of epochs step 1
   found best, and combine them with those weights. (Also keeping step 1's fits, each
   member then the average of two, measured no better on the validation splits: 0.8179
   against 0.8161 on latest-small, 0.8969 against 0.8964 on 100k.)

The result is an ordinary registered Keras model (:class:`BlendModel`): ``predict_ratings``,
saving and reloading work as for any model. It has no single factor table, so the numpy
recommender does not score it (use its members for that).
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

__all__ = ["DEFAULT_MEMBERS", "BlendModel", "fit_blend"]

DEFAULT_MEMBERS = ({"model": "dot-bias"}, {"model": "autorec"})
"""The members of a blend built without ``members`` (the conformance tests build one)."""

HOLDOUT = 0.1
"""Fraction of the training ratings held out to fit the blend weights."""

_BASE_KEYS = ("n_users", "n_movies", "rating_range", "name", "trainable", "dtype")


@keras.saving.register_keras_serializable(package="movierec")
class BlendModel(EmbeddingModel):
    """``intercept + sum_k w_k * clip(member_k(pairs))`` over registered member models.

    Args:
        n_users, n_movies, factors, l2, rating_range, seed: as :class:`EmbeddingModel`;
            ``factors``, ``l2`` and ``seed`` are the defaults of members that do not set them.
        members: one dict per member: ``{"model": name, **constructor arguments}`` (the
            shared ``n_users``, ``n_movies`` and ``rating_range`` are filled in). Default
            :data:`DEFAULT_MEMBERS`.
        blend_weights: one weight per member (default: equal weights summing to 1).
        intercept: added to the weighted sum.

    Attributes:
        members: the member models (movierec models whose output is not batch-dependent).
        user_embedding, movie_embedding, user_bias, movie_bias: the first member's.
    """

    model_name = "blend"

    def __init__(self, n_users: int, n_movies: int, factors: int = 50, l2: float = 1e-6,
                 rating_range: tuple[float, float] | list[float] = (0.5, 5.0),
                 seed: int | None = None, members: list[dict] | None = None,
                 blend_weights: list[float] | None = None, intercept: float = 0.0,
                 **kwargs: Any) -> None:
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
        self.built = True

    def call(self, inputs, training: bool = False):
        from movierec.models import model_spec

        low, high = self.rating_range
        total = None
        for member, weight in zip(self.members, self.blend_weights, strict=True):
            out = member(inputs, training=training)
            if model_spec(member.model_name).output == "unit":
                out = ops.add(ops.multiply(out, high - low), low)
            term = ops.multiply(ops.clip(out, low, high), weight)
            total = term if total is None else ops.add(total, term)
        return ops.add(total, self.intercept)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"members": [dict(spec) for spec in self.member_specs],
                       "blend_weights": list(self.blend_weights),
                       "intercept": self.intercept})
        return config


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
        design = np.column_stack([np.ones(len(holdout)), *columns]).astype(np.float64)
        coef = np.linalg.lstsq(design, train_ratings[holdout].astype(np.float64), rcond=None)[0]
        holdout_rmse = metrics.rmse(train_ratings[holdout],
                                    np.clip(design @ coef, *rating_range))
        final = [fit(replace(member, epochs=int(n), early_stopping=None), train_pairs,
                     train_ratings, val_pairs, val_ratings, n_users=n_users, n_movies=n_movies,
                     rating_range=rating_range, verbose=verbose).model
                 for member, n in zip(member_configs, epochs, strict=True)]
        blend = BlendModel(n_users, n_movies, factors=config.factors, l2=config.l2,
                           rating_range=rating_range, seed=config.seed,
                           members=[member_spec(m) for m in final],
                           blend_weights=[float(c) for c in coef[1:]], intercept=float(coef[0]))
        blend.build((None, 2))
        for target, source in zip(blend.members, final, strict=True):
            target.set_weights(source.get_weights())
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
        "blend_weights": [float(c) for c in coef[1:]], "intercept": float(coef[0]),
        "member_epochs": [int(n) for n in epochs],
    }
    return TrainResult(model=blend, config=config, history=history, metrics=result_metrics)
