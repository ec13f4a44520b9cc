"""Load test of ``movierec serve``: concurrent clients against the recommendations endpoint.

Starts the server on 127.0.0.1 in a subprocess (as ``movierec serve`` would run), waits for
``/health``, then runs ``--clients`` concurrent asyncio clients (one keep-alive connection each)
for ``--seconds`` seconds, each requesting ``/users/{id}/recommendations?k=10`` for random
known users. Reports requests per second, latency percentiles and errors (non-200 answers
and failed requests), and stops the server.

Usage::

    python -m benchmarks.load --run runs/dot-bias --seconds 30 --clients 8

Only ever point it at a server on this machine: it binds 127.0.0.1 and is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

TARGET_P99_MS = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(run: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-c", "from movierec.cli import main; main()", "serve",
               "--run", str(run), "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for_health(base: str, process: subprocess.Popen, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise SystemExit(f"the server exited with code {process.returncode}:\n{error}")
        try:
            response = httpx.get(f"{base}/health", timeout=1.0)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer /health within {timeout:.0f} s")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol for GETs.

    The generator shares the server's cores, so it must cost little per request: a plain
    asyncio stream costs a few tens of microseconds per request where httpx costs about
    0.9 ms, which on 2 cores starved the server it was measuring.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, host)

    async def get(self, target: str) -> tuple[int, bytes]:
        """``(status, body)`` of ``GET target``; the body is read by its Content-Length."""
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                       if line.lower().startswith("content-length:")), None)
        if length is None:
            raise ConnectionError(f"answer to {target} has no Content-Length")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def client_loop(connection: Connection, users: list, k: int, deadline: float,
                      seed: int, latencies: list[float], errors: list[str]) -> None:
    """Request random users' recommendations back to back until ``deadline``.

    An answer counts as an error unless it is a 200 whose JSON holds ``k`` recommendations.
    """
    rng = random.Random(seed)
    while time.perf_counter() < deadline:
        user = rng.choice(users)
        started = time.perf_counter()
        try:
            status, body = await connection.get(f"/users/{user}/recommendations?k={k}")
            elapsed = time.perf_counter() - started
            if status != 200 or len(json.loads(body)["recommendations"]) != k:
                errors.append(f"{status} for user {user}")
            else:
                latencies.append(elapsed)
        except (OSError, ValueError, asyncio.IncompleteReadError) as error:
            errors.append(f"{type(error).__name__} for user {user}")
            return  # the connection is unusable; this client stops


def percentiles(latencies: list[float]) -> dict[str, float | None]:
    ms = np.asarray(latencies) * 1000.0
    if not ms.size:
        return dict.fromkeys(("mean", "p50", "p90", "p99", "max"))
    return {"mean": round(float(ms.mean()), 2),
            **{f"p{q}": round(float(np.percentile(ms, q)), 2) for q in (50, 90, 99)},
            "max": round(float(ms.max()), 2)}


async def run_load(host: str, port: int, users: list, *, clients: int, seconds: float,
                   k: int, server: psutil.Process, warmup: float = 1.0) -> dict:
    connections = [await Connection.open(host, port) for _ in range(clients)]
    try:
        # Warm up connections and caches; not measured.
        await asyncio.gather(*(client_loop(c, users, k, time.perf_counter() + warmup,
                                           1000 + i, [], []) for i, c in enumerate(connections)))
        latencies: list[float] = []
        errors: list[str] = []
        server_cpu, client_cpu = _cpu_seconds(server), time.process_time()
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(client_loop(c, users, k, deadline, i, latencies, errors)
                               for i, c in enumerate(connections)))
        wall = time.perf_counter() - started
        server_cpu = _cpu_seconds(server) - server_cpu
        client_cpu = time.process_time() - client_cpu
    finally:
        for connection in connections:
            await connection.close()
    total = len(latencies) + len(errors)
    return {
        "clients": clients,
        "seconds": round(wall, 2),
        "requests": total,
        "requests_per_second": round(total / wall, 1),
        "errors": len(errors),
        "cpu_ms_per_request": {"server": round(server_cpu * 1000 / max(total, 1), 3),
                               "client": round(client_cpu * 1000 / max(total, 1), 3)},
        "error_examples": sorted(set(errors))[:5],
        "latency_ms": percentiles(latencies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="run directory to serve")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured duration")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--k", type=int, default=10, help="recommendations per request")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 600:
        parser.error("--seconds must be in (0, 600]")
    if not 1 <= args.clients <= 256:
        parser.error("--clients must be in [1, 256]")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_server(args.run, port)
    try:
        health = wait_for_health(base, process)
        users = httpx.get(f"{base}/users", params={"limit": 1000}).json()["users"]
        result = asyncio.run(run_load("127.0.0.1", port, users, clients=args.clients,
                                      seconds=args.seconds, k=args.k,
                                      server=psutil.Process(process.pid)))
    finally:
        stop_server(process)
    result = {"model": health["model"], "dataset": health["dataset"],
              "n_users": health["n_users"], "n_movies": health["n_movies"],
              "cpus": os.cpu_count(), **result}
    latency = result["latency_ms"]
    print(f"{health['model']} on {health['dataset']} ({health['n_users']} users, "
          f"{health['n_movies']} movies), {args.clients} clients for {result['seconds']} s:")
    print(f"  {result['requests']} requests, {result['requests_per_second']} requests/s, "
          f"{result['errors']} errors")
    print(f"  latency ms: p50 {latency['p50']}, p90 {latency['p90']}, p99 {latency['p99']}, "
          f"max {latency['max']} (target p99 < {TARGET_P99_MS:g} ms)")
    cpu = result["cpu_ms_per_request"]
    print(f"  CPU per request: server {cpu['server']} ms, "
          f"load client {cpu['client']} ms; machine load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
