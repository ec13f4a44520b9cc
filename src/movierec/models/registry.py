"""The one place a model is registered: :func:`register_model` on its class.

The decorator makes the class a serializable Keras class (``movierec>ClassName``, so saved
``.keras`` files reload with ``safe_mode=True``) and records its :class:`ModelSpec`: its name,
the loss it trains with, the targets it sees, how it is trained and how the numpy
recommender scores it. Every list of model names (``MODEL_NAMES``, the CLI's help, the
conformance tests' parameters) is derived from this registry, in registration order.

Adding a model is one module in :mod:`movierec.models` with a decorated class (and its
tests); the package imports every module in it, so the class registers itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import keras

__all__ = [
    "ModelSpec",
    "Output",
    "Scoring",
    "model_class",
    "model_names",
    "model_spec",
    "register_model",
]

Output = Literal["rating", "unit"]
Scoring = Literal["factors", "blend", "none"]

_T = TypeVar("_T", bound=type)


@dataclass(frozen=True)
class ModelSpec:
    """How a model is trained and what its output means.

    Attributes:
        name: the model's registered name.
        loss: the Keras loss to compile with, ``"mse"`` or ``"binary_crossentropy"``.
        output: ``"rating"`` (rating units) or ``"unit"`` (sigmoid in [0, 1], trained on
            ratings scaled to [0, 1] by :func:`~movierec.models.training_targets`).
        batch_dependent: True when a row's prediction depends on the rest of its batch
            (only ``recommender-net-as-published``).
        description: one line for listings and reports.
        trainer: how :func:`movierec.training.fit` trains it: ``"keras"`` (``model.fit`` on
            pairs, or on the rows ``model.training_examples`` makes) or ``"blend"`` (its
            members first, then their weights) or ``"closed-form"`` (solved in one step
            by ``model.fit_closed_form``, e.g. ``ease``).
        scoring: how the numpy recommender scores it: ``"factors"`` (the tables of
            ``model.scoring_tables()``), ``"blend"`` (its members' scores, weighted) or
            ``"none"`` (it has no per-pair score and cannot recommend).
        group: ``"tutorial"`` (the tutorial's V1-V4 and the published V4), ``"rating"``
            (the other rating models) or ``"ranking"`` (models that rank movies and
            predict no rating, e.g. ``ease``); :func:`model_names` filters on it.
    """

    name: str
    loss: str
    output: Output
    batch_dependent: bool
    description: str
    trainer: str = "keras"
    scoring: Scoring = "factors"
    group: str = "rating"

    @property
    def predicts_ratings(self) -> bool:
        """False for a ranking model: its score orders movies but is no rating."""
        return self.group != "ranking"


_REGISTRY: dict[str, tuple[ModelSpec, type]] = {}


def register_model(
    name: str,
    *,
    description: str,
    loss: str = "mse",
    output: Output = "rating",
    batch_dependent: bool = False,
    trainer: str = "keras",
    scoring: Scoring | None = None,
    group: str = "rating",
) -> Callable[[_T], _T]:
    """Class decorator: register a model under ``name`` (see the module docstring).

    ``scoring`` defaults to ``"none"`` for a batch-dependent model and ``"factors"``
    otherwise. The class gets ``model_name = name`` and ``spec``.

    Raises:
        ValueError: ``name`` is already registered to another class.
    """
    spec = ModelSpec(name, loss, output, batch_dependent, description, trainer,
                     scoring or ("none" if batch_dependent else "factors"), group)

    def decorate(cls: _T) -> _T:
        previous = _REGISTRY.get(name)
        if previous is not None and previous[1].__qualname__ != cls.__qualname__:
            raise ValueError(f"model name {name!r} is already registered to "
                             f"{previous[1].__qualname__}")
        cls.model_name = name  # type: ignore[attr-defined]
        cls.spec = spec  # type: ignore[attr-defined]
        keras.saving.register_keras_serializable(package="movierec")(cls)
        _REGISTRY[name] = (spec, cls)
        return cls

    return decorate


def model_names(group: str | None = None) -> tuple[str, ...]:
    """The registered model names, in registration order; only ``group``'s if given."""
    return tuple(name for name, (spec, _) in _REGISTRY.items()
                 if group is None or spec.group == group)


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of model ``name``.

    Raises:
        ValueError: no model is registered as ``name``.
    """
    return _entry(name)[0]


def model_class(name: str) -> type[Any]:
    """The class registered as ``name``.

    Raises:
        ValueError: no model is registered as ``name``.
    """
    return _entry(name)[1]


def _entry(name: str) -> tuple[ModelSpec, type]:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown model {name!r}; choose one of: {', '.join(_REGISTRY)}"
        ) from None
