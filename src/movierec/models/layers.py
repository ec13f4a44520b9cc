"""Small registered layers the models are built from (no ``Lambda``: they must load safely)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="movierec")
class ScaleToRange(keras.layers.Layer):
    """Map values in [0, 1] (a sigmoid's output) linearly onto ``[minimum, maximum]``.

    ``y = minimum + (maximum - minimum) * x``. It has no weights; it replaces the tutorial's
    ``Lambda`` layer so that a saved model reloads with ``safe_mode=True``.

    Args:
        minimum: the lowest rating, what an input of 0 becomes.
        maximum: the highest rating, what an input of 1 becomes.

    Example:
        >>> import numpy as np
        >>> layer = ScaleToRange(0.5, 5.0)
        >>> np.asarray(layer(np.array([[0.0], [1.0]], dtype="float32"))).ravel().tolist()
        [0.5, 5.0]
    """

    def __init__(self, minimum: float, maximum: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not float(minimum) < float(maximum):
            raise ValueError(f"minimum ({minimum}) must be below maximum ({maximum})")
        self.minimum = float(minimum)
        self.maximum = float(maximum)

    def call(self, inputs):
        return ops.add(ops.multiply(inputs, self.maximum - self.minimum), self.minimum)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"minimum": self.minimum, "maximum": self.maximum})
        return config
