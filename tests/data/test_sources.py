"""Where releases are found, and the download path (served from file:// URLs, never the
network)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from urllib.error import URLError

import pytest

from movierec.data import (
    DATASETS,
    cache_dir,
    download_release,
    find_release,
    load,
    movielens,
    sources,
)
from movierec.errors import DataError

RELEASE = DATASETS["latest-small"]
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,1,3.5,964982224\n"
MOVIES = "movieId,title,genres\n1,Toy Story (1995),Comedy\n"


def _write_release(home: Path, ratings: str = RATINGS) -> Path:
    folder = home / RELEASE.folder
    folder.mkdir(parents=True)
    (folder / "ratings.csv").write_text(ratings)
    (folder / "movies.csv").write_text(MOVIES)
    return folder


def _zip_bytes(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _release_zip() -> bytes:
    return _zip_bytes({"ml-latest-small/ratings.csv": RATINGS,
                       "ml-latest-small/movies.csv": MOVIES,
                       "ml-latest-small/README.txt": "readme"})


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder served as the GroupLens site through a file:// URL."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(movielens, "BASE_URL", site.as_uri())
    monkeypatch.delenv("MOVIEREC_DATA", raising=False)
    return site


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url, timeout=None):
        raise URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(sources, "urlopen", offline)
    monkeypatch.delenv("MOVIEREC_DATA", raising=False)


def test_cache_follows_xdg_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "movierec"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "movierec"


def test_data_dir_comes_before_env_which_comes_before_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    monkeypatch.setenv("MOVIEREC_DATA", str(env))
    for home in (explicit, env, cache_dir()):
        _write_release(home)
    assert find_release(RELEASE, explicit) == ("--data-dir", explicit / RELEASE.folder)
    assert find_release(RELEASE) == ("MOVIEREC_DATA", env / RELEASE.folder)
    monkeypatch.delenv("MOVIEREC_DATA")
    assert find_release(RELEASE) == ("cache", cache_dir() / RELEASE.folder)


def test_load_reads_the_folder_found_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.setenv("MOVIEREC_DATA", str(tmp_path / "env"))
    _write_release(tmp_path / "env")
    _write_release(tmp_path / "explicit", RATINGS + "3,1,5.0,964982224\n")
    assert load("latest-small", download=False).n_ratings == 2
    assert load("latest-small", tmp_path / "explicit", download=False).n_ratings == 3


def test_an_incomplete_folder_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.delenv("MOVIEREC_DATA", raising=False)
    (_write_release(tmp_path) / "movies.csv").unlink()
    assert find_release(RELEASE, tmp_path) is None


def test_missing_release_downloads_into_the_cache_atomically(server: Path) -> None:
    (server / RELEASE.zip_name).write_bytes(_release_zip())
    dataset = load("latest-small")
    assert dataset.n_ratings == 2
    folder = cache_dir() / RELEASE.folder
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "movies.csv",
                                                         "ratings.csv"]
    assert [p.name for p in cache_dir().iterdir()] == [RELEASE.folder]  # no temporary left


def test_a_downloaded_release_is_not_downloaded_again(server: Path, no_network: None) -> None:
    _write_release(cache_dir())
    assert load("latest-small").n_ratings == 2


def test_download_goes_to_the_data_dir_when_given(server: Path, tmp_path: Path) -> None:
    (server / RELEASE.zip_name).write_bytes(_release_zip())
    target = download_release(RELEASE, tmp_path / "mine", progress=False)
    assert target == tmp_path / "mine" / RELEASE.folder
    assert (target / "ratings.csv").read_text() == RATINGS
    assert not cache_dir().exists()


def test_download_replaces_an_incomplete_cached_folder(server: Path) -> None:
    (server / RELEASE.zip_name).write_bytes(_release_zip())
    (_write_release(cache_dir()) / "movies.csv").unlink()
    assert load("latest-small").n_movies == 1


def test_a_file_that_is_not_a_zip_is_rejected_and_leaves_nothing(server: Path) -> None:
    (server / RELEASE.zip_name).write_text("<html>Service unavailable</html>")
    with pytest.raises(DataError, match="is not a valid zip file") as caught:
        load("latest-small")
    assert "Run the command again" in str(caught.value)
    assert list(cache_dir().iterdir()) == []


def test_a_zip_without_the_release_files_is_rejected(server: Path) -> None:
    (server / RELEASE.zip_name).write_bytes(_zip_bytes({"ml-latest-small/ratings.csv": RATINGS}))
    with pytest.raises(DataError, match=r"lacks movies.csv in ml-latest-small/"):
        load("latest-small")
    assert not (cache_dir() / RELEASE.folder).exists()


def test_a_corrupt_member_is_detected(server: Path) -> None:
    data = bytearray(_release_zip())
    offset = data.index(b"Toy Story")
    data[offset:offset + 3] = b"Boy"  # same length, wrong CRC
    (server / RELEASE.zip_name).write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"is corrupt \(ml-latest-small/movies.csv fails"):
        load("latest-small")


def test_a_truncated_download_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    response = io.BytesIO(b"x" * 10)
    response.headers = {"Content-Length": "1000"}
    monkeypatch.setattr(sources, "urlopen", lambda url, timeout: response)
    with pytest.raises(DataError, match="stopped after 10 of 1,000 bytes"):
        download_release(RELEASE, progress=False)


def test_a_zip_member_escaping_the_folder_is_refused(server: Path, tmp_path: Path) -> None:
    members = {"ml-latest-small/ratings.csv": RATINGS, "ml-latest-small/movies.csv": MOVIES,
               "ml-latest-small/../../evil.txt": "x"}
    (server / RELEASE.zip_name).write_bytes(_zip_bytes(members))
    with pytest.raises(DataError, match="points outside the dataset folder"):
        download_release(RELEASE, tmp_path / "data", progress=False)
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "data" / RELEASE.folder).exists()


def test_no_network_says_which_folder_to_create_and_what_to_put_there(no_network: None
                                                                      ) -> None:
    with pytest.raises(DataError) as caught:
        load("100k")
    message = str(caught.value)
    assert "Could not download MovieLens 100k" in message
    assert "Temporary failure in name resolution" in message
    assert f"create the folder {cache_dir() / 'ml-100k'}" in message
    assert "put u.data, u.item, u.genre in it" in message
    assert "MOVIEREC_DATA" in message


def test_without_download_a_missing_release_names_the_places_looked(tmp_path: Path,
                                                                   no_network: None) -> None:
    with pytest.raises(DataError) as caught:
        load("1m", tmp_path, download=False)
    message = str(caught.value)
    assert f"--data-dir: {tmp_path / 'ml-1m'}" in message
    assert "movierec data download 1m" in message
    assert "put ratings.dat, movies.dat in it" in message
