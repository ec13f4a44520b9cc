"""Where MovieLens files come from: a folder the user names, the cache, or GroupLens.

A release is looked up, in order, in the ``data_dir`` argument (``--data-dir``), in the
folder named by ``$MOVIEREC_DATA`` and in the user cache (``$XDG_CACHE_HOME/movierec`` or
``~/.cache/movierec``). Each of these holds release folders as GroupLens ships them
(``ml-latest-small/``, ``ml-100k/``, ...). A release found nowhere is downloaded from
GroupLens, verified and unzipped atomically into ``data_dir`` if given, else the cache.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import NamedTuple
from urllib.error import URLError
from urllib.request import urlopen

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from movierec.atomic import atomic_directory, process_alive
from movierec.data.movielens import Release
from movierec.errors import DataError

ENV_VAR = "MOVIEREC_DATA"
_CHUNK = 1 << 20
_TIMEOUT_S = 60


class Found(NamedTuple):
    """A release folder on disk and which setting pointed there."""

    source: str  # "--data-dir", "MOVIEREC_DATA" or "cache"
    folder: Path


def cache_dir() -> Path:
    """The user cache for downloaded releases: ``$XDG_CACHE_HOME/movierec``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "movierec"


def data_homes(data_dir: str | Path | None = None) -> list[tuple[str, Path]]:
    """The folders searched for release folders, in order, each with its source."""
    homes = []
    if data_dir is not None:
        homes.append(("--data-dir", Path(data_dir).expanduser()))
    if os.environ.get(ENV_VAR):
        homes.append((ENV_VAR, Path(os.environ[ENV_VAR]).expanduser()))
    homes.append(("cache", cache_dir()))
    return homes


def find_release(release: Release, data_dir: str | Path | None = None) -> Found | None:
    """The first complete copy of ``release`` in :func:`data_homes`, or None."""
    for source, home in data_homes(data_dir):
        folder = home / release.folder
        if all((folder / name).is_file() for name in release.required_files):
            return Found(source, folder)
    return None


def locate(release: Release, data_dir: str | Path | None = None, *,
           download: bool = True) -> Path:
    """The folder holding ``release``, downloading it if allowed and found nowhere."""
    found = find_release(release, data_dir)
    if found is not None:
        return found.folder
    if not download:
        raise DataError(_not_found_message(release, data_dir))
    return download_release(release, data_dir)


def download_release(release: Release, data_dir: str | Path | None = None, *,
                     progress: bool = True) -> Path:
    """Download, verify and unzip ``release`` into ``data_dir`` (default: the cache).

    The folder appears all at once: an interrupted download leaves no partial folder,
    and an incomplete folder already there is replaced.
    """
    home = Path(data_dir).expanduser() if data_dir is not None else cache_dir()
    _make_folder(home)
    target = home / release.folder
    with _temporary_file(home, f".{release.zip_name}.") as zip_path:
        _fetch(release, zip_path, home, progress)
        with zipfile.ZipFile(zip_path) as archive, atomic_directory(target) as tmp:
            _extract(release, archive, tmp)
    return target


def _make_folder(home: Path) -> None:
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"Cannot create the data folder {home}: {error.strerror}. Choose "
                        "another folder with --data-dir or MOVIEREC_DATA.") from error


@contextmanager
def _temporary_file(folder: Path, prefix: str) -> Iterator[Path]:
    """A ``PREFIX<pid>-XXXX.part`` file in ``folder``, removed afterwards; parts left by a
    killed download (their process is gone) are removed first."""
    for part in folder.glob(f"{glob.escape(prefix)}*.part"):
        pid = part.name[len(prefix):].split("-", 1)[0]
        if pid.isdecimal() and int(pid) != os.getpid() and not process_alive(int(pid)):
            part.unlink(missing_ok=True)
    handle, name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=".part",
                                    dir=folder)
    os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _fetch(release: Release, dest: Path, home: Path, progress: bool) -> None:
    """Stream ``release.url`` into ``dest`` and check that it is a complete, sound zip."""
    try:
        with urlopen(release.url, timeout=_TIMEOUT_S) as response, open(dest, "wb") as out:
            expected = int(response.headers.get("Content-Length") or 0)
            received = _copy_with_progress(response, out, expected, release.title, progress)
    except (URLError, OSError) as error:  # no network, DNS failure, refused, timeout
        raise DataError(_offline_message(release, home, error)) from error
    if expected and received != expected:
        raise DataError(f"The download of {release.url} stopped after {received:,} of "
                        f"{expected:,} bytes. Run the command again.")
    _verify_zip(release, dest)


def _copy_with_progress(response, out, total: int, title: str, show: bool) -> int:
    columns = (TextColumn(f"Downloading {title}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    received = 0
    with Progress(*columns, console=Console(stderr=True), transient=True,
                  disable=not show) as bar:
        task = bar.add_task("download", total=total or None)
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            received += len(chunk)
            bar.advance(task, len(chunk))
    return received


def _verify_zip(release: Release, path: Path) -> None:
    retry = (f"Run the command again, or download {release.url} by hand and unzip it into "
             "your data folder.")
    try:
        with zipfile.ZipFile(path) as archive:
            corrupt = archive.testzip()
            names = set(archive.namelist())
    except zipfile.BadZipFile as error:
        raise DataError(f"The download of {release.url} is not a valid zip file ({error}). "
                        f"{retry}") from error
    if corrupt is not None:
        raise DataError(f"The download of {release.url} is corrupt ({corrupt} fails its "
                        f"checksum). {retry}")
    missing = [name for name in release.required_files
               if f"{release.folder}/{name}" not in names]
    if missing:
        raise DataError(f"The download of {release.url} lacks {', '.join(missing)} in "
                        f"{release.folder}/; GroupLens may have changed the release. {retry}")


def _extract(release: Release, archive: zipfile.ZipFile, target: Path) -> None:
    """Unzip the members under ``release.folder/`` into ``target`` (without that prefix)."""
    prefix = f"{release.folder}/"
    for member in archive.infolist():
        if member.is_dir() or not member.filename.startswith(prefix):
            continue
        parts = PurePosixPath(member.filename[len(prefix):]).parts
        if ".." in parts:
            raise DataError(f"Refusing to unzip {member.filename} from {release.url}: it "
                            "points outside the dataset folder.")
        dest = target.joinpath(*parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)


def _files_to_put(release: Release, home: Path) -> str:
    files = ", ".join(release.required_files)
    return (f"create the folder {home / release.folder} and put {files} in it (unzip "
            f"{release.zip_name} from {release.url} into {home})")


def _offline_message(release: Release, home: Path, error: Exception) -> str:
    reason = getattr(error, "reason", None) or error
    return (f"Could not download {release.title} from {release.url} ({reason}). To use it "
            f"without a network, {_files_to_put(release, home)}, or point --data-dir or "
            f"{ENV_VAR} at a folder that holds {release.folder}/.")


def _not_found_message(release: Release, data_dir: str | Path | None) -> str:
    looked = "; ".join(f"{source}: {home / release.folder}" for source, home in
                       data_homes(data_dir))
    return (f"{release.title} is not on this machine (looked in {looked}). Run `movierec data "
            f"download {release.name}`, or {_files_to_put(release, cache_dir())}.")
