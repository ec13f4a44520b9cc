"""The codebase's shape: the model registry is the one list of models, and serving a run
loads neither the evaluation nor the comparison. (matplotlib is loaded all the same: Keras 3
imports ``matplotlib.pyplot`` itself, in ``keras.src.visualization``.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from movierec import models
from movierec.models import registry


def test_every_name_list_is_the_registry() -> None:
    assert registry.model_names() == models.MODEL_NAMES
    for name in models.MODEL_NAMES:
        cls = registry.model_class(name)
        assert cls.model_name == name
        assert cls.spec is registry.model_spec(name)
    tutorial = registry.model_names(group="tutorial")
    assert tutorial == ("dot", "dot-bias", "mlp", "recommender-net",
                        "recommender-net-as-published")


def test_a_name_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="already registered"):
        @registry.register_model("dot", description="a second dot")
        class Impostor(models.EmbeddingModel):
            pass


def test_unknown_model_lists_the_registered_ones() -> None:
    with pytest.raises(ValueError, match="unknown model 'svd'; choose one of: dot, dot-bias"):
        registry.model_spec("svd")


def test_serving_loads_no_evaluation() -> None:
    code = ("import sys; import movierec.service.app, movierec.recommend, movierec.runs; "
            "bad = sorted(m for m in sys.modules "
            "if m.startswith(('movierec.evaluation', 'movierec.comparison'))); "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
