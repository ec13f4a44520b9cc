"""The hot swap with real processes: ``serve`` reloads under load (``POST /admin/reload``
and ``SIGHUP``), the cron script retrains and reloads, and two services share one
PostgreSQL store."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import train_tiny_run
from serving import TOKEN, Service

from movierec.retrain import retrain
from movierec.runs import load_run
from movierec.store import create_store, open_store

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("reload") / "run", epochs=10)


def _store(run_dir: Path, target) -> str:
    run = load_run(run_dir)
    frame = pd.concat([run.train_ratings, run.test_ratings])
    create_store(target, frame, id_kind="int", dataset="synthetic", overwrite=True).close()
    return str(target)


class Readers:
    """4 clients reading lists back to back, counting every failed or non-200 answer."""

    def __init__(self, service: Service) -> None:
        self.service, self.stop = service, threading.Event()
        self.ok, self.failed, self.slowest = 0, [], 0.0
        self.threads = [threading.Thread(target=self._read, args=(n,)) for n in range(4)]

    def _read(self, number: int) -> None:
        user = 1
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                status, _ = self.service.call("GET", f"/users/{user}/recommendations?k=5")
            except OSError as error:
                self.failed.append(repr(error))
                continue
            self.slowest = max(self.slowest, time.perf_counter() - started)
            if status == 200:
                self.ok += 1
            else:
                self.failed.append(status)
            user = (user + number) % 60 + 1

    def __enter__(self) -> Readers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_swap_under_load_loses_no_request(base_run: Path, tmp_path: Path) -> None:
    current = tmp_path / "current"
    shutil.copytree(base_run, current)
    store = _store(base_run, tmp_path / "r.sqlite")
    with Service(current, Path(store)) as service:
        first = service.call("GET", "/health")[1]["run_id"]
        with open_store(store) as opened:
            retrain(current, opened, current)
        with Readers(service) as readers:
            time.sleep(0.5)
            status, body = service.call("POST", "/admin/reload")
            assert status == 200, body
            second = body["run_id"]
            time.sleep(0.5)
            with open_store(store) as opened:  # and once more, by signal
                opened.put(900, [(5, 4.0)])
                retrain(current, opened, current)
            service.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 60
            while service.call("GET", "/health")[1]["run_id"] == second:
                assert time.monotonic() < deadline, "SIGHUP did not reload"
                time.sleep(0.1)
            time.sleep(0.5)
        assert readers.failed == [] and readers.ok > 50
        third = service.call("GET", "/health")[1]
        assert len({first, second, third["run_id"]}) == 3
        assert third["run_store_seq"] == 2
        print(f"{readers.ok} reads during two reloads, slowest {readers.slowest * 1000:.0f} ms")
        assert "reloaded" in service.log.read_text()


def test_a_damaged_run_is_refused_by_a_running_service(base_run: Path, tmp_path: Path) -> None:
    current = tmp_path / "current"
    shutil.copytree(base_run, current)
    with Service(current, Path(_store(base_run, tmp_path / "r.sqlite"))) as service:
        before = service.call("GET", "/health")[1]["run_id"]
        model = current / "model.keras"
        model.write_bytes(model.read_bytes()[:1000])
        assert service.call("POST", "/admin/reload", token=None)[0] == 401
        status, body = service.call("POST", "/admin/reload")
        assert status == 422 and "damaged" in body["detail"]
        service.process.send_signal(signal.SIGHUP)  # the signal fails the same way
        time.sleep(1.0)
        assert service.call("GET", "/health")[1]["run_id"] == before
        assert service.call("GET", "/users/1/recommendations")[0] == 200
        assert service.log.read_text().count("reload failed") == 2


def test_the_cron_script_retrains_only_when_changed_and_reloads(base_run: Path,
                                                                tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the script calls curl")
    current = tmp_path / "current"
    shutil.copytree(base_run, current)
    store = _store(base_run, tmp_path / "r.sqlite")
    with open_store(store) as opened:
        retrain(current, opened, current)  # the served run records the store's seq
    env = {**os.environ, "MOVIEREC_API_TOKEN": TOKEN,
           "MOVIEREC": f"{sys.executable} -m movierec.cli"}
    script = [str(REPO / "scripts" / "retrain-and-reload.sh"), str(current), store]
    with Service(current, Path(store)) as service:
        before = service.call("GET", "/health")[1]["run_id"]
        unchanged = subprocess.run([*script, service.url], env=env, capture_output=True,
                                   text=True, timeout=300)
        assert unchanged.returncode == 0, unchanged.stderr
        assert "not retrained" in unchanged.stdout
        assert service.call("GET", "/health")[1]["run_id"] == before
        assert service.rate(7, {5: 4.5})[0] == 201
        changed = subprocess.run([*script, service.url], env=env, capture_output=True,
                                 text=True, timeout=300)
        assert changed.returncode == 0, changed.stderr
        health = service.call("GET", "/health")[1]
        assert health["run_id"] != before and health["run_store_seq"] == 2


@pytest.mark.postgres
def test_two_services_share_one_postgres_store(base_run: Path, tmp_path: Path,
                                               postgres_url: str) -> None:
    _store(base_run, postgres_url)
    with Service(base_run, postgres_url, log_dir=tmp_path) as first, \
            Service(base_run, postgres_url, log_dir=tmp_path) as second:
        top = [m["movie_id"] for m in first.call("GET", "/users/2/recommendations")[1][
            "recommendations"]]
        assert first.rate(2, {top[0]: 1.0})[0] == 201
        body = second.call("GET", "/users/2/recommendations")[1]
        assert top[0] not in [m["movie_id"] for m in body["recommendations"]]
        assert second.rate(2, {top[1]: 1.5})[0] == 201
        stored = first.call("GET", "/users/2/ratings")[1]["ratings"]
        assert {top[0], top[1]} <= {r["movie_id"] for r in stored}
        assert first.call("GET", "/health")[1]["store"] == "postgresql"
