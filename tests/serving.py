"""``movierec serve`` in a subprocess, for the tests of real processes and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CLI = [sys.executable, "-c", "from movierec.cli import main; main()"]
TOKEN = "fault-token"


class Service:
    """``movierec serve --store`` in a subprocess on a free port."""

    def __init__(self, run: Path, store: Path | str | None, *,
                 prefix: list[str] | None = None, log_dir: Path | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k != "MOVIEREC_DATA"}
        env.update(MOVIEREC_API_TOKEN=TOKEN, PYTHONDONTWRITEBYTECODE="1")
        folder = log_dir or (Path(store).parent if isinstance(store, Path) else Path(run).parent)
        self.log = folder / f"serve-{time.monotonic_ns()}.log"
        extra = ["--store", str(store)] if store is not None else []
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*(prefix or []), *CLI, "serve", "--run", str(run), *extra,
                 "--port", "0", "--log-level", "info"],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 90
        self.url = ""
        while not self.url:
            text = self.log.read_text(errors="replace")
            for word in text.split():
                if word.startswith("http://127.0.0.1:"):
                    self.url = word.rstrip("/")
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"serve did not start:\n{text}")
            time.sleep(0.05)

    def call(self, method: str, path: str, body: dict | None = None,
             token: str | None = TOKEN) -> tuple[int, dict]:
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body else None)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def rate(self, user: int, ratings: dict[int, float]) -> tuple[int, dict]:
        return self.call("POST", f"/users/{user}/ratings", {
            "ratings": [{"movie_id": m, "rating": r} for m, r in ratings.items()]})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
