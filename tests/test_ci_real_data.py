"""Real-data tests may skip on a developer's machine, never silently in CI (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py").read_text()
TESTS = '''
import pytest

@pytest.mark.realdata
def test_marked(real_data_dir):
    assert real_data_dir.is_dir()

def test_synthetic():
    assert True
'''


@pytest.fixture()
def inner(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A session with this conftest and one real-data test, MovieLens absent."""
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    realdata: reads MovieLens\n")
    pytester.makepyfile(test_inner=TESTS)
    monkeypatch.setenv("MOVIEREC_DATA", str(tmp_path / "nowhere"))
    return pytester


def test_a_skipped_real_data_test_fails_the_run_under_ci(inner, monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = inner.runpytest()
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*CI=true but 1 real-data test(s) were skipped*test_marked*"])


def test_outside_ci_a_missing_dataset_only_skips(inner, monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = inner.runpytest()
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK
