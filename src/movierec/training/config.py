"""What decides a training run (:class:`TrainConfig`) and what it produces (:class:`TrainResult`).

The defaults are the tutorial's (Adam 1e-3, batch 64, 5 epochs, 50 factors, l2 1e-6) so that
results compare with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import keras

from movierec.errors import MovierecError
from movierec.models import MODEL_NAMES

__all__ = ["OPTIMIZERS", "TrainConfig", "TrainResult"]

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
    lam: float = 100.0
    """``ease``: the L2 penalty of its closed form (latest-small's validation choice)."""
    negative_weight: float = 0.3
    """``ease``: the input weight of a movie rated below ``positive`` (liked ones weigh 1)."""
    positive: float = 4.0
    """``ease``: the rating from which a movie counts as liked."""
    popularity_exponent: float = 0.2
    """``ease``: scale movie ``i``'s column by ``(ratings_i + 1) ** -popularity_exponent``."""
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
        if self.lam <= 0:
            raise MovierecError("lam must be positive")
        if self.negative_weight < 0:
            raise MovierecError("negative-weight must not be negative")
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
