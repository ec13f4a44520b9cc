"""The ratings store under real faults: ``movierec serve --store`` as a subprocess, killed
with SIGKILL while 8 clients post, run twice on one file, starved of disk (``ulimit -f``)
and given a read-only file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import synthetic_ratings, train_tiny_run
from serving import Service

from movierec.store import create_store, open_store

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from movierec.cli import main; main()"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("store-faults") / "run")


def _empty_store(path: Path) -> Path:
    create_store(path, synthetic_ratings().iloc[:0], id_kind="int").close()
    return path


def test_kill_9_while_8_clients_post_keeps_every_acknowledged_batch(run_dir: Path,
                                                                    tmp_path: Path) -> None:
    store = _empty_store(tmp_path / "ratings.sqlite")
    service = Service(run_dir, store)
    acknowledged: list[int] = []
    sent: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        batch = 0
        while not stop.is_set():
            user = 100_000 + number * 10_000 + batch  # one user per batch: 3 ratings each
            with lock:
                sent.append(user)
            try:
                status, _ = service.rate(user, {1: 4.0, 2: 3.5, 3: 5.0})
            except OSError:
                return  # the server is gone
            if status == 201:
                with lock:
                    acknowledged.append(user)
            batch += 1

    clients = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in clients:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    service.process.send_signal(signal.SIGKILL)
    service.process.wait()
    stop.set()
    for thread in clients:
        thread.join()
    assert len(acknowledged) >= 200, service.log.read_text()

    with open_store(store) as opened:  # what a restarted service reads
        frame = opened.to_frame()
    per_user = frame.groupby("user_id").size()
    missing = set(acknowledged) - set(per_user.index)
    assert not missing, f"{len(missing)} acknowledged batches lost"
    assert set(per_user.unique()) == {3}, "a batch was half written"
    assert set(per_user.index) <= set(sent)
    with Service(run_dir, store) as restarted:  # and the restarted service serves them
        status, body = restarted.call("GET", f"/users/{acknowledged[0]}/ratings")
        assert status == 200 and len(body["ratings"]) == 3


def test_two_services_on_one_file_share_the_ratings(run_dir: Path, tmp_path: Path) -> None:
    store = _empty_store(tmp_path / "ratings.sqlite")
    with Service(run_dir, store) as first, Service(run_dir, store) as second:
        status, body = first.call("GET", "/users/1/recommendations?k=5")
        top = [m["movie_id"] for m in body["recommendations"]]
        assert first.rate(1, {top[0]: 4.5})[0] == 201
        status, body = second.call("GET", "/users/1/recommendations?k=5")
        assert status == 200 and top[0] not in [m["movie_id"] for m in body["recommendations"]]

        # Concurrent posts of one (user, movie) from both processes leave one row.
        results: list[int] = []

        def post(service: Service, value: float) -> None:
            for _ in range(10):
                results.append(service.rate(7, {5: value})[0])

        threads = [threading.Thread(target=post, args=(s, 1.0 + i / 2))
                   for i, s in enumerate([first, second] * 4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results.count(201) == 80
        for service in (first, second):
            status, body = service.call("GET", "/users/7/ratings")
            assert status == 200 and len(body["ratings"]) == 1
    with open_store(store) as opened:
        assert len(opened.user_ratings(7)) == 1 and opened.last_seq() == 81


def test_a_full_disk_answers_503_and_reads_go_on(run_dir: Path, tmp_path: Path) -> None:
    store = _empty_store(tmp_path / "ratings.sqlite")
    limit = store.stat().st_size + 48 * 1024  # the journal soon reaches it
    if shutil.which("prlimit") is None:
        pytest.skip("needs prlimit(1) (util-linux) to set the file-size limit")
    with Service(run_dir, store, prefix=["prlimit", f"--fsize={limit}"]) as service:
        statuses = []
        for batch in range(400):
            status, body = service.rate(200 + batch, {1: 4.0, 2: 3.0, 3: 2.5, 4: 5.0})
            statuses.append(status)
            if status == 503:
                break
        assert statuses[0] == 201 and statuses[-1] == 503, statuses[-5:]
        assert "full" in body["detail"] and "nothing of this write was stored" in body["detail"]
        assert "ratings.sqlite" in body["detail"]
        for path in ("/users/1/recommendations", "/users/200/recommendations", "/health"):
            assert service.call("GET", path)[0] == 200
        assert service.process.poll() is None
    with open_store(store) as opened:
        counts = opened.to_frame().groupby("user_id").size()
        assert set(counts.unique()) <= {4} and len(counts) == statuses.count(201)


def test_a_read_only_store_answers_503_and_reads_go_on(run_dir: Path, tmp_path: Path) -> None:
    store = _empty_store(tmp_path / "ratings.sqlite")
    with open_store(store) as opened:
        opened.put(1, [(5, 4.0)])
    store.chmod(0o444)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root writes anything: drop the capabilities that allow it
        if shutil.which("setpriv") is None:
            pytest.skip("as root, needs setpriv(1) to make a read-only file binding")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    with Service(run_dir, store, prefix=prefix) as service:
        status, body = service.rate(1, {7: 2.0})
        assert status == 503, body
        assert "ratings.sqlite" in body["detail"] and "read-only" in body["detail"]
        status, body = service.call("GET", "/users/1/ratings")
        assert status == 200 and [r["movie_id"] for r in body["ratings"]] == [5]
        status, body = service.call("GET", "/users/1/recommendations")
        assert status == 200 and 5 not in [m["movie_id"] for m in body["recommendations"]]
    with open_store(store) as opened:
        assert [r.movie_id for r in opened.user_ratings(1)] == [5]


def test_a_damaged_store_stops_serve_with_a_message(run_dir: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "ratings.sqlite"
    damaged.write_bytes(os.urandom(8192))
    done = subprocess.run([*CLI, "serve", "--run", str(run_dir), "--store", str(damaged),
                           "--port", "0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert str(damaged) in done.stderr.replace("\n", "") and "Traceback" not in done.stderr
