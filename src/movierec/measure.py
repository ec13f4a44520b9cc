"""Wall-clock and peak-memory measurement shared by training, benchmarks and reports."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil


@dataclass
class Measurement:
    """What :func:`measure` observed: seconds elapsed and the peak resident memory in MiB."""

    seconds: float = 0.0
    peak_rss_mib: float = 0.0


@contextmanager
def measure(interval: float = 0.02) -> Iterator[Measurement]:
    """Time a block and sample this process's resident memory to find its peak.

    ``ru_maxrss`` only ever grows over a process's life, so it cannot tell one model's peak
    from the previous one's; a sampling thread can.
    """
    process = psutil.Process()
    result = Measurement(peak_rss_mib=process.memory_info().rss / 2**20)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            result.peak_rss_mib = max(result.peak_rss_mib, process.memory_info().rss / 2**20)

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
        result.peak_rss_mib = max(result.peak_rss_mib, process.memory_info().rss / 2**20)
