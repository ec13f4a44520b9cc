"""Atomic file output: a reader sees the previous complete file or the new one, never half.

Everything is first written to a temporary sibling, flushed, then renamed over the target
with :func:`os.replace`, which is atomic on POSIX file systems. A write that fails (a full
disk, a file-size limit, no permission) is a :class:`~movierec.errors.WriteError` naming the
target and saying that the previous version is unchanged.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from movierec.errors import WriteError


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    The caller writes the temporary file by any means (pandas, Keras, matplotlib). If the
    block raises, the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    existed = target.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix,
                                        dir=target.parent)
    except OSError as error:
        raise write_failed(target, error, existed) from error
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    except OSError as error:  # a full disk, a file-size limit, no permission
        raise write_failed(target, error, existed) from error
    finally:
        tmp.unlink(missing_ok=True)


def write_failed(target: Path, error: OSError | WriteError, existed: bool) -> WriteError:
    """The :class:`WriteError` for ``target``: what failed, what to do, what is kept."""
    reason = error.reason if isinstance(error, WriteError) else error.strerror or str(error)
    kept = (f"the previous {target.name} there is unchanged" if existed
            else "nothing was written")
    return WriteError(f"cannot write {target}: {reason}. Free some disk space (or raise the "
                      f"file-size limit, or choose another folder) and run the command again; "
                      f"{kept}.", reason)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON to ``target`` atomically."""
    write_text(target, json.dumps(data, indent=2, sort_keys=False) + "\n")


@contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; it replaces ``target`` on success.

    Used for multi-file artifacts (a training run, an unzipped dataset) so that a process
    killed half-way leaves either the previous complete directory or none. Two processes
    writing the same ``target`` at once each swap in a complete directory, one after the
    other (an exclusive lock on the parent folder orders the swaps), so the last one wins
    whole. Temporary folders left by a killed process are removed by the next write.
    """
    target = Path(target)
    existed = target.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_siblings(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-",
                                    dir=target.parent))
    except OSError as error:
        raise write_failed(target, error, existed) from error
    try:
        yield tmp
        with _locked(target.parent):
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.old-{os.getpid()}")
                os.replace(target, old)
            os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except (OSError, WriteError) as error:  # name the folder, not a file in its temporary
        raise write_failed(target, error, existed) from error
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``folder`` (POSIX ``flock`` on its descriptor)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the swap is still all or nothing
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


_STALE = re.compile(r"\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)(?:-.*)?")


def _remove_stale_siblings(target: Path) -> None:
    """Remove ``target``'s temporary siblings whose process is gone (killed mid-write)."""
    for sibling in target.parent.glob(f".{glob.escape(target.name)}.*"):
        match = _STALE.fullmatch(sibling.name)
        if match and match["name"] == target.name and not process_alive(int(match["pid"])):
            shutil.rmtree(sibling, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (this one always does)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
