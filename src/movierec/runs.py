"""Training-run directories: everything needed to evaluate, recommend and serve later.

A run directory holds::

    config.json      the TrainConfig and where the data came from
    encoders.json    raw id <-> index maps for users and movies
    model.keras      the Keras model (reloads with safe_mode=True)
    history.json     one row per epoch: losses, validation RMSE/MAE, seconds
    metrics.json     final and best-epoch validation metrics, cost
    train.parquet    the training ratings (raw ids), so recommendations exclude them
    test.parquet     the held-out ratings (raw ids), also excluded from recommendations
                     (absent for a run trained with no held-out part, and in older runs)
    movies.parquet   the movie table (titles, years, genres)
    loss.png         training vs validation loss, as the tutorial plots it

The whole directory is written to a temporary sibling and renamed into place, so a run
killed at any point leaves either the previous complete run or none. config.json records
the run format (:data:`RUN_FORMAT`); :func:`load_run` checks every file and names the one
that is missing or damaged.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import pandas as pd

import movierec.models  # noqa: F401  (registers the model classes for deserialization)
from movierec import __version__
from movierec.atomic import atomic_directory, write_json
from movierec.data import Dataset, get_release
from movierec.data.cache import CACHED_RELEASES
from movierec.encoding import Encoders
from movierec.errors import DataError, MovierecError
from movierec.plots import plot_loss_curves
from movierec.training import (
    EncodedSplit,
    TrainConfig,
    TrainMetrics,
    TrainResult,
    distribute,
    shards,
)

MODEL_FILE = "model.keras"
RUN_FORMAT = 1
"""The run-directory format this movierec writes and the newest it reads. Runs saved
before formats were numbered (no ``format_version`` in config.json) read as format 0."""
_RETRAIN = "retrain the run with `movierec train --out DIR`"


@dataclass(frozen=True)
class RunInfo:
    """What a run's config.json records about its data and the movierec that wrote it."""

    dataset: str
    rating_scale: tuple[float, float]
    split: str
    n_users: int
    n_movies: int
    n_train: int
    n_test: int | None
    """Held-out ratings; 0 for a run trained on every rating (``--test-size 0``)."""
    split_seed: int | None = None
    test_size: float | None = None
    movierec_version: str | None = None
    keras_backend: str | None = None
    format_version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    """Other keys of the ``data`` section, kept as they are."""

    @property
    def validated(self) -> bool:
        """Whether the run held ratings out to validate on."""
        return self.n_test != 0

    def to_dict(self) -> dict[str, Any]:
        """The ``data`` section of config.json."""
        data: dict[str, Any] = {"dataset": self.dataset, "rating_scale": list(self.rating_scale),
                                "split": self.split}
        if self.split_seed is not None:
            data["split_seed"] = self.split_seed
        if self.test_size is not None:
            data["test_size"] = self.test_size
        data.update(n_users=self.n_users, n_movies=self.n_movies, n_train=self.n_train)
        if self.n_test is not None:
            data["n_test"] = self.n_test
        return {**data, **self.extra}

    @classmethod
    def from_config(cls, config: dict[str, Any], path: Path | None = None) -> RunInfo:
        """Read config.json's contents; a missing or malformed field is a MovierecError."""
        where = f"{path}" if path is not None else "config.json"
        try:
            data = dict(config["data"])
            low, high = (float(v) for v in data.pop("rating_scale"))
            known = {"dataset", "split", "split_seed", "test_size", "n_users", "n_movies",
                     "n_train", "n_test"}
            n_test = data.pop("n_test", None)
            return cls(
                dataset=str(data.pop("dataset")), rating_scale=(low, high),
                split=str(data.pop("split", "random")),
                n_users=int(data.pop("n_users")), n_movies=int(data.pop("n_movies")),
                n_train=int(data.pop("n_train")),
                n_test=None if n_test is None else int(n_test),
                split_seed=_optional(data.pop("split_seed", None), int),
                test_size=_optional(data.pop("test_size", None), float),
                movierec_version=config.get("movierec_version"),
                keras_backend=config.get("keras_backend"),
                format_version=int(config.get("format_version", 0)),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise MovierecError(f"{where} is damaged: its 'data' section lacks or garbles "
                                f"{error}; {_RETRAIN}") from error


def _optional(value: Any, kind: Callable[[Any], Any]) -> Any:
    return None if value is None else kind(value)


@dataclass
class Run:
    """A saved training run, loaded back."""

    path: Path
    config: TrainConfig
    info: RunInfo
    encoders: Encoders
    model: keras.Model
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    train_ratings: pd.DataFrame
    movies: pd.DataFrame
    test_ratings: pd.DataFrame | None = None
    """The held-out ratings (raw ids); None for older runs that did not save them."""
    run_id: str = ""
    """Changes with every run saved (config.json's ``run_id``; for runs saved before it
    existed, a digest of config.json and metrics.json)."""
    source: dict[str, Any] = field(default_factory=dict)
    """Where the ratings came from, when a retrain recorded it (config.json's ``source``:
    ``store``, ``store_seq``, ``n_added``); empty otherwise."""

    @property
    def store_seq(self) -> int | None:
        """The ratings store's sequence number this run was trained up to, if any."""
        seq = self.source.get("store_seq")
        return int(seq) if isinstance(seq, int) else None

    @property
    def rating_range(self) -> tuple[float, float]:
        return self.info.rating_scale

    @property
    def train_metrics(self) -> TrainMetrics | None:
        """:attr:`metrics` typed; None for a run saved without metrics.json."""
        return TrainMetrics.from_dict(self.metrics) if self.metrics else None

    @property
    def validated(self) -> bool:
        """Whether the run held ratings out (False for ``movierec train --test-size 0``)."""
        return self.metrics.get("validation") is not False and self.info.validated


def save_run(path: str | Path, result: TrainResult, data: EncodedSplit, dataset: Dataset, *,
             source: dict[str, Any] | None = None, keep_optimizer: bool = False) -> Path:
    """Write a complete run directory atomically and return its path.

    Every run gets a new ``run_id``; ``source`` (JSON-ready) records where its ratings came
    from (``movierec retrain``: the store, its sequence number, the ratings added).

    An autoencoder's (``mult-dae``, ``mult-vae``) optimizer state, Adam's two moments of
    every weight, is left out of ``model.keras`` unless ``keep_optimizer`` (to resume
    training from it): serving needs the weights alone, and the moments doubled such a
    run's size. Other models are saved as trained.

    Raises:
        WriteError: the disk is full, a file-size limit is reached, or the folder cannot
            be written; the previous run at ``path``, if any, is left as it was.
    """
    path = Path(path)
    info = RunInfo(
        dataset=dataset.name, rating_scale=data.rating_range, split=data.split.name,
        n_users=len(data.encoders.users), n_movies=len(data.encoders.movies),
        n_train=len(data.train_pairs), n_test=len(data.test_pairs),
        split_seed=data.split_params.get("split_seed"),
        test_size=data.split_params.get("test_size"),
        extra={k: v for k, v in data.split_params.items()
               if k not in ("split_seed", "test_size")},
    )
    with atomic_directory(path) as tmp:
        write_json(tmp / "config.json", {
            "format_version": RUN_FORMAT,
            "run_id": uuid.uuid4().hex[:12],
            **({"source": source} if source else {}),
            "movierec_version": __version__,
            "keras_backend": keras.backend.backend(),
            "train": result.config.to_dict(),
            "data": info.to_dict(),
        })
        write_json(tmp / "encoders.json", data.encoders.to_json())
        write_json(tmp / "history.json", result.history)
        write_json(tmp / "metrics.json", result.metrics)
        _saved_model(result.model, keep_optimizer).save(tmp / MODEL_FILE)
        data.split.train.to_parquet(tmp / "train.parquet", index=False)
        if len(data.split.test):
            data.split.test.to_parquet(tmp / "test.parquet", index=False)
        dataset.movies.to_parquet(tmp / "movies.parquet", index=False)
        if result.history:  # a closed-form model (ease) has no epochs to plot
            plot_loss_curves(result.history, tmp / "loss.png",
                             title=f"{result.config.model} on {dataset.name}")
    return path


def _saved_model(model: keras.Model, keep_optimizer: bool) -> keras.Model:
    """``model``, or for an autoencoder (unless ``keep_optimizer``) an uncompiled copy of
    its weights: what serving needs, without the optimizer's state."""
    spec = getattr(model, "spec", None)
    if keep_optimizer or spec is None or spec.trainer != "autoencoder" \
            or getattr(model, "optimizer", None) is None:
        return model
    copy = type(model).from_config(model.get_config())
    copy.build((None, 2))
    copy.set_weights(model.get_weights())
    return copy


def load_run(path: str | Path) -> Run:
    """Load a run directory written by :func:`save_run`, checking every file.

    Raises:
        MovierecError: the directory is not a run, a file is missing, cut short or not
            what it should be (the message names the file and says to retrain), or the run
            was written by a newer movierec in a format this one cannot read.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise MovierecError(
            f"{path} is not a training run (no config.json); "
            "train one with `movierec train --out DIR` and pass that DIR"
        )
    config = _read_json(path / "config.json", dict)
    _check_format(path, config)
    info = RunInfo.from_config(config, path / "config.json")
    required = ["encoders.json", MODEL_FILE, "train.parquet", "movies.parquet"]
    if info.format_version >= 1:  # older runs may lack these; newer ones always have them
        required += ["history.json", "metrics.json"]
        if info.n_test:
            required.append("test.parquet")
    missing = [name for name in required if not (path / name).is_file()]
    if missing:
        raise MovierecError(f"run {path} is incomplete: missing {', '.join(missing)}; "
                            f"{_RETRAIN}")
    try:
        train_config = TrainConfig.from_dict(config["train"])
    except (KeyError, TypeError, ValueError) as error:
        raise MovierecError(f"{path / 'config.json'} is damaged: its 'train' section is not "
                            f"a training configuration ({error}); {_RETRAIN}") from error
    try:
        encoders = Encoders.from_json(_read_json(path / "encoders.json", dict))
    except DataError as error:
        raise MovierecError(f"{path / 'encoders.json'} is damaged ({error}); {_RETRAIN}"
                            ) from error
    history = (_read_json(path / "history.json", list)
               if (path / "history.json").exists() else [])
    metrics = (_read_json(path / "metrics.json", dict)
               if (path / "metrics.json").exists() else {})
    train_ratings = _read_parquet(path / "train.parquet", _RATING_COLUMNS)
    movies = _read_parquet(path / "movies.parquet", ("movie_id", "title"))
    test_ratings = (_read_parquet(path / "test.parquet", _RATING_COLUMNS)
                    if (path / "test.parquet").is_file() else None)
    run_id = config.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        digest = hashlib.sha256((path / "config.json").read_bytes())
        if (path / "metrics.json").is_file():
            digest.update((path / "metrics.json").read_bytes())
        run_id = digest.hexdigest()[:12]
    source = config.get("source")
    return Run(path=path, config=train_config, info=info, encoders=encoders,
               model=_load_model(path / MODEL_FILE), history=history, metrics=metrics,
               train_ratings=train_ratings, movies=movies, test_ratings=test_ratings,
               run_id=run_id, source=source if isinstance(source, dict) else {})


_RATING_COLUMNS = ("user_id", "movie_id", "rating")


def _check_format(path: Path, config: dict[str, Any]) -> None:
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise MovierecError(f"{path / 'config.json'} is damaged: format_version {version!r} "
                            f"is not a number; {_RETRAIN}")
    if version > RUN_FORMAT:
        writer = config.get("movierec_version", "a newer version")
        raise MovierecError(
            f"the run {path} was written by movierec {writer} in run format {version}; this "
            f"movierec ({__version__}) reads formats up to {RUN_FORMAT}. Upgrade movierec "
            "(pip install -U movierec), or retrain the run with this version.")


def _load_model(file: Path) -> keras.Model:
    """The run's Keras model; a cut-short or foreign file is named as damaged."""
    if not zipfile.is_zipfile(file):
        raise MovierecError(f"{file} is damaged: it is not a complete .keras archive (cut "
                            f"short or overwritten); {_RETRAIN}")
    try:
        with zipfile.ZipFile(file) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise MovierecError(f"{file} is damaged ({error}); {_RETRAIN}") from error
    if bad is not None:
        raise MovierecError(f"{file} is damaged: its member {bad} fails its checksum; "
                            f"{_RETRAIN}")
    try:
        return keras.saving.load_model(file, safe_mode=True)
    except Exception as error:  # a foreign or incompatible model: say which file and why
        raise MovierecError(f"cannot load the model in {file}: {error}; {_RETRAIN}"
                            ) from error


def _read_parquet(file: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(file)
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise MovierecError(f"{file} is damaged: it cannot be read as Parquet ({error}); "
                            f"{_RETRAIN}") from error
    lacking = [name for name in columns if name not in frame.columns]
    if lacking:
        raise MovierecError(f"{file} is damaged: it lacks the column(s) {', '.join(lacking)}; "
                            f"{_RETRAIN}")
    return frame


def _read_json(path: Path, kind: type) -> Any:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: bad JSON or not UTF-8
        raise MovierecError(f"{path} is damaged: cannot read it as JSON ({error}); {_RETRAIN}"
                            ) from error
    if not isinstance(value, kind):
        wanted = "an array" if kind is list else "an object"
        raise MovierecError(f"{path} is damaged: it holds a JSON {type(value).__name__}, not "
                            f"{wanted}; {_RETRAIN}")
    return value


# -- training jobs: one process, or several, to a saved run -----------------------------------


def process_shard(dataset: str | None, data_dir: str | Path | None, *, test_size: float,
                  split_seed: int) -> tuple[Dataset, EncodedSplit] | None:
    """This process's shard of a big release, split and encoded, when this process is one
    of several (:func:`movierec.training.distribute.initialize_processes`) training on a
    release read through the Parquet cache (1m ... 32m); None otherwise (one process, or
    users' own files, which every process reads whole)."""
    if dataset is None or distribute.process_count() == 1:
        return None
    if get_release(dataset).name not in CACHED_RELEASES:
        return None
    return shards.shard_split(dataset, data_dir, test_size=test_size, split_seed=split_seed,
                              index=distribute.process_index(),
                              count=distribute.process_count())


def total_ratings(dataset: Dataset, encoded: EncodedSplit | None) -> int:
    """The ratings of the whole job: ``dataset``'s, times the shards when it is one shard
    (what a preset's large/small choice looks at)."""
    count = int(encoded.split_params.get("shards", 1)) if encoded is not None else 1
    return count * dataset.n_ratings


def train_and_save(config: TrainConfig, dataset: Dataset, out: str | Path, *,
                   encoded: EncodedSplit | None = None, test_size: float = 0.1,
                   split_seed: int = 42, data_dir: str | Path | None = None,
                   verbose: int | None = None, keep_optimizer: bool = False
                   ) -> tuple[TrainResult, Path | None]:
    """Train ``config`` on ``dataset``'s random split and save the run to ``out``.

    In a multi-process job every process calls this with the same arguments: each trains
    on its own shard (``encoded`` from :func:`process_shard` on a cached release, else
    every N-th training rating), the processes end with the same weights, and process 0
    alone writes the run, which holds every shard's ratings. Returns the result and the
    run directory (None on the other processes). ``keep_optimizer``: as :func:`save_run`.
    """
    sharded = encoded is not None and encoded.split.name == shards.SHARDED_SPLIT
    if encoded is None:
        encoded = EncodedSplit.random(dataset, test_size, split_seed)
    several = distribute.process_count() > 1
    result = encoded.fit(config, verbose=verbose, shard=several and not sharded)
    if distribute.process_index() != 0:
        return result, None
    if sharded:  # process 0 saves every shard's training and held-out ratings
        dataset, encoded = shards.whole_split(dataset.name, data_dir, test_size=test_size,
                                              split_seed=split_seed,
                                              count=distribute.process_count())
    return result, save_run(out, result, encoded, dataset, keep_optimizer=keep_optimizer)
