"""Training: configurations, the trainers, and the split a run trains on.

* :mod:`~movierec.training.config`: :class:`TrainConfig` and :class:`TrainResult`;
* :mod:`~movierec.training.keras_fit`: one Keras model, ``model.fit`` with rating metrics;
* :mod:`~movierec.training.blend`: a blend's members, then their weights;
* :mod:`~movierec.training.distribute`: several devices and processes (keras.distribution);
* :mod:`~movierec.training.core`: :func:`fit` (picks the model's trainer) and
  :class:`EncodedSplit`.
"""

from movierec.training.config import (
    DISTRIBUTIONS,
    OPTIMIZERS,
    TrainConfig,
    TrainMetrics,
    TrainResult,
)
from movierec.training.core import EncodedSplit, fit

__all__ = ["DISTRIBUTIONS", "OPTIMIZERS", "EncodedSplit", "TrainConfig", "TrainMetrics",
           "TrainResult", "fit"]
