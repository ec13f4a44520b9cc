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

__all__ = ["OPTIMIZERS", "TrainConfig", "TrainMetrics", "TrainResult"]

OPTIMIZERS = ("adam", "sparse-adagrad")


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
    members: tuple[dict[str, Any], ...] = ()
    """For ``model="blend"``: each member's TrainConfig fields (see movierec.models.blend)."""

    def __post_init__(self) -> None:
        if self.model not in MODEL_NAMES:
            raise MovierecError(
                f"unknown model {self.model!r}; choose one of: {', '.join(MODEL_NAMES)}"
            )
        for name in ("epochs", "batch_size", "factors"):
            if getattr(self, name) < 1:
                raise MovierecError(f"{name.replace('_', '-')} must be at least 1")
        if self.learning_rate <= 0:
            raise MovierecError("learning-rate must be positive")
        if self.optimizer not in OPTIMIZERS:
            raise MovierecError(
                f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}"
            )
        if self.l2 < 0 or self.bias_l2 < 0:
            raise MovierecError("l2 and bias-l2 must not be negative")
        object.__setattr__(self, "members", tuple(dict(m) for m in self.members))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


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


# The fields only a blend records, in the order the blend trainer writes them.
_BLEND_FIELDS = ("holdout_rmse", "blend_weights", "intercept", "support_weights",
                 "support_bias", "member_epochs")


@dataclass(frozen=True)
class TrainMetrics:
    """A run's final validation figures and cost: ``metrics.json`` as a typed record.

    Every run has the common fields. A blend trains its members, not epochs of its own
    (``best_epoch`` is 1), and also records how it was fitted: the fields from
    ``holdout_rmse`` on, None for other models. :meth:`to_dict` gives back the dict
    :meth:`from_dict` read, keys in the same order (keys this version does not know are kept
    in ``extra`` and written last), so metrics.json round-trips.
    """

    rmse: float
    mae: float
    final_epoch_rmse: float
    best_epoch: int
    best_epoch_rmse: float
    epochs_run: int
    train_seconds: float
    seconds_per_epoch: float
    ratings_per_second: float
    peak_rss_mib: float
    parameters: int
    n_train: int
    n_validation: int
    eval_batch_size: int
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

    @property
    def is_blend(self) -> bool:
        return self.member_epochs is not None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainMetrics:
        """Read a metrics dict (``TrainResult.metrics`` or a run's metrics.json).

        Raises:
            MovierecError: a field every run has is missing.
        """
        known = [f for f in fields(cls) if f.name != "extra"]
        missing = [f.name for f in known if f.name not in _BLEND_FIELDS and f.name not in data]
        if missing:
            raise MovierecError(f"training metrics lack {', '.join(missing)}")
        names = {f.name for f in known}
        return cls(**{key: value for key, value in data.items() if key in names},
                   extra={key: value for key, value in data.items() if key not in names})

    def to_dict(self) -> dict[str, Any]:
        """The metrics.json dict: the common fields, a blend's fields if this is a blend
        (None ones included, as the blend trainer writes them), then ``extra``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name != "extra" and (f.name not in _BLEND_FIELDS or self.is_blend)}
        out.update(self.extra)
        return out
