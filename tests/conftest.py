"""Shared fixtures: the real MovieLens folder and small synthetic rating tables."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from helpers import synthetic_ratings

os.environ.setdefault("KERAS_BACKEND", "jax")

REPO = Path(__file__).resolve().parents[1]


def _real_data_dir() -> Path:
    configured = os.environ.get("MOVIEREC_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder holding ``ml-latest-small/`` and ``ml-100k/`` as GroupLens ships them."""
    folder = _real_data_dir()
    if not (folder / "ml-latest-small" / "ratings.csv").exists():
        pytest.skip(f"MovieLens files not found under {folder}; set MOVIEREC_DATA")
    return folder


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never let a test touch the user's real cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def ratings() -> pd.DataFrame:
    return synthetic_ratings()
