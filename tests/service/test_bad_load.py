"""The service under bad load, for real: a ``movierec serve`` process on 127.0.0.1 while, at
once, clients send malformed JSON, oversize bodies, bodies one byte at a time, and hold many
idle keep-alive connections. A well-behaved client measures that its requests still succeed;
no response may be a 5xx and the service must keep serving. The figures are printed
(``pytest -s``); benchmarks/results/bad-load.md records a run.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from helpers import train_tiny_run

pytestmark = pytest.mark.slow

ATTACK_SECONDS = 6.0
SLOW_CLIENTS = 20
IDLE_CONNECTIONS = 300
MALFORMED = [b"{", b'{"ratings": [}', b"\xff\xfe\x00garbage", b"null", b"[]",
             b'{"ratings": [{"movie_id": 1, "rating": NaN}]}',
             b'{"ratings": [{"movie_id": 1, "rating": 1e999}]}',
             b'{"ratings": "lots"}', b'{"ratings": [{"movie_id": {"$gt": 1}, "rating": 4}]}']
GOOD_BODY = json.dumps({"ratings": [{"movie_id": 1, "rating": 5}, {"movie_id": 2,
                                                                    "rating": 1}], "k": 5})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    run = train_tiny_run(tmp_path_factory.mktemp("bad-load") / "run")
    process = subprocess.Popen(
        [sys.executable, "-c", "from movierec.cli import main; main()", "serve", "--run",
         str(run), "--port", "0", "--log-level", "warning", "--threads", "8"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = None
    deadline = time.monotonic() + 120
    assert process.stderr is not None
    for line in process.stderr:
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if match:
            port = int(match[1])
            break
        if time.monotonic() > deadline:
            break
    if port is None:
        process.kill()
        pytest.fail("movierec serve did not start")
    threading.Thread(target=process.stderr.read, daemon=True).start()  # drain the log
    yield port, process
    process.terminate()
    process.wait(timeout=20)


def _status(sock: socket.socket) -> int:
    """The status code of the response on ``sock`` (headers read; body left)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return 0  # closed without a response
        data += chunk
    return int(data.split(b" ", 2)[1])


class _Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()

    def add(self, kind: str, status: int | str) -> None:
        with self.lock:
            self.statuses[f"{kind} {status}"] += 1


def _post(port: int, body: bytes, timeout: float = 10.0) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/recommendations", body=body,
                           headers={"Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_bad_clients_do_not_stop_good_ones(server) -> None:
    port, process = server
    tally = _Tally()
    stop = threading.Event()

    def malformed() -> None:
        i = 0
        while not stop.is_set():
            tally.add("malformed-json", _post(port, MALFORMED[i % len(MALFORMED)]))
            i += 1

    def oversize() -> None:
        big = json.dumps({"ratings": [{"movie_id": 1, "rating": 4}] * 5000}).encode()
        while not stop.is_set():
            try:
                tally.add("oversize", _post(port, big))
            except (ConnectionError, OSError):  # refused before the whole body was sent
                tally.add("oversize", "reset")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"POST /recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             b"application/json\r\nContent-Length: 1000000000\r\n\r\n{")
                tally.add("declared-huge", _status(sock))

    def slow_client() -> None:
        body = GOOD_BODY.encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"POST /recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/json\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\n\r\n")
            pause = ATTACK_SECONDS / len(body)
            for byte in body:
                sock.sendall(bytes([byte]))
                time.sleep(pause)
            tally.add("byte-by-byte", _status(sock))

    idle: list[socket.socket] = []

    def keep_alive() -> None:
        for _ in range(IDLE_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
            tally.add("keep-alive", _status(sock))
            idle.append(sock)  # held open, idle, until the end

    def good_client(seconds: float, latencies: list[float], statuses: Counter) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            started = time.perf_counter()
            if i % 2:
                connection.request("POST", "/recommendations", body=GOOD_BODY,
                                   headers={"Content-Type": "application/json"})
            else:
                connection.request("GET", f"/users/{1 + i % 50}/recommendations?k=10")
            response = connection.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
            statuses[response.status] += 1
            i += 1
        connection.close()

    calm: list[float] = []
    calm_statuses: Counter[int] = Counter()
    good_client(2.0, calm, calm_statuses)

    attackers = ([threading.Thread(target=malformed) for _ in range(2)]
                 + [threading.Thread(target=oversize)]
                 + [threading.Thread(target=slow_client) for _ in range(SLOW_CLIENTS)]
                 + [threading.Thread(target=keep_alive)])
    for thread in attackers:
        thread.start()
    loaded: list[float] = []
    loaded_statuses: Counter[int] = Counter()
    good_client(ATTACK_SECONDS, loaded, loaded_statuses)
    stop.set()
    for thread in attackers:
        thread.join(timeout=60)
    after = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    after.request("GET", "/health")
    health = after.getresponse().status
    for sock in idle:
        sock.close()

    def figures(latencies: list[float], seconds: float) -> str:
        ms = sorted(x * 1000 for x in latencies)
        p95 = ms[int(0.95 * (len(ms) - 1))]
        return (f"{len(ms)} requests, {len(ms) / seconds:.0f}/s, p50 "
                f"{statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms")

    print(f"\ngood client alone (2 s): {figures(calm, 2.0)}; statuses {dict(calm_statuses)}")
    print(f"good client under attack ({ATTACK_SECONDS:g} s): {figures(loaded, ATTACK_SECONDS)}; "
          f"statuses {dict(loaded_statuses)}")
    print("attack responses:", dict(sorted(tally.statuses.items())))
    print(f"idle keep-alive connections held: {len(idle)}; /health afterwards: {health}")

    assert process.poll() is None, "the service died"
    assert health == 200
    assert set(calm_statuses) == {200} and set(loaded_statuses) == {200}
    assert len(loaded) >= 10
    server_errors = {k: v for k, v in tally.statuses.items() if k.split()[1].startswith("5")}
    assert not server_errors, server_errors
    assert all(k.split()[1] in ("400", "413", "422", "reset")
               for k in tally.statuses if k.startswith(("malformed", "oversize", "declared")))
    assert tally.statuses["byte-by-byte 200"] == SLOW_CLIENTS
    assert tally.statuses["keep-alive 200"] == IDLE_CONNECTIONS
