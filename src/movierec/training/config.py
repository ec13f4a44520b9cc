"""What decides a training run (:class:`TrainConfig`) and what it produces (:class:`TrainResult`,
its figures typed as :class:`TrainMetrics`).

The defaults are the tutorial's (Adam 1e-3, batch 64, 5 epochs, 50 factors, l2 1e-6) so that
results compare with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import keras

from movierec.errors import MovierecError
from movierec.models import MODEL_NAMES

__all__ = ["DISTRIBUTIONS", "OPTIMIZERS", "TrainConfig", "TrainMetrics", "TrainResult"]

OPTIMIZERS = ("adam", "sparse-adagrad")
DISTRIBUTIONS = ("none", "data", "model")
"""``TrainConfig.distribution``: one device, data parallel, or tables sharded by rows."""
EASE_WEIGHTS_PER_COLUMN = 768
"""``TrainConfig.weights_per_column``'s default: the ``k`` chosen on validation splits of
latest-small and 100k (``python -m benchmarks.ease_prune``)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; saved with the run as ``config.json``."""

    model: str = "dot-bias"
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    factors: int = 50
    l2: float = 1e-6
    seed: int = 42
    early_stopping: int | None = None
    """Stop after this many epochs without a better validation RMSE and restore the best."""
    learning_rate_decay: float = 1.0
    """Multiply the learning rate by this factor after every epoch (1.0: constant)."""
    optimizer: str = "adam"
    """``adam`` (the tutorial's: dense Adam, ``l2`` on the whole factor tables) or
    ``sparse-adagrad`` (row-wise Adagrad that updates only the rows a batch touches, with
    ``l2`` and ``bias_l2`` as per-rating penalties; JAX only; see movierec.models.sparse)."""
    bias_l2: float = 0.0
    """Per-rating L2 penalty on user and movie biases (``sparse-adagrad`` only)."""
    lam: float = 100.0
    """``ease``: the L2 penalty of its closed form (latest-small's validation choice)."""
    negative_weight: float = 0.3
    """``ease``: the input weight of a movie rated below ``positive`` (liked ones weigh 1)."""
    positive: float = 4.0
    """``ease``: the rating from which a movie counts as liked."""
    popularity_exponent: float = 0.2
    """``ease``: scale movie ``i``'s column by ``(ratings_i + 1) ** -popularity_exponent``."""
    lowpass_weight: float = 0.0
    """``ease``: weight of its low-pass term relative to EASE's own (0: none; see
    movierec.models.ease)."""
    lowpass_factors: int = 32
    """``ease``: singular vectors the low-pass term keeps."""
    side_weight: float = 0.0
    """``ease``: weight of the movies' genres, release periods and tags as extra rows of its
    input (0: none; see movierec.data.features)."""
    user_weight: float = 0.0
    """``ease``: weight of the users' age band, gender and occupation as extra columns of its
    input, where the dataset has them (ML-100K; 0: none; see movierec.data.features)."""
    weights_per_column: int = EASE_WEIGHTS_PER_COLUMN
    """``ease``: keep this many weights of largest magnitude in each column of its item-item
    matrix, stored sparse (0: keep it dense; see movierec.models.ease)."""
    reg: float = 50.0
    """``ials``: the L2 penalty of its least-squares solves (``epochs`` counts its sweeps;
    50 with ``alpha`` 8 is latest-small's validation choice)."""
    alpha: float = 8.0
    """``ials``: confidence scale; a liked movie weighs ``1 + alpha``, an unrated one 1."""
    dropout: float = 0.5
    """``mult-dae``: dropout rate on each user's input row."""
    members: tuple[dict[str, Any], ...] = ()
    """For ``model="blend"``: each member's TrainConfig fields (see movierec.models.blend)."""
    distribution: str = "none"
    """``none`` (one device), ``data`` (``keras.distribution.DataParallel`` over every device:
    the model replicated, each batch split) or ``model`` (``ModelParallel``: the user and
    movie tables sharded by rows over the devices); see movierec.training.distribute."""

    def __post_init__(self) -> None:
        if self.model not in MODEL_NAMES:
            raise MovierecError(
                f"unknown model {self.model!r}; choose one of: {', '.join(MODEL_NAMES)}"
            )
        for name in ("epochs", "batch_size", "factors", "lowpass_factors"):
            if getattr(self, name) < 1:
                raise MovierecError(f"{name.replace('_', '-')} must be at least 1")
        if self.learning_rate <= 0:
            raise MovierecError("learning-rate must be positive")
        if self.optimizer not in OPTIMIZERS:
            raise MovierecError(
                f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}"
            )
        if self.distribution not in DISTRIBUTIONS:
            raise MovierecError(f"unknown distribution {self.distribution!r}; choose one of: "
                                f"{', '.join(DISTRIBUTIONS)}")
        if self.lam <= 0:
            raise MovierecError("lam must be positive")
        if self.negative_weight < 0:
            raise MovierecError("negative-weight must not be negative")
        if self.lowpass_weight < 0:
            raise MovierecError("lowpass-weight must not be negative")
        if self.side_weight < 0:
            raise MovierecError("side-weight must not be negative")
        if self.user_weight < 0:
            raise MovierecError("user-weight must not be negative")
        if self.weights_per_column < 0:
            raise MovierecError("weights-per-column must not be negative")
        if self.reg <= 0:
            raise MovierecError("reg must be positive")
        if self.alpha < 0:
            raise MovierecError("alpha must not be negative")
        if not 0.0 <= self.dropout < 1.0:
            raise MovierecError("dropout must be in [0, 1)")
        if self.l2 < 0 or self.bias_l2 < 0:
            raise MovierecError("l2 and bias-l2 must not be negative")
        object.__setattr__(self, "members", tuple(dict(m) for m in self.members))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values.setdefault("weights_per_column", 0)  # saved before pruning: B was dense
        return cls(**values)


@dataclass
class TrainResult:
    """A trained model with its per-epoch history and final validation metrics."""

    model: keras.Model
    config: TrainConfig
    history: list[dict[str, float]]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def train_metrics(self) -> TrainMetrics:
        """:attr:`metrics` typed (``metrics`` stays the dict that is saved as metrics.json)."""
        return TrainMetrics.from_dict(self.metrics)


# The fields every run records, and those every rating model (not a ranking model) records.
_COMMON_FIELDS = ("train_seconds", "peak_rss_mib", "parameters", "n_train", "n_validation")
_RATING_FIELDS = ("rmse", "mae", "final_epoch_rmse", "best_epoch", "best_epoch_rmse",
                  "epochs_run", "seconds_per_epoch", "ratings_per_second", "eval_batch_size")


@dataclass(frozen=True)
class TrainMetrics:
    """A run's final validation figures and cost: ``metrics.json`` as a typed record.

    Every run has the cost fields. A rating model validated on a held-out part also has its
    validation RMSE and MAE and its epochs (a run trained on every rating, ``validation``
    False, has none); a ranking model (``ranking_model``, e.g. ``ease``) predicts no ratings and
    has validation NDCG@10 and recall@10 instead. A blend trains its members, not epochs of
    its own (``best_epoch`` is 1), and also records how it was fitted: the fields from
    ``holdout_rmse`` on. :meth:`to_dict` gives back the dict :meth:`from_dict` read, keys in
    the same order (keys this version does not know are kept in ``extra``), so metrics.json
    round-trips.
    """

    train_seconds: float
    peak_rss_mib: float
    parameters: int
    n_train: int
    n_validation: int
    rmse: float | None = None
    mae: float | None = None
    final_epoch_rmse: float | None = None
    best_epoch: int | None = None
    best_epoch_rmse: float | None = None
    epochs_run: int | None = None
    seconds_per_epoch: float | None = None
    ratings_per_second: float | None = None
    """Training ratings per second over every epoch, the first's compilation included."""
    compile_seconds: float | None = None
    """The first epoch's overhead over the later ones' (compiling the steps); None with a
    single epoch, and in runs saved before it was recorded."""
    steady_ratings_per_second: float | None = None
    """Training ratings per second of the epochs after the first (median)."""
    eval_batch_size: int | None = None
    validation: bool = True
    """False for a run trained on every rating (``--test-size 0``): no validation figures."""
    ranking_model: bool = False
    val_ndcg_at_10: float | None = None
    val_recall_at_10: float | None = None
    holdout_rmse: float | None = None
    """Blend: the members' RMSE on the slice of the training ratings the blend was fitted on."""
    blend_weights: list[float] | None = None
    intercept: float | None = None
    support_weights: list[list[float]] | None = None
    support_bias: list[float] | None = None
    member_epochs: list[int] | None = None
    """Blend: the epochs each member trained for."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys this version does not know (a newer writer's), kept for :meth:`to_dict`."""
    keys: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """The keys of the dict this was read from, in order (what :meth:`to_dict` writes)."""

    @property
    def is_blend(self) -> bool:
        return self.member_epochs is not None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainMetrics:
        """Read a metrics dict (``TrainResult.metrics`` or a run's metrics.json).

        Raises:
            MovierecError: a field every run (or every rating model) has is missing.
        """
        validated_ratings = not data.get("ranking_model") and data.get("validation") is not False
        required = _COMMON_FIELDS + (_RATING_FIELDS if validated_ratings else ())
        missing = [name for name in required if name not in data]
        if missing:
            raise MovierecError(f"training metrics lack {', '.join(missing)}")
        names = {f.name for f in fields(cls)} - {"extra", "keys"}
        return cls(**{key: value for key, value in data.items() if key in names},
                   extra={key: value for key, value in data.items() if key not in names},
                   keys=tuple(data))

    def to_dict(self) -> dict[str, Any]:
        """The metrics.json dict this was read from."""
        values = {**{f.name: getattr(self, f.name) for f in fields(self)}, **self.extra}
        return {key: values[key] for key in self.keys}
