"""Run by tests/training/test_distribution.py in a fresh Python (never imported by a test).

JAX fixes its device list when it starts, so the tests launch this script with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (and, for several processes, the
``movierec train --coordinator ...`` options). It prints one JSON line.

    python distributed_job.py devices RATINGS OUT KIND [PRESET]  # train with
                                      # --distribution KIND (and --preset), load, recommend
    python distributed_job.py batch JSON   # ``devices`` for each [RATINGS, OUT, KIND, PRESET]
                                      # of the JSON list, in one process (one JAX start)
    python distributed_job.py process RATINGS OUT COORDINATOR N I [RATINGS OUT ...]
                                      # one process of a job, one training or more
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from movierec.cli import main


def _train(*args: str) -> None:
    try:
        main(["train", *args])
    except SystemExit as stop:  # typer exits 0 after a command
        if stop.code:
            raise


def common_options(ratings: str) -> list[str]:
    """``ratings``: a ratings file, or a data folder holding (synthetic) ml-32m files."""
    data = (["--dataset", "32m", "--data-dir", ratings] if Path(ratings).is_dir()
            else ["--ratings", ratings])
    return [*data, "--model", "dot-bias", "--epochs", "1", "--batch-size",
            "64", "--factors", "8", "--learning-rate", "0.01", "--quiet"]


def preset_options(preset: str) -> list[str]:
    """``fast``: the fast path (sparse row-wise Adagrad); the explicit options still win."""
    return ["--preset", preset] if preset else []


def devices(ratings: str, out: str, kind: str, preset: str = "") -> dict:
    import jax

    _train(*common_options(ratings), *preset_options(preset), "--distribution", kind,
           "--out", out)
    return {"devices": jax.device_count(), **saved_run(out)}


def saved_run(out: str) -> dict:
    """What the test compares: the run's metrics, table rows and recommendations."""
    from movierec.recommend import Recommender
    from movierec.runs import load_run

    run = load_run(out)  # safe_mode=True, as every run loads
    movies, scores = Recommender.from_run(run).recommend(list(run.encoders.users.ids[:3]), k=5)
    return {"rmse": run.metrics["rmse"], "metrics": run.metrics,
            "user_rows": int(run.model.user_embedding.embeddings.shape[0]),
            "n_users": len(run.encoders.users),
            "recommendations": movies.tolist(), "scores": scores.tolist()}


def process(ratings: str, out: str, coordinator: str, count: str, index: str,
            *further: str) -> list[dict]:
    """One process of a job, training on ``ratings`` to ``out``, then on each further
    ``RATINGS OUT`` pair in the same job; one report per training."""
    import jax
    import numpy as np

    # a hook on the result: every process reports a digest of the weights it ended with
    from movierec.training import core

    digests: list[str] = []
    original = core.EncodedSplit.fit

    def fit_and_digest(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        import hashlib

        weights = [np.asarray(w) for w in result.model.get_weights()]
        digests.append(hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest())
        return result

    core.EncodedSplit.fit = fit_and_digest  # type: ignore[method-assign]
    _train(*common_options(ratings), "--out", out, "--coordinator", coordinator,
           "--num-processes", count, "--process-id", index)
    reports = [{"process": jax.process_index(), "processes": jax.process_count(),
                "devices": jax.device_count(), "local_devices": jax.local_device_count(),
                "weights_sha256": digests[0]}]
    for more, more_out in zip(further[::2], further[1::2], strict=True):
        # the job is joined once; the next trainings run in it (as data parallel)
        _train(*common_options(more), "--out", more_out, "--distribution", "data")
        reports.append({**reports[0], "weights_sha256": digests[-1]})
    return reports


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "batch":  # one line per job, in order: each run is scoped on its own
        for job in json.loads(rest[0]):
            print("REPORT " + json.dumps(devices(*job), default=str), flush=True)
    elif command == "devices":
        print("REPORT " + json.dumps(devices(*rest), default=str), flush=True)
    else:
        for report in process(*rest):
            print("REPORT " + json.dumps(report, default=str), flush=True)
