"""Every benchmark script imports: a library change that breaks one is caught here, not
the next time someone measures with it (``benchmarks.ease_prune`` once imported a function
that had been removed). Scripts that need an optional extra (``bench``: Surprise)
say so with a ``pip install`` message and are skipped without it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

SCRIPTS = sorted(path.stem for path in (Path(__file__).parents[1] / "benchmarks").glob("*.py")
                 if path.stem != "__init__")


def test_the_benchmarks_folder_is_found() -> None:
    assert {"ease_prune", "select", "server_memory", "compiled_sgd"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_imports(name: str) -> None:
    try:
        module = importlib.import_module(f"benchmarks.{name}")
    except SystemExit as error:  # an optional extra is missing: the script says which
        assert "pip install" in str(error), error
        pytest.skip(str(error))
    assert module.__doc__, f"benchmarks/{name}.py says nothing of what it measures"
