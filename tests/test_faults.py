"""Faults for real: processes killed with SIGKILL, two writers at once, a full disk.

Every test runs ``movierec`` in a subprocess (no mocks) on tiny synthetic data. A run
directory or a downloaded release must be the previous complete one or absent, never half
written, and the next command must work.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import synthetic_ratings, train_tiny_run

from movierec.cli import main
from movierec.data import DATASETS, find_release
from movierec.runs import load_run

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from movierec.cli import main; main()"]
RELEASE = DATASETS["latest-small"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MOVIEREC_DATA"}
    env.update(PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", **extra)
    return env


def _train_argv(ratings: Path, out: Path, epochs: int = 1) -> list[str]:
    return [*CLI, "train", "--ratings", str(ratings), "--out", str(out), "--epochs",
            str(epochs), "--factors", "4", "--batch-size", "32", "--quiet"]


def _ease_argv(ratings: Path, out: Path, test_size: float = 0.1) -> list[str]:
    """A closed-form training: a process start and a save, with no Keras compile or fit
    (the fault tests are about the writes, not the model)."""
    return [*CLI, "train", "--ratings", str(ratings), "--out", str(out), "--model", "ease",
            "--lam", "20", "--test-size", str(test_size), "--quiet"]


def _siblings(run: Path) -> list[str]:
    """Hidden temporary folders beside ``run`` (a write in progress or left behind)."""
    return sorted(p.name for p in run.parent.iterdir() if p.name.startswith(f".{run.name}."))


def _in_process(argv: list[str]) -> None:
    """Run a ``CLI ...`` command line in this process; it must succeed."""
    try:
        main(argv[len(CLI):])
    except SystemExit as exit_:
        assert not exit_.code, exit_.code


def _wait_for(condition, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the process ended (rc {process.returncode}) before the moment to "
                        f"kill it:\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("timed out waiting for the moment to kill")
        time.sleep(0.002)


def test_kill_9_while_saving_a_run_leaves_the_previous_run(ratings_file: Path,
                                                           tmp_path: Path) -> None:
    run = train_tiny_run(tmp_path / "run")
    before = (run / "metrics.json").read_text()
    process = subprocess.Popen(_train_argv(ratings_file, run), env=_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the new run is being written: its temporary folder holds a file or more
    _wait_for(lambda: any(any((run.parent / name).iterdir()) for name in _siblings(run)
                          if (run.parent / name).is_dir()), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert (run / "metrics.json").read_text() == before
    assert load_run(run).info.dataset == "synthetic"  # the previous run, complete
    assert _siblings(run)  # the killed writer's temporary folder is left...
    _in_process(_ease_argv(ratings_file, run))  # one start-up less, and no fit
    assert load_run(run).info.dataset == "ratings.csv"
    assert _siblings(run) == []  # ...and removed by the next write


def test_two_trainings_into_one_folder_leave_one_complete_run(ratings_file: Path,
                                                              tmp_path: Path) -> None:
    run = tmp_path / "run"
    processes = [subprocess.Popen(_ease_argv(ratings_file, run, size), env=_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for size in (0.1, 0.3)]
    for process in processes:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        assert "Traceback" not in err
    loaded = load_run(run)
    size = loaded.info.test_size
    assert size in (0.1, 0.3)
    # every file comes from the same writer: config, metrics and both parquet files agree
    assert loaded.test_ratings is not None
    assert len(loaded.test_ratings) == loaded.metrics["n_validation"] == loaded.info.n_test
    assert len(loaded.train_ratings) == loaded.metrics["n_train"] == loaded.info.n_train
    assert json.loads((run / "config.json").read_text())["data"]["test_size"] == size
    total = len(synthetic_ratings())
    assert abs(loaded.info.n_test - size * total) < 0.05 * total  # the test size it ran with
    assert _siblings(run) == []


def test_a_full_disk_is_a_clear_error_and_keeps_the_previous_run(ratings_file: Path,
                                                                 tmp_path: Path) -> None:
    run = train_tiny_run(tmp_path / "run")
    before = (run / "metrics.json").read_text()
    # `ulimit -f 20` (20 KiB): the JSON files fit, model.keras (about 35 kB) does not, as on
    # a full disk. A shell sets the limit: a preexec_fn would fork this multithreaded process
    argv = ["bash", "-c", 'ulimit -f 20 && exec "$@"', "bash", *_train_argv(ratings_file, run)]
    result = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert f"cannot write {run}: File too large" in message
    assert "File too large" in message and "previous run there is unchanged" in message
    assert (run / "metrics.json").read_text() == before
    load_run(run)
    assert _siblings(run) == []


# -- downloads --------------------------------------------------------------------------------

def _release_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("ml-latest-small/ratings.csv",
                         "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
                         "2,1,3.5,964982224\n")
        archive.writestr("ml-latest-small/movies.csv",
                         "movieId,title,genres\n1,Toy Story (1995),Comedy\n")
        archive.writestr("ml-latest-small/README.txt", os.urandom(300_000))
    return buffer.getvalue()


class _Site(ThreadingHTTPServer):
    """Serves the release zip, slowly (1 kB every 10 ms) while ``slow`` is set."""

    daemon_threads = True
    body = _release_zip()
    slow = True
    sent = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Site

    def do_GET(self) -> None:
        if self.path != f"/{RELEASE.zip_name}":
            self.send_error(404)
            return
        body = self.server.body
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        step = 1024 if self.server.slow else len(body)
        try:
            for start in range(0, len(body), step):
                self.wfile.write(body[start:start + step])
                self.wfile.flush()
                self.server.sent += step
                if self.server.slow:
                    time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was killed

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def site():
    server = _Site(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_kill_9_during_a_download_leaves_no_release_and_the_next_run_downloads_again(
        site: _Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOVIEREC_DATA", raising=False)  # only --data-dir counts here
    home = tmp_path / "data"
    env = _env(MOVIEREC_DOWNLOAD_URL=f"http://127.0.0.1:{site.server_address[1]}",
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    argv = [*CLI, "data", "download", "latest-small", "--data-dir", str(home)]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    _wait_for(lambda: site.sent >= 50_000, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (home / RELEASE.folder).exists()
    assert find_release(RELEASE, home) is None
    assert [p.name for p in home.iterdir() if not p.name.endswith(".part")] == []

    site.slow, site.sent = False, 0
    monkeypatch.setenv("MOVIEREC_DOWNLOAD_URL", env["MOVIEREC_DOWNLOAD_URL"])
    _in_process(argv)  # one start-up less
    assert site.sent >= len(site.body)  # downloaded again, not taken from a partial file
    assert find_release(RELEASE, home) is not None
    assert (home / RELEASE.folder / "README.txt").stat().st_size == 300_000
    assert sorted(p.name for p in home.iterdir()) == [RELEASE.folder]  # the part is gone


_SWAPPER = """
import sys
from pathlib import Path
from movierec.atomic import atomic_directory
target, tag = Path(sys.argv[1]), sys.argv[2]
for i in range(150):
    with atomic_directory(target) as tmp:
        for name in ("a", "b", "c"):
            (tmp / name).write_text(f"{tag}-{i}")
"""


def test_many_racing_directory_swaps_never_fail_or_mix(tmp_path: Path) -> None:
    """The swap itself, raced hard: three processes replace one folder 150 times each."""
    target = tmp_path / "target"
    processes = [subprocess.Popen([sys.executable, "-c", _SWAPPER, str(target), tag],
                                  env=_env(), stderr=subprocess.PIPE, text=True)
                 for tag in ("x", "y", "z")]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    contents = {(target / name).read_text() for name in ("a", "b", "c")}
    assert len(contents) == 1  # the three files come from one write
    assert _siblings(target) == []
