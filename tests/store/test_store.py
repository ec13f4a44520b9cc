"""The ratings store against real databases: an SQLite file, and a PostgreSQL server
(``postgres_url``: skipped locally without one, required in CI)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.store import (
    SCHEMA_VERSION,
    RatingsStore,
    StoreError,
    create_store,
    open_store,
)
from movierec.store.sqlite import SqliteStore

FRAME = pd.DataFrame({"user_id": [1, 1, 2, 1], "movie_id": [10, 20, 10, 10],
                      "rating": [4.0, 3.5, 5.0, 2.0], "timestamp": [100, 200, 300, 400]})


@pytest.fixture
def store(target: str):
    with create_store(target, FRAME, id_kind="int", dataset="synthetic",
                      overwrite=True) as made:
        yield made


def test_import_keeps_the_latest_rating_of_each_pair(store: RatingsStore) -> None:
    assert store.count() == 3
    assert [(r.movie_id, r.rating, r.timestamp) for r in store.user_ratings(1)] == [
        (10, 2.0, 400), (20, 3.5, 200)]
    info = store.info()
    assert (info["n_ratings"], info["n_users"], info["n_movies"]) == (3, 2, 2)
    assert (info["schema_version"], info["dataset"], info["id_kind"]) == (
        SCHEMA_VERSION, "synthetic", "int")
    assert store.last_seq() == 1  # the import is one write


def test_put_upserts_and_numbers_every_write(store: RatingsStore) -> None:
    first = store.put(1, [(30, 4.5), (10, 1.0)], timestamp=500)
    second = store.put(7, [(10, 3.0)])
    assert second > first > 1 and store.last_seq() == second
    ratings = {r.movie_id: r for r in store.user_ratings(1)}
    assert ratings[10].rating == 1.0 and ratings[10].seq == first
    assert ratings[30].timestamp == 500 and ratings[20].seq == 1
    assert store.count() == 5
    changed = store.to_frame(since_seq=1)
    assert changed[["user_id", "movie_id"]].values.tolist() == [[1, 10], [1, 30], [7, 10]]
    assert changed["user_id"].dtype == np.int64


@pytest.mark.parametrize("batch", [
    [(30, 4.0), (40, float("nan"))],
    [(30, 4.0), (30, 5.0)],
    [(30, 4.0), ("x", 5.0)],
    [(30, 4.0), (40, True)],
    [],
])
def test_a_bad_batch_stores_nothing(store: RatingsStore, batch: list) -> None:
    with pytest.raises(StoreError):
        store.put(1, batch)
    assert store.count() == 3 and store.last_seq() == 1
    assert [r.movie_id for r in store.user_ratings(1)] == [10, 20]


def test_delete_logs_the_deletion(store: RatingsStore) -> None:
    assert store.delete(1, 999) is None and store.last_seq() == 1
    seq = store.delete(1, 20)
    assert seq == store.last_seq() == 2
    assert [r.movie_id for r in store.user_ratings(1)] == [10]
    assert store.deletions().values.tolist() == [[2, 1, 20]]
    assert store.deletions(since_seq=2).empty


def test_concurrent_writes_of_one_pair_leave_one_row(store: RatingsStore) -> None:
    seqs: list[int] = []
    lock = threading.Lock()

    def write(value: float) -> None:
        for _ in range(10):
            seq = store.put(5, [(50, value)])
            with lock:
                seqs.append(seq)

    threads = [threading.Thread(target=write, args=(1.0 + i / 2,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = store.user_ratings(5)
    assert len(stored) == 1 and len(set(seqs)) == 80
    assert stored[0].seq == max(seqs) == store.last_seq()  # the last write won


def test_string_ids(target: str) -> None:
    frame = pd.DataFrame({"user_id": ["ann", "bob"], "movie_id": ["m1", "m2"],
                          "rating": [4.0, 2.0]})
    with create_store(target, frame, id_kind="str", overwrite=True) as store:
        store.put("ann", [("m3", 5.0)])
        assert [r.movie_id for r in store.user_ratings("ann")] == ["m1", "m3"]
        assert store.to_frame()["user_id"].tolist() == ["ann", "bob", "ann"]


def test_reopened_store_keeps_every_write(target: str) -> None:
    with create_store(target, FRAME, id_kind="int", overwrite=True) as store:
        seq = store.put(3, [(30, 4.0)])
    with open_store(target) as store:
        assert store.last_seq() == seq and store.count() == 4
        assert store.user_ratings(3)[0].rating == 4.0


def test_create_refuses_an_existing_store(target: str) -> None:
    create_store(target, FRAME, id_kind="int", overwrite=True).close()
    with pytest.raises(StoreError, match="--overwrite"):
        create_store(target, FRAME.iloc[:1], id_kind="int")
    with open_store(target) as store:
        assert store.count() == 3


def test_an_older_schema_is_migrated(target: str) -> None:
    create_store(target, FRAME, id_kind="int", overwrite=True, schema_version=1).close()
    with open_store(target) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        assert store.count() == 3
        seq = store.delete(1, 20)  # needs version 2's deletion log
        assert store.deletions()["seq"].tolist() == [seq]


def test_a_newer_schema_is_refused(target: str) -> None:
    with create_store(target, FRAME, id_kind="int", overwrite=True) as store:
        store._write(lambda cursor: cursor.execute(store._sql(
            "UPDATE movierec_meta SET value = ? WHERE key = 'schema_version'"), ("99",)))
    with pytest.raises(StoreError, match=r"schema version 99.*newer movierec"):
        open_store(target)


# -- SQLite only --------------------------------------------------------------------------
def test_group_commit_groups_concurrent_writes(tmp_path: Path) -> None:
    store = create_store(tmp_path / "r.sqlite", FRAME, id_kind="int")
    assert isinstance(store, SqliteStore)
    barrier = threading.Barrier(8)

    def write(user: int) -> None:
        barrier.wait()
        for movie in range(25):
            store.put(user, [(movie, 3.0)])

    threads = [threading.Thread(target=write, args=(100 + i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count() == 3 + 200
    commits = store.commits
    store.close()
    assert commits < 200 * 0.75, f"{commits} transactions for 200 concurrent writes"


def test_missing_damaged_and_foreign_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no ratings store at .*store init"):
        open_store(tmp_path / "absent.sqlite")
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 20)
    with pytest.raises(StoreError, match=f"{damaged}.*not a movierec ratings store"):
        open_store(damaged)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    with pytest.raises(StoreError, match=f"{text}.*not an SQLite database"):
        open_store(text)
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE ratings (user_id, movie_id, rating)")
    with pytest.raises(StoreError, match=f"{foreign} is an SQLite database but not a movierec"):
        open_store(foreign)


def test_a_failed_import_leaves_no_file(tmp_path: Path) -> None:
    bad = FRAME.assign(rating=[4.0, np.nan, 3.0, 2.0])
    with pytest.raises(StoreError, match="row 2"):
        create_store(tmp_path / "r.sqlite", bad, id_kind="int")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with create_store(path, FRAME, id_kind="int") as store:
        store.put(9, [(90, 5.0)])
    with create_store(path, FRAME.iloc[:1], id_kind="int", overwrite=True) as store:
        assert store.count() == 1 and store.last_seq() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.sqlite"]
