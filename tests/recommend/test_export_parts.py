"""Every user's top K as resumable Parquet parts (export_parts, --users-per-part)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import train_tiny_run
from typer.testing import CliRunner

from movierec.cli import app
from movierec.errors import MovierecError
from movierec.recommend import Recommender
from movierec.recommend.export import all_users_top_k, export_parts
from movierec.runs import load_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("parts") / "run")


@pytest.fixture(scope="module")
def rec(run_dir: Path) -> Recommender:
    return Recommender.from_run(load_run(run_dir))


def test_parts_make_the_one_file_table_and_resume(rec: Recommender, tmp_path: Path) -> None:
    whole = all_users_top_k(rec, k=5)
    out = tmp_path / "recs"
    first = export_parts(rec, out, 5, users_per_part=7, shard=(0, 2))  # half the parts
    assert not first.complete and first.written == first.parts // 2 + first.parts % 2
    second = export_parts(rec, out, 5, users_per_part=7)  # resumes: only the missing ones
    assert second.complete and second.skipped == first.written
    assert second.written == first.parts - first.written
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == -(-rec.n_users // 7)
    table = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(table, whole)
    assert len(pd.read_parquet(out)) == len(whole)  # the folder reads as one table
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries


def test_a_folder_of_another_export_is_refused(rec: Recommender, tmp_path: Path) -> None:
    out = tmp_path / "recs"
    export_parts(rec, out, 5, users_per_part=10)
    with pytest.raises(MovierecError, match=r"another export.*k"):
        export_parts(rec, out, 3, users_per_part=10)
    with pytest.raises(MovierecError, match="shard"):
        export_parts(rec, tmp_path / "other", 5, shard=(2, 2))


def test_cli_writes_parts_and_resumes(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-recs"
    args = ["recommend", "--run", str(run_dir), "--all-users", "-k", "4", "--out", str(out),
            "--users-per-part", "16", "--json"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["complete"] and report["written"] == report["parts"]
    (out / "part-000001.parquet").unlink()  # an interrupted export
    again = json.loads(CliRunner().invoke(app, args).output)
    assert again["written"] == 1 and again["skipped"] == report["parts"] - 1
