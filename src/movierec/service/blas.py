"""Capping the threads of numpy's BLAS, so that they do not fight the service's own threads."""

__all__ = ["limit_blas_threads"]

_OPENBLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads")


def limit_blas_threads(threads: int = 1) -> bool:
    """Cap the threads of numpy's BLAS (its matrix products) in this process.

    The service scores many small requests at once, each in a worker thread. A
    multithreaded BLAS starts its own threads for every product, and the two kinds of
    threads fight over the cores: with one BLAS thread the p99 latency of concurrent clients
    falls several-fold (the README's service section has the figures). ``movierec serve``
    calls this.

    Uses threadpoolctl when it is installed, else OpenBLAS's own setter through ctypes
    (numpy's wheels bundle OpenBLAS). Returns whether a limit was applied; where neither
    works, setting ``OPENBLAS_NUM_THREADS=1`` before starting Python does the same.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        threadpool_limits(limits=threads, user_api="blas")
        return True
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return False
    applied = False
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _OPENBLAS_SETTERS:
            if hasattr(library, name):
                getattr(library, name)(ctypes.c_int(threads))
                applied = True
                break
    return applied
