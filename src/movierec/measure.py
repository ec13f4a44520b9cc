"""Wall-clock and peak-memory measurement shared by training, benchmarks and reports."""

from __future__ import annotations

import sys
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


def release_freed_memory() -> bool:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``).

    Loading a run allocates and frees several hundred MB of buffers (the ``.keras`` file's
    arrays, the Keras variables, the tables converted for numpy scoring); glibc keeps the
    freed space mapped, so a service that has loaded a model looks that much bigger than
    what it holds. Arrow's memory pool (Parquet reads) is asked to do the same. Returns
    whether the C heap could be asked (False off glibc).
    """
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return False
    trim(0)
    return True
