"""Cold start: a user vector (and bias) for a new user from a few ratings, no retraining.

Movie vectors, biases and the network stay frozen; only the new user's parameters are
fitted, shrunk towards the average trained user (the prior ``u0``, ``b0``) so that one or
two ratings give a sensible, not extreme, user.

* ``dot``, ``autorec`` and ``u-autorec``, linear outputs (:func:`fold_in_embedding`): ridge
  regression of the ratings on the rated movies' vectors (the AutoRecs' from
  ``scoring_tables()``), ``min_{u, b} sum_j (u . m_j + b + b_j - r_j)^2 + lam |u - u0|^2 +
  reg (b - b0)^2``, without the biases for ``dot``. For U-AutoRec, whose trained users'
  vectors are codes of their rating vectors, this fits the code directly.
* ``dot-bias`` and ``recommender-net``, sigmoid outputs (:func:`fold_in_embedding`): the
  same least squares in logit space. Each rating is scaled to ``p = (r - min) / (max - min)``,
  clipped to ``[0.05, 0.95]`` (a 5-star rating would otherwise need an infinite logit) and
  turned into ``t = log(p / (1 - p))``; then
  the same least squares on ``t_j`` in place of ``r_j``, solved in closed form.
* ``mlp`` (:func:`fold_in_mlp`): ``h`` is not linear in ``u``, so ``u`` is found by
  ``steps`` steps of Adam (numpy, analytic gradient) on the squared rating error through the
  frozen network, from ``u0``, plus the penalty ``reg |u - u0|^2 / s2`` where ``s2`` is the
  mean squared distance of trained users from ``u0``. ``learning_rate`` is in units of the
  typical spread of one coordinate of a trained user vector.

``u0`` and ``b0`` are the mean vector and bias of the users with training ratings;
``lam = reg * mean |m|^2 / F``, so ``reg`` counts as that many pseudo-ratings of prior in
each direction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from movierec.errors import MovierecError
from movierec.recommend.scoring import ScoringWeights

__all__ = ["UserPrior", "check_new_ratings", "fold_in_embedding", "fold_in_mlp"]

LOGIT_EPS = 0.05
"""Scaled ratings are clipped to [eps, 1 - eps] before taking their logit."""
PINNED = 1e12
"""Penalty that holds the bias at zero for a model without user biases."""


@dataclass(frozen=True)
class UserPrior:
    """The average trained user, where a new user starts and is shrunk towards.

    Attributes:
        vector: ``u0``, the mean vector of the users with training ratings.
        bias: ``b0``, their mean bias (0.0 without user biases).
        spread: ``s2``, their mean squared distance from ``u0``.
    """

    vector: np.ndarray
    bias: float
    spread: float

    @classmethod
    def of_users(cls, weights: ScoringWeights, rated: np.ndarray) -> UserPrior:
        """The prior of user indices ``rated`` (all users when empty)."""
        vectors = weights.user_vectors[rated] if rated.size else weights.user_vectors
        mean = vectors.mean(axis=0).astype(np.float32)
        bias = weights.user_bias
        return cls(
            vector=mean,
            bias=float(bias[rated].mean()) if bias is not None and rated.size else 0.0,
            spread=float(np.mean(np.sum((vectors - mean) ** 2, axis=1))),
        )


def check_new_ratings(values: np.ndarray, rating_range: tuple[float, float]) -> None:
    """Raise :class:`MovierecError` unless there is a rating and all lie in the range."""
    if not len(values):
        raise MovierecError("rate at least one movie to get recommendations")
    low, high = rating_range
    if not np.all(np.isfinite(values)) or (values < low).any() or (values > high).any():
        raise MovierecError(f"ratings must lie in the rating range [{low:g}, {high:g}]; "
                            f"got {sorted(set(values.tolist()))}")


# -- factor models: closed form --------------------------------------------------------------


def fold_in_embedding(weights: ScoringWeights, movies: np.ndarray, values: np.ndarray,
                      prior: UserPrior, *, reg: float) -> tuple[np.ndarray, float]:
    """``(user_vector, user_bias)`` fitted to ratings ``values`` of movie indices ``movies``:
    ridge on the ratings for the linear link, on their logits for the sigmoid one (bias 0.0
    for a model without user biases)."""
    movie_vectors = weights.movie_vectors[movies].astype(np.float64)
    design = np.column_stack([movie_vectors, np.ones(len(movies))])
    penalty = np.append(np.full(weights.factors, _ridge_strength(weights, reg)), max(reg, 1e-8))
    prior_full = np.append(prior.vector.astype(np.float64), prior.bias)
    if weights.user_bias is None:
        penalty[-1], prior_full[-1] = PINNED, 0.0
    target = values if weights.link == "linear" else _logits(values, weights.rating_range)
    if weights.movie_bias is not None:
        target = target - weights.movie_bias[movies]
    solution = _penalised_least_squares(design, target, penalty, prior_full)
    bias = float(solution[-1]) if weights.user_bias is not None else 0.0
    return solution[:-1].astype(np.float32), bias


def _ridge_strength(weights: ScoringWeights, reg: float) -> float:
    """``lam = reg * mean |m|^2 / F``: ``reg`` pseudo-ratings of prior per direction."""
    return max(reg * weights.movie_scale, 1e-8)


def _logits(values: np.ndarray, rating_range: tuple[float, float]) -> np.ndarray:
    low, high = rating_range
    unit = np.clip((values - low) / (high - low), LOGIT_EPS, 1.0 - LOGIT_EPS)
    return np.log(unit / (1.0 - unit))


def _penalised_least_squares(design: np.ndarray, target: np.ndarray, penalty: np.ndarray,
                             prior: np.ndarray) -> np.ndarray:
    """``argmin_x |design x - target|^2 + sum_i penalty_i (x_i - prior_i)^2``."""
    gram = design.T @ design + np.diag(penalty)
    return np.linalg.solve(gram, design.T @ target + penalty * prior)


# -- mlp: gradient descent --------------------------------------------------------------------


def fold_in_mlp(weights: ScoringWeights, movie_hidden: np.ndarray, values: np.ndarray,
                prior: UserPrior, *, reg: float, steps: int, learning_rate: float
                ) -> np.ndarray:
    """The user vector fitted by Adam through the frozen mlp.

    Args:
        weights: the mlp's weights.
        movie_hidden: ``m W_m`` of the rated movies, ``(n, H)``
            (:meth:`~movierec.recommend.scoring.NumpyScorer.movie_hidden`).
        values: their ratings, ``(n,)``.
        prior: the average trained user.
        reg, steps, learning_rate: see the module docstring.
    """
    spread = max(prior.spread, 1e-6)
    start = prior.vector.astype(np.float64)
    error_gradient = _squared_error_gradient(weights, movie_hidden, values)

    def gradient(u: np.ndarray) -> np.ndarray:
        return error_gradient(u) + 2.0 * reg * (u - start) / spread

    step = learning_rate * np.sqrt(spread / weights.factors)
    return _adam(gradient, start, step, steps).astype(np.float32)


def _squared_error_gradient(weights: ScoringWeights, movie_hidden: np.ndarray,
                            values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``u -> d/du sum_j (rating(u, j) - r_j)^2`` through the frozen mlp, in float64."""
    low, high = weights.rating_range
    hidden_kernel, hidden_bias_, output_kernel = weights.mlp_layers()
    kernel = hidden_kernel[: weights.factors].astype(np.float64)            # W_u (F, H)
    movie_hidden = movie_hidden.astype(np.float64)                          # (n, H)
    hidden_bias = hidden_bias_.astype(np.float64)
    out = output_kernel.astype(np.float64)

    def gradient(u: np.ndarray) -> np.ndarray:
        pre = u @ kernel + hidden_bias + movie_hidden                       # (n, H)
        active = pre > 0
        z = np.where(active, pre, 0.0) @ out + weights.output_bias
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        error = low + (high - low) * p - values
        dz = 2.0 * error * (high - low) * p * (1.0 - p)                     # d loss / d z
        return kernel @ ((dz[:, None] * active * out[None, :]).sum(axis=0))

    return gradient


def _adam(gradient: Callable[[np.ndarray], np.ndarray], start: np.ndarray, step: float,
          steps: int, beta1: float = 0.9, beta2: float = 0.999) -> np.ndarray:
    """``steps`` Adam steps of size ``step`` from ``start``."""
    u = start.copy()
    m1, m2 = np.zeros_like(u), np.zeros_like(u)
    for t in range(1, steps + 1):
        grad = gradient(u)
        m1 = beta1 * m1 + (1 - beta1) * grad
        m2 = beta2 * m2 + (1 - beta2) * grad**2
        u -= step * (m1 / (1 - beta1**t)) / (np.sqrt(m2 / (1 - beta2**t)) + 1e-12)
    return u
