"""``movierec data list | download | info``, in-process, and their exit codes via main()."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from urllib.error import URLError

import pytest
from typer.testing import CliRunner

from movierec.cli import app, main
from movierec.data import cache_dir, movielens, sources

RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,1,3.5,1537109082\n"
MOVIES = "movieId,title,genres\n1,Toy Story (1995),Comedy\n2,Heat (1995),Action\n"


def _write_latest_small(home: Path) -> Path:
    folder = home / "ml-latest-small"
    folder.mkdir(parents=True)
    (folder / "ratings.csv").write_text(RATINGS)
    (folder / "movies.csv").write_text(MOVIES)
    return folder


@pytest.fixture(autouse=True)
def _no_env_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOVIEREC_DATA", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # keep rich tables on one line per row


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(url, timeout=None):
        raise URLError("Network is unreachable")
    monkeypatch.setattr(sources, "urlopen", no_network)


def test_list_shows_every_release_and_where_it_is(runner: CliRunner, tmp_path: Path) -> None:
    folder = _write_latest_small(tmp_path)
    result = runner.invoke(app, ["data", "list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("latest-small", "100k", "1m", "10m", "20m", "25m", "32m"):
        assert name in result.stdout
    assert f"{folder} (--data-dir)" in result.stdout
    assert "not downloaded" in result.stdout
    assert "~190 MB" in result.stdout


def test_info_prints_counts_scale_dates_and_path(runner: CliRunner, tmp_path: Path) -> None:
    folder = _write_latest_small(tmp_path)
    result = runner.invoke(app, ["data", "info", "latest-small", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "ratings:      2" in lines
    assert "users:        2" in lines
    assert "movies:       2 (1 rated)" in lines
    assert "rating scale: 0.5-5 (values: 3.5, 4)" in lines
    assert "date range:   2000-07-30 to 2018-09-16" in lines
    assert f"path:         {folder}" in lines


def test_info_checks_a_users_file_and_prints_warnings(runner: CliRunner, tmp_path: Path
                                                      ) -> None:
    ratings = tmp_path / "mine.csv"
    ratings.write_text("uid,item,rating\nu1,m1,4\nu1,m1,5\n")
    result = runner.invoke(app, ["data", "info", "--ratings", str(ratings), "--user-col", "uid"])
    assert result.exit_code == 0, result.output
    assert "warning: " in result.stderr
    assert "dropped 1 older rating(s) (line 2)" in result.stderr
    assert "ratings:      1" in result.stdout
    assert "date range:   unknown (the timestamps are not dates" in result.stdout
    assert f"path:         {ratings}" in result.stdout


def test_download_fetches_into_the_data_dir(runner: CliRunner, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ml-latest-small/ratings.csv", RATINGS)
        archive.writestr("ml-latest-small/movies.csv", MOVIES)
    (site / "ml-latest-small.zip").write_bytes(buffer.getvalue())
    monkeypatch.setattr(movielens, "BASE_URL", site.as_uri())
    target = tmp_path / "data"
    result = runner.invoke(app, ["data", "download", "latest-small", "--data-dir", str(target)])
    assert result.exit_code == 0, result.output
    assert f"ready in {target / 'ml-latest-small'}" in result.stdout
    again = runner.invoke(app, ["data", "download", "latest-small", "--data-dir", str(target)])
    assert "is already in" in again.stdout


def test_download_of_a_present_release_needs_no_network(runner: CliRunner, offline: None
                                                        ) -> None:
    _write_latest_small(cache_dir())
    result = runner.invoke(app, ["data", "download", "latest-small"])
    assert result.exit_code == 0, result.output
    assert "(cache)" in result.stdout


def test_main_exits_0_on_success(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _write_latest_small(tmp_path)
    with pytest.raises(SystemExit) as caught:
        main(["data", "info", "--data-dir", str(tmp_path)])
    assert caught.value.code == 0
    assert "dataset:      latest-small" in capsys.readouterr().out


def test_main_exits_2_without_traceback_when_offline(offline: None,
                                                     capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["data", "download", "100k"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "error: Could not download MovieLens 100k" in err
    assert str(cache_dir() / "ml-100k") in err.replace("\n", "")
    assert "Traceback" not in err


def test_main_exits_2_for_an_unknown_dataset(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["data", "info", "200k"])
    assert caught.value.code == 2
    assert "Unknown dataset '200k'" in capsys.readouterr().err


def test_main_exits_2_for_a_bad_ratings_file(tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "r.csv"
    path.write_text("userId,item,rating\n1,2,3\n")
    with pytest.raises(SystemExit) as caught:
        main(["data", "info", "--ratings", str(path)])
    assert caught.value.code == 2
    assert "--user-col userId" in capsys.readouterr().err


@pytest.mark.realdata
def test_info_on_the_real_100k(runner: CliRunner, real_data_dir: Path) -> None:
    result = runner.invoke(app, ["data", "info", "100k", "--data-dir", str(real_data_dir)])
    assert result.exit_code == 0, result.output
    assert "ratings:      100,000" in result.stdout
    assert "users:        943" in result.stdout
    assert "movies:       1,682 (1,682 rated)" in result.stdout
    assert "date range:   1997-09-20 to 1998-04-22" in result.stdout
