"""A multi-process job over a big release where each process reads only its shard.

With ``movierec train --dataset NAME --coordinator ...`` on a release read through the
Parquet cache (1m ... 32m), process ``i`` of ``n`` reads row groups ``i, i + n, ...`` of the
cache (:func:`movierec.data.load_shard`), never the others', and splits them with
``random_split(shard, test_size, split_seed + i)``. The id maps of the whole release come
with every shard, so every process encodes a user or movie to the same index. Training
lines the shards up (:func:`movierec.training.keras_fit.fit_keras` trims every process to the
shortest shard) and computes validation figures over all the shards' held-out parts
together.

Process 0 writes the run directory, which holds every training and held-out rating (so that
recommendations leave out what each user rated): after training it reads the whole cache
and recreates each shard's split (:func:`whole_split`); the split is named
``"random per process shard"``, so ``movierec evaluate`` recovers it from the saved training
ratings rather than from a seed.
"""

from __future__ import annotations

import pandas as pd

from movierec.data import Dataset
from movierec.data.cache import CachedShard
from movierec.data.loading import load_shard
from movierec.encoding import Encoders, IdEncoder
from movierec.splits import Split, random_split
from movierec.training.core import EncodedSplit

__all__ = ["SHARDED_SPLIT", "shard_split", "whole_split"]

SHARDED_SPLIT = "random per process shard"


def _encoders(shard: CachedShard) -> Encoders:
    return Encoders(IdEncoder(shard.user_ids, "int"), IdEncoder(shard.movie_ids, "int"))


def _split(ratings: pd.DataFrame, test_size: float, split_seed: int, index: int) -> Split:
    return random_split(ratings, test_size, split_seed + index)


def _encoded(dataset: Dataset, encoders: Encoders, split: Split, test_size: float,
             split_seed: int, count: int) -> EncodedSplit:
    return EncodedSplit(
        encoders=encoders,
        split=Split(split.train, split.test, SHARDED_SPLIT if split.name == "random"
                    else split.name),
        train_pairs=encoders.encode(split.train),
        train_ratings=split.train["rating"].to_numpy("float32"),
        test_pairs=encoders.encode(split.test),
        test_ratings=split.test["rating"].to_numpy("float32"),
        rating_range=(float(dataset.rating_scale[0]), float(dataset.rating_scale[1])),
        split_params={"split_seed": split_seed, "test_size": test_size, "shards": count},
    )


def shard_split(name: str, data_dir, *, test_size: float, split_seed: int, index: int,
                count: int) -> tuple[Dataset, EncodedSplit]:
    """This process's shard of release ``name``, split and encoded; reads only that shard."""
    shard = load_shard(name, data_dir, index, count)
    split = _split(shard.dataset.ratings, test_size, split_seed, index)
    return shard.dataset, _encoded(shard.dataset, _encoders(shard), split, test_size,
                                   split_seed, count)


def whole_split(name: str, data_dir, *, test_size: float, split_seed: int,
                count: int) -> tuple[Dataset, EncodedSplit]:
    """Every shard's split together: what process 0 saves with the run."""
    shards = [load_shard(name, data_dir, index, count) for index in range(count)]
    splits = [_split(s.dataset.ratings, test_size, split_seed, s.index) for s in shards]
    train = pd.concat([s.train for s in splits], ignore_index=True)
    test = pd.concat([s.test for s in splits], ignore_index=True)
    first = shards[0]
    dataset = Dataset(name=first.dataset.name, ratings=pd.concat([train, test],
                                                                 ignore_index=True),
                      movies=first.dataset.movies, rating_scale=first.dataset.rating_scale)
    return dataset, _encoded(dataset, _encoders(first), Split(train, test, splits[0].name),
                             test_size, split_seed, count)
