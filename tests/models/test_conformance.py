"""One :class:`~conformance.ModelConformance` class per registered model, made from the
registry: a model added in its own file is checked here without being listed anywhere."""

from __future__ import annotations

from typing import Any

import pytest
from conformance import ModelConformance

from movierec.errors import MovierecError
from movierec.models import MODEL_NAMES, build_model, model_spec
from movierec.recommend.scoring import weights_of

# Trains every model twice (a minute or two): slow; rerun on PyTorch and TensorFlow too, so
# every model is trained by its own trainer on every backend.
pytestmark = [pytest.mark.slow, pytest.mark.backend]

# TrainConfig settings under which a model learns the clusters in seconds (the defaults are the
# tutorial's, tuned for MovieLens, not for 80 synthetic users).
OVERRIDES: dict[str, dict[str, Any]] = {
    "mlp": {"epochs": 15},
    "autorec": {"epochs": 30, "learning_rate": 0.1, "factors": 16},
    "u-autorec": {"epochs": 30, "learning_rate": 0.1},
    # Members take their own settings, not the blend's.
    "blend": {"members": ({"model": "dot-bias", "factors": 8, "epochs": 8,
                           "learning_rate": 1e-2},
                          {"model": "dot-bias", "factors": 4, "epochs": 8,
                           "learning_rate": 1e-2, "seed": 1})},
}

# The published RecommenderNet sums its dot product over the batch, so a pair has no score
# of its own; tests/recommend checks that it is refused with the reason.
SCORABLE = tuple(name for name in MODEL_NAMES if not model_spec(name).batch_dependent)

for _name in SCORABLE:
    _class_name = "Test" + "".join(part.capitalize() for part in _name.split("-"))
    globals()[_class_name] = type(_class_name, (ModelConformance,), {
        "model_name": _name, "overrides": OVERRIDES.get(_name, {}),
        "__doc__": f"The model contract, for {_name}.",
    })


def test_every_model_is_checked_or_refuses_to_score() -> None:
    classes = {cls.model_name for cls in globals().values()
               if isinstance(cls, type) and issubclass(cls, ModelConformance)
               and cls is not ModelConformance}
    assert classes == set(SCORABLE)
    for name in set(MODEL_NAMES) - classes:
        with pytest.raises(MovierecError, match="cannot recommend"):
            weights_of(build_model(name, 3, 3))
