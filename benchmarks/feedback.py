"""The service that learns from its users: writes to the ratings store under load, what they
cost the readers, and what one fold-in costs per model family.

On loopback with latest-small (a ``--preset fast`` dot-bias run) and an SQLite store:

0. 4 readers of the same run served without a store (the reference);
1. 4 readers alone (``GET /users/{id}/recommendations``) for ``--seconds``;
2. the same 4 readers while 4 writers post one-rating batches (``POST
   /users/{id}/ratings``): write p50/p99 and writes/s, and the readers' p99 against (1),
   measured in the same run;
3. one fold-in (:func:`movierec.recommend.feedback.recommend_with_feedback`, a user the model
   never saw) per model family for users with 20, 200 and 2,000 ratings: median of 7.

Usage::

    python -m benchmarks.feedback --data-dir ../shared/data --seconds 15

Writes ``benchmarks/results/feedback.md`` (``--out``). Targets (issue 21): write p99 < 20 ms,
>= 1,000 ratings/s with 4 writers, readers' p99 with writers within 1.5x of alone, fold-in of
2,000 ratings < 5 ms except models that optimise (mlp).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from benchmarks.common import latest_small, machine_info, markdown_table
from benchmarks.load import Connection, free_port, percentiles, stop_server, wait_for_health
from movierec.presets import resolve_preset
from movierec.recommend import Recommender
from movierec.recommend.feedback import recommend_with_feedback
from movierec.runs import save_run
from movierec.service.blas import limit_blas_threads
from movierec.store import create_store
from movierec.training import TrainConfig

TOKEN = "benchmark-token"
FAMILIES = ("dot-bias", "mlp", "blend", "ease", "ials", "mult-dae")
SIZES = (20, 200, 2000)


class WriteConnection(Connection):
    """:class:`benchmarks.load.Connection` that can also POST a JSON body with the token."""

    async def post(self, target: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(
            f"POST {target} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json"
            f"\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(int(line.split(":", 1)[1]) for line in lines[1:]
                      if line.lower().startswith("content-length:"))
        return status, await self.reader.readexactly(length)


async def reader(connection: Connection, users: list, deadline: float, seed: int,
                 latencies: list[float], errors: list[str]) -> None:
    rng = random.Random(seed)
    while time.perf_counter() < deadline:
        user = rng.choice(users)
        started = time.perf_counter()
        status, _ = await connection.get(f"/users/{user}/recommendations?k=10")
        (latencies.append(time.perf_counter() - started) if status == 200
         else errors.append(f"read {status}"))


async def writer(connection: WriteConnection, users: list, movies: list, deadline: float,
                 seed: int, latencies: list[float], errors: list[str]) -> None:
    rng = random.Random(seed)
    while time.perf_counter() < deadline:
        body = json.dumps({"ratings": [{"movie_id": rng.choice(movies),
                                        "rating": rng.choice([1.0, 2.5, 3.5, 4.0, 5.0])}]})
        started = time.perf_counter()
        status, answer = await connection.post(f"/users/{rng.choice(users)}/ratings",
                                               body.encode())
        (latencies.append(time.perf_counter() - started) if status == 201
         else errors.append(f"write {status} {answer[:80]!r}"))


async def reload_during(port: int, after: float, out: dict) -> None:
    """POST /admin/reload ``after`` seconds into a phase; how long until the new run served."""
    await asyncio.sleep(after)
    connection = await WriteConnection.open("127.0.0.1", port)
    started = time.perf_counter()
    status, body = await connection.post("/admin/reload", b"{}")
    out.update(status=status, wall_s=round(time.perf_counter() - started, 3),
               **{k: v for k, v in json.loads(body).items() if k == "seconds"})
    await connection.close()


async def phase(port: int, users: list, movies: list, *, readers: int, writers: int,
                seconds: float, reload: dict | None = None) -> dict:
    reads = [await Connection.open("127.0.0.1", port) for _ in range(readers)]
    writes = [await WriteConnection.open("127.0.0.1", port) for _ in range(writers)]
    read_ms: list[float] = []
    write_ms: list[float] = []
    errors: list[str] = []
    warm = time.perf_counter() + 1.0
    await asyncio.gather(*(reader(c, users, warm, 100 + i, [], []) for i, c in enumerate(reads)))
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(reader(c, users, deadline, i, read_ms, errors) for i, c in enumerate(reads)),
        *(writer(c, users, movies, deadline, 50 + i, write_ms, errors)
          for i, c in enumerate(writes)),
        *([reload_during(port, seconds / 3, reload)] if reload is not None else []))
    wall = time.perf_counter() - started
    for connection in (*reads, *writes):
        await connection.close()
    return {"reads": len(read_ms), "writes": len(write_ms), "errors": len(errors),
            "error_examples": sorted(set(errors))[:3], "seconds": round(wall, 2),
            "reads_per_second": round(len(read_ms) / wall, 1),
            "writes_per_second": round(len(write_ms) / wall, 1),
            "read_ms": percentiles(read_ms), "write_ms": percentiles(write_ms)}


@contextlib.contextmanager
def serving(run: Path, store: Path | None):
    """``movierec serve`` on a free loopback port (with ``--store`` when given)."""
    port = free_port()
    extra = ["--store", str(store)] if store is not None else []
    process = subprocess.Popen(
        [sys.executable, "-c", "from movierec.cli import main; main()", "serve", "--run",
         str(run), *extra, "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "MOVIEREC_API_TOKEN": TOKEN})
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process)
        yield port, psutil.Process(process.pid)
    finally:
        stop_server(process)


def service_phases(bench, folder: Path, seconds: float) -> dict:
    config = resolve_preset("fast", "latest-small", "dot-bias", TrainConfig(seed=0))
    result = bench.encoded.fit(config, verbose=0)
    run = save_run(folder / "run", result, bench.encoded, bench.dataset)
    store = folder / "ratings.sqlite"
    create_store(store, bench.dataset.ratings.iloc[:0], id_kind="int").close()
    users = sorted(set(bench.dataset.ratings["user_id"].tolist()))
    movies = sorted(set(bench.split.train["movie_id"].tolist()))
    with serving(run, None) as (port, _):
        plain = asyncio.run(phase(port, users, movies, readers=4, writers=0, seconds=seconds))
    with serving(run, store) as (port, server):
        alone = asyncio.run(phase(port, users, movies, readers=4, writers=0, seconds=seconds))
        mixed = asyncio.run(phase(port, users, movies, readers=4, writers=4, seconds=seconds))
        rss = server.memory_info().rss / 2**20
        swap: dict = {}
        reloading = asyncio.run(phase(port, users, movies, readers=4, writers=0,
                                      seconds=seconds, reload=swap))
    return {"no_store": plain, "alone": alone, "with_writers": mixed,
            "during_reload": {**reloading, "reload": swap}, "server_rss_mib": round(rss)}


def fold_in_costs(bench) -> list[dict]:
    limit_blas_threads(1)  # as `serve` runs it (--blas-threads 1)
    train = bench.split.train
    movies = np.array(sorted(set(train["movie_id"].tolist())))
    rng = np.random.default_rng(0)
    rows = []
    for family in FAMILIES:
        if family == "blend":
            members = ({"model": "dot-bias", "factors": 32, "epochs": 2, "batch_size": 4096,
                        "learning_rate": 0.03, "optimizer": "sparse-adagrad"},
                       {"model": "autorec", "factors": 64, "epochs": 2})
            config = TrainConfig(model="blend", members=members, seed=0)
        else:
            config = resolve_preset("rank" if family in ("ease", "ials", "mult-dae") else
                                    "fast", "latest-small", family, TrainConfig(seed=0))
            config = dataclasses.replace(config, epochs=min(config.epochs, 2))
        started = time.perf_counter()
        result = bench.encoded.fit(config, verbose=0)
        trained = time.perf_counter() - started
        recommender = Recommender.from_model(result.model, bench.encoded.encoders, train)
        row = {"model": family, "train_s": round(trained, 1),
               "fold_in": recommender.fold_in_method}
        for size in SIZES:
            chosen = rng.choice(movies, size=size, replace=False)
            later = [(int(m), float(rng.choice([1.0, 3.0, 4.0, 5.0])), 0) for m in chosen]
            recommend_with_feedback(recommender, -1, later, k=10)  # warm
            times = []
            for _ in range(7):
                t = time.perf_counter()
                recommend_with_feedback(recommender, -1, later, k=10)
                times.append(time.perf_counter() - t)
            row[f"ms_{size}"] = round(statistics.median(times) * 1000, 2)
        rows.append(row)
        print(f"  fold-in {family}: " + ", ".join(f"{s} ratings {row[f'ms_{s}']} ms"
                                                  for s in SIZES), flush=True)
    return rows


def report(service: dict, folds: list[dict], seconds: float) -> str:
    alone, mixed = service["alone"], service["with_writers"]
    ratio = mixed["read_ms"]["p99"] / alone["read_ms"]["p99"]
    lines = [
        "# The service with a ratings store (benchmarks/feedback.py)",
        "",
        f"latest-small, `--preset fast` dot-bias run, SQLite store, loopback, "
        f"{os.cpu_count()} CPUs; {seconds:g} s per phase; "
        f"`python -m benchmarks.feedback --seconds {seconds:g}`.",
        "",
        "| phase | reads/s | read p50 ms | read p99 ms | writes/s | write p50 ms | "
        "write p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    reloading = service["during_reload"]
    for name, row in (("4 readers, serve without a store", service["no_store"]),
                      ("4 readers alone", alone), ("4 readers + 4 writers", mixed),
                      ("4 readers, one reload in the phase", reloading)):
        w = row["write_ms"]
        lines.append(f"| {name} | {row['reads_per_second']} | {row['read_ms']['p50']} | "
                     f"{row['read_ms']['p99']} | {row['writes_per_second']} | "
                     f"{w['p50'] if w['p50'] is not None else '-'} | "
                     f"{w['p99'] if w['p99'] is not None else '-'} | {row['errors']} |")
    lines += [
        "",
        f"Readers' p99 with writers / alone: **{ratio:.2f}x** (target <= 1.5x). Each write is "
        "one rating, so ratings/s = writes/s (target >= 1,000 with 4 writers; write p99 "
        "target < 20 ms). Server resident memory at the end: "
        f"{service['server_rss_mib']} MiB.",
        "",
        f"Hot swap: `POST /admin/reload` during the last phase answered "
        f"{reloading['reload'].get('status')} after {reloading['reload'].get('wall_s')} s "
        f"(load + warm {reloading['reload'].get('seconds')} s, off the request path); readers' "
        f"p99 in that phase {reloading['read_ms']['p99']} ms against "
        f"{alone['read_ms']['p99']} ms alone, {reloading['errors']} failed requests.",
        "",
        "## One fold-in per model family (a user the model never saw; median of 7)",
        "",
        markdown_table(folds, [("model", "model"), ("fold_in", "fold-in"),
                               *((f"ms_{s}", f"{s:,} ratings, ms") for s in SIZES),
                               ("train_s", "train s (2 epochs)")]),
        "",
        "Target: under 5 ms at 2,000 ratings for every family except those that optimise "
        "through the network (mlp: Adam steps, reported).",
        "",
        f"Machine: {json.dumps(machine_info())}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "feedback.md")
    parser.add_argument("--skip-fold-in", action="store_true")
    args = parser.parse_args(argv)
    bench = latest_small(args.data_dir)
    with tempfile.TemporaryDirectory() as folder:
        service = service_phases(bench, Path(folder), args.seconds)
    for name, row in service.items():
        print(f"{name}: {row}", flush=True)
    folds = [] if args.skip_fold_in else fold_in_costs(bench)
    text = report(service, folds, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
