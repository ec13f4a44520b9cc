"""Shared fixtures: the real MovieLens folder and small synthetic rating tables."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from helpers import synthetic_ratings

os.environ.setdefault("KERAS_BACKEND", "jax")

pytest_plugins = ["pytester"]  # tests/test_ci_real_data.py runs a session of its own

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


# -- real-data tests must not skip silently in CI -----------------------------------------------
# A test that reads MovieLens (marked realdata, or using the real_data_dir fixture) skips where
# the files are missing. On a developer's machine that is a convenience; in CI (CI=true) it
# would turn the real-data checks off without a word, so there the run fails instead.
_REAL_DATA_SKIPS: list[str] = []


def _reads_real_data(item: pytest.Item) -> bool:
    return (item.get_closest_marker("realdata") is not None
            or "real_data_dir" in getattr(item, "fixturenames", ()))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _reads_real_data(item):
        _REAL_DATA_SKIPS.append(item.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") == "true" and _REAL_DATA_SKIPS:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (f"CI=true but {len(_REAL_DATA_SKIPS)} real-data test(s) were skipped "
                   f"(MovieLens not found under {_real_data_dir()}; set MOVIEREC_DATA): "
                   + ", ".join(_REAL_DATA_SKIPS[:5]))
        if reporter is not None:
            reporter.write_line("")  # end the progress line
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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


@pytest.fixture
def ratings_file(tmp_path: Path) -> Path:
    """The synthetic ratings as a user's own CSV file (columns user, item, rating, timestamp)."""
    path = tmp_path / "ratings.csv"
    synthetic_ratings().rename(columns={"user_id": "user", "movie_id": "item"}).to_csv(
        path, index=False)
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a ratings store goes, once per backend: an SQLite file, then the PostgreSQL
    test database (:func:`postgres_url`)."""
    if request.param == "sqlite":
        return str(tmp_path / "ratings.sqlite")
    return request.getfixturevalue("postgres_url")
