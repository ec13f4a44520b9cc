"""Retraining a run on every rating in a ratings store (``movierec retrain``).

:func:`retrain` trains the run's model with the run's settings (or a preset's) on the
store's ratings, the imported ones and those users posted, split as the run was split
(random, the run's test fraction and seed), and saves the new run atomically, so ``out``
may be the directory a service is serving (``POST /admin/reload`` then swaps it in). The
new run records the store's sequence number and how many ratings it holds beyond the old
run's, so the next retrain can tell whether anything changed (``if_changed``).

With ``keep_if_worse`` both runs are scored on the same held-out ratings: the new split's
test part, less the pairs the old run trained on (which would favour it) and less users and
movies the old run does not know; RMSE for rating models, NDCG@10 for ranking models. A
worse new run is not saved and the old one stays.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.data import DATASETS, Dataset, load
from movierec.errors import MovierecError
from movierec.evaluation.reports import predicts_ratings, ranking_report
from movierec.presets import resolve_preset
from movierec.recommend import Recommender
from movierec.runs import Run, load_run, save_run
from movierec.splits import Split
from movierec.store import RatingsStore
from movierec.training import EncodedSplit, TrainResult

__all__ = ["Comparison", "RetrainResult", "retrain"]


@dataclass(frozen=True)
class Comparison:
    """The old and the new run on the same held-out ratings."""

    metric: str
    """``rmse`` (lower is better) or ``ndcg@10`` (higher is better)."""
    old: float
    new: float
    n_ratings: int

    @property
    def new_is_worse(self) -> bool:
        return self.new > self.old if self.metric == "rmse" else self.new < self.old

    def describe(self) -> str:
        change = self.new - self.old
        return (f"{self.metric} {self.new:.4f} against the old run's {self.old:.4f} "
                f"({change:+.4f}) on {self.n_ratings:,} held-out ratings")


@dataclass(frozen=True)
class RetrainResult:
    """What :func:`retrain` did."""

    trained: bool
    saved: Path | None
    """The new run's directory; None when nothing was saved."""
    store_seq: int
    n_ratings: int
    """Ratings in the store (what the new run was split from)."""
    n_added: int
    """Store ratings that were not among the old run's training and held-out ratings."""
    message: str
    comparison: Comparison | None = None


def retrain(run_dir: str | os.PathLike[str], store: RatingsStore,
            out: str | os.PathLike[str], *, preset: str | None = None,
            if_changed: bool = False, keep_if_worse: bool = False,
            data_dir: str | os.PathLike[str] | None = None,
            verbose: int | None = 0) -> RetrainResult:
    """Retrain the run in ``run_dir`` on every rating in ``store`` and save it to ``out``.

    Args:
        preset: train with this preset's settings for the run's model instead of the run's.
        if_changed: do nothing when no write reached the store since the run's recorded
            sequence number.
        keep_if_worse: save only if the new run is not worse than the old on the same
            held-out ratings (see the module docstring).
        data_dir: where the run's MovieLens release is, for its titles, tags and user
            facts (the store holds ratings only); a run on the user's own file keeps its
            titles from the run.

    Raises:
        MovierecError: the run does not load, or the store holds another kind of ids or
            too few ratings to train on.
    """
    old = load_run(Path(run_dir))
    seq = store.last_seq()
    if if_changed and old.store_seq is not None and seq <= old.store_seq:
        return RetrainResult(False, None, seq, 0, 0, f"nothing was written to the store "
                             f"since the run's sequence number {old.store_seq}: not retrained")
    if store.id_kind != old.encoders.users.kind:
        raise MovierecError(f"the store {store.location} holds {store.id_kind} ids but the "
                            f"run {old.path} was trained on {old.encoders.users.kind} ids")
    ratings = store.to_frame()[["user_id", "movie_id", "rating", "timestamp"]]
    if not len(ratings):
        raise MovierecError(f"the store {store.location} holds no ratings to train on")
    dataset = _dataset(old, ratings, data_dir)
    n_added = _count_added(old, ratings)
    test_size = old.info.test_size if old.info.test_size is not None else 0.1
    seed = old.info.split_seed if old.info.split_seed is not None else 42
    encoded = (EncodedSplit.random(dataset, test_size, seed) if test_size
               else EncodedSplit.from_dataset(dataset, Split(ratings, ratings.iloc[:0],
                                                             "all ratings"), test_size=0))
    config = old.config
    if preset:
        config = resolve_preset(preset, dataset.name, config.model, base=config,
                                keep=("model",), n_ratings=len(ratings))
    config = dataclasses.replace(config, distribution="none")
    result = encoded.fit(config, verbose=verbose)
    comparison = None
    if keep_if_worse:
        comparison = _compare(old, result, encoded)
        if comparison is not None and comparison.new_is_worse:
            return RetrainResult(True, None, seq, len(ratings), n_added,
                                 f"the new run is worse: {comparison.describe()}; kept "
                                 f"{old.path}", comparison)
    source = {"store": store.location, "store_seq": seq, "n_added": n_added,
              "previous_run_id": old.run_id}
    saved = save_run(Path(out), result, encoded, dataset, source=source)
    note = f"; {comparison.describe()}" if comparison is not None else ""
    return RetrainResult(True, saved, seq, len(ratings), n_added,
                         f"trained {config.model} on {len(ratings):,} ratings ({n_added:,} "
                         f"new since the old run) up to store sequence {seq}; saved to "
                         f"{saved}{note}", comparison)


def _dataset(old: Run, ratings: pd.DataFrame, data_dir: str | os.PathLike[str] | None
             ) -> Dataset:
    """The store's ratings with the run's catalogue: the release's titles, tags and user
    facts where the run was trained on a MovieLens release, else the run's titles."""
    name = old.info.dataset
    if name in DATASETS:
        try:
            release = load(name, Path(data_dir) if data_dir is not None else None)
            return dataclasses.replace(release, ratings=ratings.reset_index(drop=True))
        except MovierecError:
            pass  # the release is not on this machine: the run's titles will do
    return Dataset(name=name, ratings=ratings.reset_index(drop=True), movies=old.movies,
                   rating_scale=old.info.rating_scale)


def _count_added(old: Run, ratings: pd.DataFrame) -> int:
    """Store ratings that are not a (user, movie, rating) of the old run's data."""
    frames = [old.train_ratings] + ([old.test_ratings] if old.test_ratings is not None else [])
    known = pd.concat([f[["user_id", "movie_id", "rating"]] for f in frames])
    merged = ratings[["user_id", "movie_id", "rating"]].merge(
        known.drop_duplicates(["user_id", "movie_id"]), how="left",
        on=["user_id", "movie_id"], suffixes=("", "_old"))
    return int((merged["rating_old"].isna() | (merged["rating_old"] != merged["rating"])).sum())


def _compare(old: Run, result: TrainResult, encoded: EncodedSplit) -> Comparison | None:
    """Both runs on the new split's held-out ratings that the old run neither trained on
    nor lacks the ids of; None when there are none."""
    test = encoded.split.test
    if not len(test):
        return None
    trained = pd.MultiIndex.from_frame(old.train_ratings[["user_id", "movie_id"]])
    pairs = pd.MultiIndex.from_frame(test[["user_id", "movie_id"]])
    users = old.encoders.users.transform(test["user_id"], unknown="mask")
    movies = old.encoders.movies.transform(test["movie_id"], unknown="mask")
    keep = ~pairs.isin(trained) & (np.asarray(users) >= 0) & (np.asarray(movies) >= 0)
    held_out = test[keep]
    if not len(held_out):
        return None
    old_recommender = Recommender.from_run(old)
    new_recommender = Recommender.from_model(result.model, encoded.encoders,
                                             encoded.split.train)
    metric = "rmse" if predicts_ratings(old.config.model) else "ndcg@10"
    split = Split(encoded.split.train, held_out.reset_index(drop=True), "retrain comparison")
    old_train = old.train_ratings
    old_split = Split(old_train, split.test, "retrain comparison")
    old_value = ranking_report(old_recommender, old_split)[metric]
    new_value = ranking_report(new_recommender, split)[metric]
    return Comparison(metric, float(old_value), float(new_value), len(held_out))
