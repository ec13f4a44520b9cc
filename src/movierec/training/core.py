"""Training entry points: :func:`fit` on encoded arrays and :class:`EncodedSplit`.

:func:`fit` hands a configuration to the trainer its model is registered with
(:attr:`movierec.models.ModelSpec.trainer`): ``"keras"``
(:func:`~movierec.training.keras_fit.fit_keras`) or ``"blend"``
(:func:`~movierec.training.blend.fit_blend`) or ``"closed-form"``
(:func:`~movierec.training.closed_form.fit_closed_form`) or ``"als"``
(:func:`~movierec.training.als.fit_als`) or ``"autoencoder"``
(:func:`~movierec.training.autoencoder.fit_autoencoder`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from movierec.data import Dataset, check_trainable
from movierec.data.features import movie_features, training_tags, user_features
from movierec.encoding import Encoders
from movierec.models import model_spec
from movierec.splits import Split, random_split
from movierec.training.als import fit_als
from movierec.training.autoencoder import fit_autoencoder
from movierec.training.blend import fit_blend
from movierec.training.closed_form import fit_closed_form
from movierec.training.config import TrainConfig, TrainResult
from movierec.training.distribute import check_distribution, process_shard
from movierec.training.keras_fit import fit_keras

__all__ = ["EncodedSplit", "fit"]

_TRAINERS: dict[str, Callable[..., TrainResult]] = {
    "keras": fit_keras, "blend": fit_blend, "closed-form": fit_closed_form, "als": fit_als,
    "autoencoder": fit_autoencoder,
}


def fit(
    config: TrainConfig,
    train_pairs: np.ndarray,
    train_ratings: np.ndarray,
    val_pairs: np.ndarray,
    val_ratings: np.ndarray,
    *,
    n_users: int,
    n_movies: int,
    rating_range: tuple[float, float],
    verbose: int | None = None,
    movie_features: np.ndarray | None = None,
    user_features: np.ndarray | None = None,
) -> TrainResult:
    """Train ``config.model`` on encoded pairs; validate on the held-out pairs.

    Args:
        config: the run's settings.
        train_pairs, val_pairs: int32 arrays (n, 2) of [user_index, movie_index].
        train_ratings, val_ratings: ratings in rating units.
        n_users, n_movies: embedding table sizes (the encoders' lengths).
        rating_range: (min, max) of the rating scale.
        verbose: Keras verbosity; ``None`` picks a progress bar on a terminal and one line
            per epoch otherwise.
        movie_features: ``(n_features, n_movies)`` side information
            (:func:`movierec.data.features.movie_features`) for a closed-form model with a
            ``side_weight`` (``ease``); other trainers take none.
        user_features: ``(n_users, n_features)`` demographics
            (:func:`movierec.data.features.user_features`) for a closed-form model with a
            ``user_weight`` (``ease``); other trainers take none.
    """
    check_distribution(config)
    spec = model_spec(config.model)
    trainer = _TRAINERS[spec.trainer]
    extra = {} if spec.trainer != "closed-form" \
        else {"movie_features": movie_features, "user_features": user_features}
    return trainer(config, train_pairs, train_ratings, val_pairs, val_ratings,
                   n_users=n_users, n_movies=n_movies, rating_range=rating_range,
                   verbose=verbose, **extra)


@dataclass(frozen=True)
class EncodedSplit:
    """A split with ids encoded once, shared by every model trained on it.

    As in the tutorial, the encoders are fitted on the whole dataset, so a user or movie
    seen only in the test part still has an (untrained) embedding row rather than no row.
    """

    encoders: Encoders
    split: Split
    train_pairs: np.ndarray
    train_ratings: np.ndarray
    test_pairs: np.ndarray
    test_ratings: np.ndarray
    rating_range: tuple[float, float]
    split_params: dict[str, Any] = field(default_factory=dict)
    """How the split was made (e.g. seed and test size), saved so it can be recreated."""
    catalogue: tuple[pd.DataFrame, pd.DataFrame | None] | None = None
    """The dataset's ``(movies, tags)``, from which a model with a ``side_weight`` gets its
    movie features; None where the split was built without them."""
    users: pd.DataFrame | None = None
    """The dataset's users' demographics, from which a model with a ``user_weight`` gets its
    user features; None where the dataset has none or the split was built without them."""

    @classmethod
    def from_dataset(cls, dataset: Dataset, split: Split, **split_params: Any) -> EncodedSplit:
        encoders = Encoders.fit(dataset.ratings)
        return cls(
            encoders=encoders,
            split=split,
            train_pairs=encoders.encode(split.train),
            train_ratings=split.train["rating"].to_numpy(np.float32),
            test_pairs=encoders.encode(split.test),
            test_ratings=split.test["rating"].to_numpy(np.float32),
            rating_range=(float(dataset.rating_scale[0]), float(dataset.rating_scale[1])),
            split_params=split_params,
            catalogue=(dataset.movies, dataset.tags),
            users=dataset.users,
        )

    @classmethod
    def random(cls, dataset: Dataset, test_size: float = 0.1, seed: int = 42) -> EncodedSplit:
        """``dataset``'s random split (:func:`~movierec.splits.random_split`), encoded, after
        :func:`~movierec.data.check_trainable` has checked that it can be trained on; the
        seed and test size are recorded so that the split can be recreated."""
        check_trainable(dataset, test_size)
        split = random_split(dataset.ratings, test_size=test_size, seed=seed)
        return cls.from_dataset(dataset, split, split_seed=seed, test_size=test_size)

    def fit(self, config: TrainConfig, verbose: int | None = None, *,
            shard: bool = False, validate: bool = True) -> TrainResult:
        """Train ``config`` on this split's training part, validating on its test part
        (not with ``validate`` False: for a model scored once afterwards, whose training
        would otherwise rank the same part for the same figure).

        With ``shard`` (a multi-process job) this process trains on its own shard of the
        training part (:func:`movierec.training.distribute.process_shard`).
        """
        pairs, ratings = self.train_pairs, self.train_ratings
        if shard:
            rows = process_shard(len(pairs))
            pairs, ratings = pairs[rows], ratings[rows]
        held = slice(None) if validate else slice(0, 0)
        return fit(
            config, pairs, ratings, self.test_pairs[held], self.test_ratings[held],
            n_users=len(self.encoders.users), n_movies=len(self.encoders.movies),
            rating_range=self.rating_range, verbose=verbose,
            movie_features=self.movie_features() if config.side_weight else None,
            user_features=self.user_features() if config.user_weight else None,
        )

    def movie_features(self) -> np.ndarray | None:
        """:func:`~movierec.data.features.movie_features` of the encoded movies (None when
        the split holds no catalogue), from the tags of the training part's (user, movie)
        pairs only (:func:`~movierec.data.features.training_tags`): a tag on a held-out
        pair changes nothing."""
        if self.catalogue is None:
            return None
        movies, tags = self.catalogue
        return movie_features(movies, self.encoders.movies.ids,
                              training_tags(tags, self.split.train))

    def user_features(self) -> np.ndarray | None:
        """:func:`~movierec.data.features.user_features` of the encoded users (None when
        the split holds no users' demographics)."""
        if self.users is None:
            return None
        return user_features(self.users, self.encoders.users.ids)
