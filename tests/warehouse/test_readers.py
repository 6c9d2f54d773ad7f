"""The local warehouse shared with its readers: a notebook or BI tool reading never fails a
load, and never sees a partial one. Readers are real processes holding real DuckDB files."""

from __future__ import annotations

import datetime as dt
import fcntl
import threading

import polars as pl
import pytest

from resources.warehouse import DuckDBWarehouse, PartitionLoad
from tests.helpers import SnapshotReader as Reader

DAY = dt.date(2026, 11, 20)
TABLE = "raw.readings"


def rows(n: int, value: int) -> pl.DataFrame:
    return pl.DataFrame({"day": [DAY] * n, "value": [value] * n})


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    wh = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"), lock_timeout_seconds=5)
    wh.replace_partition(TABLE, rows(1_000, 1), "day", DAY)
    return wh


def test_a_reader_holding_the_snapshot_never_blocks_a_load_nor_sees_half_of_one(warehouse):
    reader = Reader(str(warehouse.reader_path()))
    try:
        assert reader.ask() == (1_000, 1, 1)
        # Two tables and a step of the caller's in one transaction, while the reader holds on.
        loaded = warehouse.load_partitions(
            [
                PartitionLoad(TABLE, "day", DAY, frame=rows(2_000, 2)),
                PartitionLoad("raw.other", "day", DAY, frame=rows(5, 2)),
            ]
        )
        assert loaded == {TABLE: 2_000, "raw.other": 5}
        # The open connection keeps the state it opened, whole; the next reader sees the new one.
        assert reader.ask() == (1_000, 1, 1)
        later = Reader(str(warehouse.reader_path()))
        assert later.ask() == (2_000, 2, 2)
        later.close()
    finally:
        reader.close()


def test_a_failed_load_publishes_nothing_to_readers(warehouse):
    def fail():
        raise RuntimeError("publishing the files failed")

    with pytest.raises(RuntimeError, match="publishing the files failed"):
        warehouse.replace_partition(TABLE, rows(3_000, 3), "day", DAY, before_commit=fail)
    assert warehouse.query(f"select count(*) as n from {TABLE}").item() == 1_000
    assert warehouse.read(f"select max(value) as v from {TABLE}").item() == 1


def test_a_second_writer_waits_for_the_first_instead_of_failing(warehouse, tmp_path):
    """Two runs loading at once: the second waits on the writers' lock, then loads."""
    lock = open(f"{warehouse.path}.lock", "a+")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    done = threading.Event()

    def load():
        warehouse.replace_partition(TABLE, rows(10, 4), "day", DAY)
        done.set()

    thread = threading.Thread(target=load)
    thread.start()
    try:
        assert not done.wait(1.0), "the load ran while another writer held the warehouse"
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    thread.join(30)
    assert done.is_set()
    assert warehouse.read(f"select count(*) as n from {TABLE}").item() == 10


def test_a_process_holding_the_live_file_fails_the_load_with_a_clear_message(warehouse):
    """A tool pointed at the live file instead of the snapshot: bounded retries, then an
    error that names the file and where readers belong."""
    holder = Reader(warehouse.path)  # read-only, still DuckDB's lock on the live file
    try:
        with pytest.raises(RuntimeError, match="Readers should open the snapshot .*readers"):
            warehouse.replace_partition(TABLE, rows(10, 5), "day", DAY)
    finally:
        holder.close()
    # Once it lets go, loads go through again.
    assert warehouse.replace_partition(TABLE, rows(10, 5), "day", DAY) == 10


def test_a_wal_left_beside_the_snapshot_does_not_break_readers(warehouse):
    """A tool that opened the snapshot read-write and died leaves a WAL that belongs to the
    old file; the next publication must not hand it to the new one."""
    wal = warehouse.reader_path().with_name(warehouse.reader_path().name + ".wal")
    wal.write_bytes(b"\x00" * 4096)
    warehouse.replace_partition(TABLE, rows(7, 6), "day", DAY)
    assert warehouse.read(f"select count(*) as n from {TABLE}").item() == 7
    assert not wal.exists()


def test_a_snapshot_that_cannot_be_copied_keeps_the_committed_load(warehouse, monkeypatch, caplog):
    """A full disk while copying: the load has committed and says so by succeeding; readers
    keep the previous snapshot, a warning says why, and the next write publishes."""
    import errno
    import shutil

    real_copy = shutil.copyfile

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", disk_full)
    assert warehouse.replace_partition(TABLE, rows(20, 7), "day", DAY) == 20
    assert warehouse.query(f"select count(*) as n from {TABLE}").item() == 20
    assert warehouse.read(f"select count(*) as n from {TABLE}").item() == 1_000
    assert "not refreshed" in caplog.text
    assert not list(warehouse.reader_path().parent.glob(".*.tmp"))

    monkeypatch.setattr(shutil, "copyfile", real_copy)
    warehouse.replace_partition(TABLE, rows(30, 8), "day", DAY)
    assert warehouse.read(f"select count(*) as n from {TABLE}").item() == 30


def test_a_failed_first_load_leaves_no_empty_table(warehouse):
    def fail():
        raise RuntimeError("publishing failed")

    with pytest.raises(RuntimeError):
        warehouse.replace_partition("raw.brand_new", rows(3, 1), "day", DAY, before_commit=fail)
    tables = warehouse.query("select table_name from information_schema.tables")["table_name"]
    assert "brand_new" not in tables.to_list()
