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


POSTGRES_ENV = "MOVIEREC_TEST_POSTGRES"
"""The URL of an empty PostgreSQL database the store tests may overwrite
(``scripts/start-postgres.sh`` starts a server and prints one; ``.ci/run`` sets it)."""


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test database's URL; skips with the reason when no server is reachable, except
    under CI (``CI=true``), where a missing server fails the test."""
    url = os.environ.get(POSTGRES_ENV, "")
    reason = ""
    if not url:
        reason = (f"{POSTGRES_ENV} is not set (run: export "
                  f"{POSTGRES_ENV}=$(bash scripts/start-postgres.sh))")
    else:
        try:
            import psycopg

            psycopg.connect(url, connect_timeout=5).close()
        except Exception as error:
            reason = f"no PostgreSQL server at {POSTGRES_ENV}: {error}"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the PostgreSQL tests to run: {reason}")
        pytest.skip(reason)
    return url
