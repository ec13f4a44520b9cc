"""Training over several devices and processes with keras.distribution (JAX, CPU devices).

JAX fixes its devices when it starts, so each test runs ``distributed_job.py`` in a fresh
Python with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``: four CPU devices.

Tolerance: data parallelism computes the same step as one device, only the sums over a batch
are reduced in a different order (partial sums per device, then across them), so float32
rounding alone separates the runs: validation RMSE within 1e-4 (measured: ~1e-8). The
model-parallel run here needs no padding rows (80 users, 40 movies over 4 devices), so it
draws the same initial weights and matches to the same tolerance.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from helpers import synthetic_ratings

from movierec.errors import MovierecError
from movierec.training import TrainConfig, fit
from movierec.training.distribute import check_distribution, padded_rows, process_shard

JOB = Path(__file__).with_name("distributed_job.py")
RMSE_TOLERANCE = 1e-4
jax_only = pytest.mark.skipif(keras.backend.backend() != "jax",
                              reason="keras.distribution is implemented on JAX")


@pytest.fixture(scope="module")
def ratings_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("distributed") / "ratings.csv"
    synthetic_ratings(n_users=80, n_movies=40, per_user=15).rename(
        columns={"user_id": "user", "movie_id": "item"}).to_csv(path, index=False)
    return path


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "KERAS_BACKEND": "jax", "MPLBACKEND": "Agg",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=4", **extra}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@pytest.fixture(scope="module")
def single_device(ratings_file: Path):
    """The baselines, trained here (this process has one CPU device) with the same options:
    ``single_device(preset)``, each trained once."""
    sys.path.insert(0, str(JOB.parent))
    try:
        import distributed_job as job  # the script, not a test
    finally:
        sys.path.remove(str(JOB.parent))
    runs: dict[str, dict] = {}

    def baseline(preset: str) -> dict:
        if preset not in runs:
            out = ratings_file.parent / f"single-{preset or 'plain'}"
            job._train(*job.common_options(str(ratings_file)), *job.preset_options(preset),
                       "--out", str(out))
            runs[preset] = job.saved_run(str(out))
        return runs[preset]

    return baseline


DEVICE_JOBS = [("data", ""), ("model", ""), ("model", "fast")]


@pytest.fixture(scope="module")
def device_runs(ratings_file: Path) -> dict:
    """Every 4-device training the tests below check, run in one fresh process (JAX fixes
    its devices when it starts; one start instead of four): ``(kind, preset)`` -> its
    report and run folder, and ``"uneven"``: 81 users and 42 movies, model parallel, fast."""
    folder = ratings_file.parent
    odd = folder / "odd.csv"
    synthetic_ratings(n_users=81, n_movies=42, per_user=15).rename(
        columns={"user_id": "user", "movie_id": "item"}).to_csv(odd, index=False)
    keys: list = [*DEVICE_JOBS, "uneven"]
    jobs = [[str(ratings_file), str(folder / f"{kind}-{preset or 'plain'}"), kind, preset]
            for kind, preset in DEVICE_JOBS]
    jobs.append([str(odd), str(folder / "uneven"), "model", "fast"])
    done = subprocess.run([sys.executable, str(JOB), "batch", json.dumps(jobs)], env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(line.removeprefix("REPORT ")) for line in done.stdout.splitlines()
               if line.startswith("REPORT ")]
    assert len(reports) == len(jobs)
    return {key: (report, Path(job[1]))
            for key, report, job in zip(keys, reports, jobs, strict=True)}


@jax_only
@pytest.mark.slow
@pytest.mark.parametrize(("kind", "preset"), DEVICE_JOBS)
def test_distributed_run_matches_one_device_and_saves_an_ordinary_run(
        kind: str, preset: str, single_device, device_runs: dict) -> None:
    """Adam, and the fast path's sparse row-wise Adagrad step over row-sharded tables."""
    run, folder = device_runs[(kind, preset)]
    single = single_device(preset)
    assert run["devices"] == 4
    assert run["metrics"]["distribution"] == kind and run["metrics"]["devices"] == 4
    assert abs(run["rmse"] - single["rmse"]) < RMSE_TOLERANCE, run["rmse"]
    # saved with exactly the encoders' rows, reloaded with safe_mode=True, recommends
    assert run["user_rows"] == run["n_users"] == 80
    assert run["recommendations"] == single["recommendations"]
    np.testing.assert_allclose(run["scores"], single["scores"], atol=1e-3)
    optimizer = json.loads((folder / "config.json").read_text())["train"]["optimizer"]
    assert optimizer == ("sparse-adagrad" if preset == "fast" else "adam")


@jax_only
@pytest.mark.slow
def test_model_parallel_pads_uneven_tables_and_saves_exact_rows(device_runs: dict) -> None:
    """81 users and 42 movies do not divide over 4 devices: the sharded tables get padding
    rows while training (so their initial draw differs from one device's: no RMSE
    comparison), and the saved model has exactly the encoders' rows."""
    run, _ = device_runs["uneven"]
    assert run["devices"] == 4
    assert run["user_rows"] == run["n_users"] == 81
    assert np.isfinite(run["rmse"]) and len(run["recommendations"]) == 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _two_processes(*trainings: Path, **env_extra: str) -> list[list[dict]]:
    """Two processes joined in one job, each training ``trainings`` (``data, out`` pairs)
    in turn: one report per process per training."""
    coordinator = f"127.0.0.1:{_free_port()}"
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=2", **env_extra)
    first, *further = (str(path) for path in trainings)
    jobs = [subprocess.Popen([sys.executable, str(JOB), "process", first, further[0],
                              coordinator, "2", str(index), *further[1:]], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for index in range(2)]
    outputs: list[list[dict]] = []
    for job in jobs:
        try:
            stdout, stderr = job.communicate(timeout=240)
        finally:
            job.kill()
        assert job.returncode == 0, stderr[-3000:]
        outputs.append([json.loads(line.removeprefix("REPORT "))
                        for line in stdout.splitlines() if line.startswith("REPORT ")])
    return outputs


@pytest.fixture(scope="module")
def two_process_runs(ratings_file: Path) -> dict:
    """One two-process job (two process starts, not four) that trains the ratings file,
    then the shards of a cached synthetic 32m release: ``name`` -> (each process's report,
    the run folder)."""
    from movierec.data import get_release
    from movierec.data.cache import convert_release
    from movierec.synthetic import write_release

    folder = ratings_file.parent
    home = folder / "data"
    write_release("32m", home / "ml-32m", 2400, seed=1)
    cache = folder / "xdg"
    # 7 row groups: process 0 reads 4 (1,350 ratings), process 1 reads 3 (1,050), so the
    # shards (and their held-out parts) differ in length and are lined up by trimming
    convert_release(get_release("32m"), home / "ml-32m", cache / "movierec", row_group=350)
    runs = {"file": folder / "jobs" / "run", "cached": folder / "jobs-cached" / "run"}
    outputs = _two_processes(ratings_file, runs["file"], home, runs["cached"],
                             XDG_CACHE_HOME=str(cache))
    assert all(len(reports) == 2 for reports in outputs)
    return {name: ([reports[i] for reports in outputs], runs[name])
            for i, name in enumerate(runs)}


@jax_only
@pytest.mark.slow
def test_two_processes_train_one_model_together(two_process_runs: dict) -> None:
    outputs, out = two_process_runs["file"]
    assert [o["process"] for o in outputs] == [0, 1]
    assert all(o["processes"] == 2 and o["devices"] == 4 for o in outputs)
    assert outputs[0]["weights_sha256"] == outputs[1]["weights_sha256"]
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "encoders.json", "model.keras", "history.json", "metrics.json",
            "train.parquet", "test.parquet", "movies.parquet", "loss.png"} <= names
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["devices"] == 4
    assert not [p for p in out.parent.iterdir() if p.name != "run"]  # no temporary left


def test_refusals_say_why() -> None:
    with pytest.raises(MovierecError, match="closed-form"):
        check_distribution(TrainConfig(model="ease", distribution="data"), n_devices=4)
    with pytest.raises(MovierecError, match="members"):
        check_distribution(TrainConfig(model="blend", distribution="data"), n_devices=4)
    with pytest.raises(MovierecError, match="whole batch"):
        check_distribution(TrainConfig(model="recommender-net-as-published",
                                       distribution="data"), n_devices=4)
    with pytest.raises(MovierecError, match="row by row"):
        check_distribution(TrainConfig(model="autorec", distribution="model"), n_devices=4)
    with pytest.raises(MovierecError, match=r"multiple of 4, e\.g\. 60 or 64"):
        check_distribution(TrainConfig(batch_size=62, distribution="data"), n_devices=4)
    with pytest.raises(MovierecError, match="unknown distribution"):
        TrainConfig(distribution="pipeline")
    check_distribution(TrainConfig(batch_size=64, distribution="model"), n_devices=4)


def test_row_padding_and_process_shards() -> None:
    assert padded_rows(81, "model", 4) == 84 and padded_rows(81, "data", 4) == 81
    shards = [process_shard(11, index, 3) for index in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]  # equal, so the steps line up
    assert len(np.intersect1d(shards[0], shards[1])) == 0


@jax_only
@pytest.mark.slow
def test_one_device_distribution_trains_in_process() -> None:
    """Without forced devices this process has one CPU device: the scope still works."""
    from helpers import synthetic_pair_split

    train_pairs, train_ratings, test_pairs, test_ratings, n_users, n_movies = \
        synthetic_pair_split()
    runs = [fit(TrainConfig(epochs=1, batch_size=64, factors=4, distribution=distribution),
                train_pairs, train_ratings, test_pairs, test_ratings, n_users=n_users,
                n_movies=n_movies, rating_range=(1.0, 5.0), verbose=0)
            for distribution in ("data", "none")]
    result, plain = runs
    assert result.metrics["distribution"] == "data"
    # one device: the same steps as a plain run, so the same figure
    assert result.metrics["rmse"] == pytest.approx(plain.metrics["rmse"], abs=RMSE_TOLERANCE)


@jax_only
@pytest.mark.slow
def test_two_processes_each_read_only_their_shard_of_a_cached_release(
        two_process_runs: dict) -> None:
    outputs, out = two_process_runs["cached"]
    assert outputs[0]["weights_sha256"] == outputs[1]["weights_sha256"]
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["split"] == "random per process shard"
    assert config["data"]["shards"] == 2
    train, test = (pd.read_parquet(out / name) for name in ("train.parquet", "test.parquet"))
    assert len(train) + len(test) == 2400  # the run holds every shard's ratings
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["n_validation"] < len(test)  # its own part
    # process 0's 1,215 training ratings were cut to process 1's 945 (less one, for 2 devices)
    assert metrics["n_train"] == 944 and metrics["n_dropped_for_devices"] == 1215 - 944
