"""``movierec store init | info | export`` and ``serve --store``'s refusals, in-process."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import synthetic_ratings, train_tiny_run
from typer.testing import CliRunner

from movierec.cli import app, main
from movierec.store import create_store, open_store


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_init_info_export(ratings_file: Path, tmp_path: Path) -> None:
    store = tmp_path / "r.sqlite"
    result = invoke("store", "init", "--store", str(store), "--ratings", str(ratings_file))
    assert result.exit_code == 0, result.output
    assert "Stored 900 ratings" in result.stdout
    with open_store(store) as opened:
        opened.put(1, [(99, 4.0)])
    result = invoke("store", "info", "--store", str(store))
    assert result.exit_code == 0, result.output
    assert "n_ratings:      901" in result.stdout and "schema_version: 2" in result.stdout
    out = tmp_path / "out" / "ratings.parquet"
    result = invoke("store", "export", "--store", str(store), "--out", str(out))
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert len(frame) == 901 and list(frame.columns) == [
        "user_id", "movie_id", "rating", "timestamp", "seq"]
    expected = synthetic_ratings().sort_values(["user_id", "movie_id"])
    imported = frame[frame["seq"] == 1].sort_values(["user_id", "movie_id"])
    assert imported["rating"].tolist() == expected["rating"].tolist()
    since = invoke("store", "export", "--store", str(store), "--out", str(out),
                   "--since-seq", "1")
    assert since.exit_code == 0 and pd.read_parquet(out)["movie_id"].tolist() == [99]


def test_init_refuses_an_existing_store_unless_told(ratings_file: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    store = tmp_path / "r.sqlite"
    assert invoke("store", "init", "--store", str(store), "--ratings", str(ratings_file),
                  "--empty").exit_code == 0
    with pytest.raises(SystemExit) as raised:
        main(["store", "init", "--store", str(store), "--ratings", str(ratings_file)])
    assert raised.value.code == 2
    assert "--overwrite" in capsys.readouterr().err
    with open_store(store) as opened:
        assert opened.count() == 0
    result = invoke("store", "init", "--store", str(store), "--ratings", str(ratings_file),
                    "--overwrite")
    assert result.exit_code == 0, result.output
    with open_store(store) as opened:
        assert opened.count() == 900


@pytest.mark.parametrize("command", [
    lambda store, out: ["store", "info", "--store", store],
    lambda store, out: ["store", "export", "--store", store, "--out", out],
])
def test_a_damaged_store_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture,
                                          command) -> None:
    damaged = tmp_path / "broken.sqlite"
    damaged.write_bytes(b"not a database at all " * 100)
    with pytest.raises(SystemExit) as raised:
        main(command(str(damaged), str(tmp_path / "x.parquet")))
    err = capsys.readouterr().err
    assert raised.value.code == 2 and "Traceback" not in err
    assert str(damaged) in err.replace("\n", "") and "not an SQLite database" in err
    assert not (tmp_path / "x.parquet").exists()


def test_serve_with_a_store_refuses_the_network_without_a_token(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOVIEREC_API_TOKEN", raising=False)
    run = train_tiny_run(tmp_path / "run")
    store = tmp_path / "r.sqlite"
    create_store(store, synthetic_ratings().iloc[:0], id_kind="int").close()
    with pytest.raises(SystemExit) as raised:
        main(["serve", "--run", str(run), "--store", str(store), "--host", "0.0.0.0",
              "--port", "0"])
    assert raised.value.code == 2
    assert "token" in capsys.readouterr().err


def test_serve_names_a_foreign_store(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import sqlite3

    foreign = tmp_path / "app.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE t (x)")
    with pytest.raises(SystemExit) as raised:
        main(["serve", "--run", str(tmp_path / "no-run"), "--store", str(foreign),
              "--port", "0"])
    err = capsys.readouterr().err
    assert raised.value.code == 2 and "Traceback" not in err
    assert "not a movierec ratings store" in err


@pytest.mark.realdata
def test_latest_small_imports_in_seconds(real_data_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "r.sqlite"
    started = time.perf_counter()
    result = invoke("store", "init", "--store", str(store), "--dataset", "latest-small",
                    "--data-dir", str(real_data_dir))
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert "Stored 100,836 ratings of latest-small" in result.stdout
    print(f"latest-small imported in {seconds:.1f} s")
    with open_store(store) as opened:
        assert opened.info()["n_users"] == 610
