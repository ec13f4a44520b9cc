"""``mult-vae``: the variational autoencoder with a multinomial likelihood (Liang et al.,
"Variational Autoencoders for Collaborative Filtering", WWW 2018), rating-weighted.

The rows ``x_u`` are ``mult-dae``'s (:mod:`movierec.models.mult_dae`). The encoder gives a
Gaussian over a ``latent``-sized code and the decoder one logit per movie::

    e_u = tanh(dropout(x_u / |x_u|) W_1 + b_1)                       (``factors`` units)
    mu_u = e_u W_mu + b_mu,  log var_u = e_u W_var + b_var           (``latent`` units)
    z_u = mu_u + eps * exp(log var_u / 2) while training, mu_u otherwise
    d_u = tanh(z_u W_d + b_d),  logits_u = d_u W_dec + b_dec         (``factors`` units)

trained on the multinomial log-likelihood of the row plus ``beta`` times the KL divergence
of the code's Gaussian from N(0, I), ``beta`` annealed linearly from 0 to ``beta_cap`` over
``anneal_steps`` optimizer steps (the paper's KL annealing). The numpy recommender scores
``d_u`` (computed from ``mu_u``) against the decoder's movie table, as for ``mult-dae``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import keras
import numpy as np
from keras import ops

from movierec.models.embedding import value_of
from movierec.models.mult_dae import MultDAEModel
from movierec.models.registry import register_model

__all__ = ["MultVAEModel"]

_MU, _VAR, _DECODER, _SAMPLER = 10, 11, 12, 13  # seed offsets beyond MultDAEModel's


def vae_codes(rows: np.ndarray, *, encoder: np.ndarray, encoder_bias: np.ndarray,
              code_mean: np.ndarray, code_mean_bias: np.ndarray, decoder_hidden: np.ndarray,
              decoder_hidden_bias: np.ndarray) -> np.ndarray:
    """``d = tanh(mu W_h + b_h)`` with ``mu`` the mean code of the normalized rows: what
    the decoder's output layer multiplies, at inference (no sampling)."""
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.sqrt(np.sum(np.square(rows), axis=1, keepdims=True))
    hidden = np.tanh(rows / np.maximum(norms, 1e-12) @ encoder + encoder_bias)
    mean = hidden @ code_mean + code_mean_bias
    return np.tanh(mean @ decoder_hidden + decoder_hidden_bias).astype(np.float32)


@register_model(
    "mult-vae",
    trainer="autoencoder",
    group="ranking",
    description="Mult-VAE: each user's rows through a Gaussian code (KL-annealed), softmax "
                "over every movie; ranks, predicts no rating",
)
class MultVAEModel(MultDAEModel):
    """Rating-weighted Mult-VAE (see the module docstring).

    Args:
        factors: width of the encoder's and the decoder's tanh layers (the paper: 600).
        latent: width of the Gaussian code (the paper: 200).
        beta_cap: the KL weight reached at the end of the annealing (the paper: 0.2).
        anneal_steps: optimizer steps over which the KL weight rises from 0 to beta_cap.
        (the others as :class:`~movierec.models.mult_dae.MultDAEModel`)
    """

    def __init__(self, n_users: int, n_movies: int, factors: int = 600, l2: float = 1e-6,
                 rating_range: tuple[float, float] | list[float] = (0.5, 5.0),
                 seed: int | None = None, latent: int = 200, beta_cap: float = 0.2,
                 anneal_steps: int = 2000, **kwargs: Any) -> None:
        if int(latent) != latent or latent < 1:
            raise ValueError(f"latent must be a positive integer, got {latent!r}")
        if beta_cap < 0 or int(anneal_steps) != anneal_steps or anneal_steps < 1:
            raise ValueError("beta_cap must not be negative and anneal_steps must be a "
                             "positive integer")
        super().__init__(n_users, n_movies, factors, l2, rating_range, seed, **kwargs)
        self.latent = int(latent)
        self.beta_cap = float(beta_cap)
        self.anneal_steps = int(anneal_steps)
        self.sampler = keras.random.SeedGenerator(self._seed(_SAMPLER))

    def build_head(self) -> None:
        if getattr(self, "code_mean", None) is not None:
            return
        super().build_head()

        def dense(shape: tuple[int, int], name: str, offset: int):
            return self.add_weight(
                shape=shape, name=name,
                initializer=keras.initializers.GlorotUniform(seed=self._seed(offset)),
                regularizer=keras.regularizers.L2(self.l2) if self.l2 else None)

        self.code_mean = dense((self.factors, self.latent), "code_mean", _MU)
        self.code_mean_bias = self.add_weight(shape=(self.latent,), name="code_mean_bias",
                                              initializer="zeros")
        self.code_log_var = dense((self.factors, self.latent), "code_log_var", _VAR)
        self.code_log_var_bias = self.add_weight(shape=(self.latent,),
                                                 name="code_log_var_bias", initializer="zeros")
        self.decoder_hidden = dense((self.latent, self.factors), "decoder_hidden", _DECODER)
        self.decoder_hidden_bias = self.add_weight(shape=(self.factors,),
                                                   name="decoder_hidden_bias",
                                                   initializer="zeros")
        self.anneal_step = self.add_weight(shape=(), name="anneal_step", initializer="zeros",
                                           trainable=False)

    # -- forward pass -------------------------------------------------------------------------

    def gaussian(self, rows, training: bool = False):
        """``(mu, log var)`` of the code of ``(batch, n_movies)`` rows."""
        hidden = super().code(rows, training=training)
        mean = ops.add(ops.matmul(hidden, self.code_mean), self.code_mean_bias)
        log_var = ops.add(ops.matmul(hidden, self.code_log_var), self.code_log_var_bias)
        return mean, log_var

    def decode_hidden(self, z):
        return ops.tanh(ops.add(ops.matmul(z, self.decoder_hidden), self.decoder_hidden_bias))

    def code(self, rows, training: bool = False):
        """The decoder's hidden layer ``d`` of the rows' mean code (no sampling): what the
        movie table is scored against."""
        mean, _ = self.gaussian(rows, training=training)
        return self.decode_hidden(mean)

    def call(self, inputs, training: bool = False):
        if len(inputs.shape) != 1:
            return super().call(inputs, training=training)
        # Row-wise: every movie's logit, then each row's weighted KL term (the loss adds
        # it), as one (batch, n_movies + 1) array. Each training batch advances the
        # annealing by a step.
        mean, log_var = self.gaussian(ops.take(self.user_items, inputs, axis=0),
                                      training=training)
        z = mean
        if training:
            noise = keras.random.normal(ops.shape(mean), seed=self.sampler)
            z = ops.add(mean, ops.multiply(noise, ops.exp(ops.multiply(log_var, 0.5))))
            self.anneal_step.assign(ops.add(self.anneal_step, 1.0))
        logits = ops.matmul(self.decode_hidden(z),
                            ops.transpose(self.movie_embedding.embeddings))
        logits = ops.add(logits, ops.reshape(self.decoder_bias.embeddings, (1, -1)))
        kl = ops.sum(ops.multiply(0.5, ops.subtract(
            ops.add(ops.exp(log_var), ops.square(mean)), ops.add(log_var, 1.0))),
            axis=-1, keepdims=True)
        beta = ops.minimum(ops.divide(self.anneal_step, float(self.anneal_steps)),
                           self.beta_cap)
        return ops.concatenate([logits, ops.multiply(beta, kl)], axis=-1)

    def compute_output_shape(self, input_shape):
        if len(input_shape) == 1:
            return (input_shape[0], self.n_movies + 1)
        return (input_shape[0], 1)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The multinomial negative log-likelihood plus the annealed KL term."""
        if x is None or len(x.shape) != 1:
            return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                        training=training)
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred[:, :self.n_movies],
                                    sample_weight=sample_weight, training=training)
        return ops.add(loss, ops.cast(ops.mean(y_pred[:, self.n_movies]), loss.dtype))

    # -- numpy scoring, fold-in -----------------------------------------------------------------

    def numpy_encoder(self) -> Callable[[np.ndarray], np.ndarray]:
        """Input rows -> ``d``, the decoder's hidden layer at the mean code, in numpy."""
        return partial(vae_codes, encoder=value_of(self.encoder),
                       encoder_bias=value_of(self.encoder_bias),
                       code_mean=value_of(self.code_mean),
                       code_mean_bias=value_of(self.code_mean_bias),
                       decoder_hidden=value_of(self.decoder_hidden),
                       decoder_hidden_bias=value_of(self.decoder_hidden_bias))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"latent": self.latent, "beta_cap": self.beta_cap,
                       "anneal_steps": self.anneal_steps})
        return config
