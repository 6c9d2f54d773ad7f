"""The warehouse the assets load into and dbt builds on: DuckDB locally, Snowflake in production.

Loads are partition-replacing and transactional: a rerun of a partition replaces its rows
instead of appending, and a failed load leaves the previous rows in place. A load may
span several tables and run a step of the caller's (publishing files) inside its
transaction, so files and warehouse change together or not at all.

Readers and writers of the local DuckDB file. DuckDB admits one writing process per file,
and any other process holding the file open, even read-only, makes the writer fail at once
("Could not set lock"). So readers never open the file runs write:
- writers (loads, dbt builds) take an advisory lock (`<file>.lock`), which serializes
  them instead of failing, and retry DuckDB's own lock for a bounded time;
- after every successful write, the writer publishes a read-only snapshot
  (`readers/<file name>` beside it): a copy made under the lock, then renamed into place.
  Notebooks, the catalog and BI tools open the snapshot read-only. A reader holding the
  old snapshot keeps reading it whole (the rename leaves its open file intact); the next
  connection sees the new one (in a process that has closed its connections to the old one:
  DuckDB hands a process the database it already has open). Never a partial state, and a
  reader never blocks a run.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field, PrivateAttr

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def split_table(table: str) -> tuple[str, str]:
    """`raw.job_postings` -> ("raw", "job_postings"); refuses anything but identifiers."""
    parts = table.split(".")
    if len(parts) != 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise ValueError(f"warehouse table must be 'schema.table' identifiers, got {table!r}")
    return parts[0], parts[1]


# --- Schema of a load against the existing table -------------------------------------------
# One vocabulary for the column types of both warehouses (DuckDB's names, Snowflake's
# information_schema names, the types a load would create), so a load is compared with the
# table it replaces rows in the same way on both. Integer widths are one kind (Snowflake's
# integers are all NUMBER(38,0)), as are float widths.
_KINDS = {
    "string": ("VARCHAR", "TEXT", "STRING", "CHAR", "CHARACTER", "CHARACTER VARYING", "ENUM"),
    "integer": (
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "INT",
        "BIGINT",
        "HUGEINT",
        "BYTEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
    ),
    "float": ("FLOAT", "FLOAT4", "FLOAT8", "REAL", "DOUBLE", "DOUBLE PRECISION"),
    "boolean": ("BOOLEAN", "BOOL"),
    "date": ("DATE",),
    "time": ("TIME",),
    "timestamp": (
        "TIMESTAMP",
        "TIMESTAMP_NTZ",
        "DATETIME",
        "TIMESTAMP_NS",
        "TIMESTAMP_MS",
        "TIMESTAMP_S",
        "TIMESTAMP_US",
    ),
    "timestamp with time zone": (
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMPTZ",
        "TIMESTAMP_TZ",
        "TIMESTAMP_LTZ",
    ),
    "binary": ("BLOB", "BINARY", "VARBINARY", "BYTEA"),
    "null": ("NULL",),  # a column null in every row: its type is unknown, any column takes it
}
_KIND_OF = {name: kind for kind, names in _KINDS.items() for name in names}
_DECIMAL = re.compile(r"^(?:NUMBER|DECIMAL|NUMERIC)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$")


def column_kind(type_name: str) -> str:
    """A warehouse column type as one kind both warehouses share: `VARCHAR`, `TEXT` ->
    string; `BIGINT`, `NUMBER(38,0)` -> integer; `DECIMAL(10,2)` -> decimal(10,2); an
    unknown type stands for itself."""
    name = " ".join(type_name.strip().strip('"').upper().split())  # DuckDB says "NULL"
    if decimal := _DECIMAL.match(name):
        precision, scale = decimal.group(1), decimal.group(2) or "0"
        return "integer" if scale == "0" else f"decimal({precision or 38},{scale})"
    base = name.split("(")[0].strip()
    return _KIND_OF.get(base, name.lower())


class SchemaMismatch(ValueError):
    """Rows whose columns do not match the table they would be loaded into."""


def check_load_schema(table: str, existing: dict[str, str], incoming: dict[str, str]) -> None:
    """Refuse, before anything is written, rows whose columns differ from the existing
    table's: a column missing from the rows, a column whose type changed, or a column the
    table does not have (never added silently: the table is what dbt's models read). Names
    are compared case-insensitively, types through `column_kind`. `existing` is empty when
    there is no table yet: the load creates it."""
    if not existing:
        return
    table_columns = {name.lower(): kind for name, kind in existing.items()}
    row_columns = {name.lower(): kind for name, kind in incoming.items()}
    problems = []
    for name, kind in table_columns.items():
        if name not in row_columns:
            problems.append(
                f"column {name!r} ({column_kind(kind)}, {kind}) is missing from the rows"
            )
            continue
        found = row_columns[name]
        if column_kind(found) not in (column_kind(kind), "null"):
            problems.append(
                f"column {name!r} changed type: the table has {column_kind(kind)} ({kind}), "
                f"the rows have {column_kind(found)} ({found})"
            )
    for name, kind in row_columns.items():
        if name not in table_columns:
            problems.append(
                f"column {name!r} ({column_kind(kind)}) is not in the table (a new column "
                "comes with its dbt models; add it to the table on purpose first)"
            )
    if problems:
        raise SchemaMismatch(
            f"{table}: the rows do not match the table, nothing was loaded: " + "; ".join(problems)
        )


@dataclass(frozen=True)
class PartitionLoad:
    """The rows of one partition of one table: a frame, or local Parquet files."""

    table: str
    partition_column: str
    partition_value: object
    frame: pl.DataFrame | None = None
    parquet_paths: Sequence[str] | None = None

    def __post_init__(self) -> None:
        split_table(self.table)
        if not _IDENTIFIER.match(self.partition_column):
            raise ValueError(
                f"{self.table}: partition column must be an identifier, "
                f"got {self.partition_column!r}"
            )
        if (self.frame is None) == (self.parquet_paths is None):
            raise ValueError(
                f"{self.table}: give the rows as a frame or as parquet_paths, not both"
            )
        if self.parquet_paths is not None and not self.parquet_paths:
            raise ValueError(f"{self.table}: no Parquet files to load")

    def rows(self) -> pl.DataFrame:
        """The rows as one frame (reads the files if they were given as files)."""
        if self.frame is not None:
            return self.frame
        return pl.read_parquet([str(p) for p in self.parquet_paths or []])


class Warehouse(dg.ConfigurableResource, ABC):
    """Where tables land for dbt and BI tools."""

    @abstractmethod
    def load_partitions(
        self, loads: Sequence[PartitionLoad], before_commit: Callable[[], None] | None = None
    ) -> dict[str, int]:
        """Replace one partition of each table, all in one transaction.

        Creates schemas and tables from the rows' columns if they do not exist.
        `before_commit` runs inside the transaction once every row is in; if it raises,
        nothing is committed. Returns the rows loaded per table.
        """

    def replace_partition(
        self,
        table: str,
        frame: pl.DataFrame,
        partition_column: str,
        partition_value: object,
        before_commit: Callable[[], None] | None = None,
    ) -> int:
        """Replace the rows of one partition of `table` (`schema.table`) with `frame`."""
        load = PartitionLoad(table, partition_column, partition_value, frame=frame)
        return self.load_partitions([load], before_commit)[table]

    def replace_partition_from_parquet(
        self,
        table: str,
        paths: Sequence[str],
        partition_column: str,
        partition_value: object,
        before_commit: Callable[[], None] | None = None,
    ) -> int:
        """Like `replace_partition`, with the rows in local Parquet files."""
        load = PartitionLoad(table, partition_column, partition_value, parquet_paths=list(paths))
        return self.load_partitions([load], before_commit)[table]

    @abstractmethod
    def query(self, sql: str) -> pl.DataFrame:
        """Run `sql` on the warehouse the runs write (for the assets)."""

    def read(self, sql: str) -> pl.DataFrame:
        """Run `sql` where readers (notebooks, the catalog) read; the same warehouse by default."""
        return self.query(sql)

    def reader_location(self) -> str:
        """Where readers connect, for messages and the README."""
        return type(self).__name__

    def relation(self, table_name: str) -> str:
        """A table name as the definitions record it (dbt writes `database.schema.table`),
        as this warehouse's SQL should name it."""
        return table_name

    def row_count(self, table_name: str, where: str | None = None) -> int:
        """Rows in a table or view (those matching the SQL condition `where`, if given)."""
        condition = f" where {where}" if where else ""
        sql = f"select count(*) as n from {self.relation(table_name)}{condition}"
        return int(self.query(sql).item())

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the warehouse for a writer that is not this resource (a dbt build); readers
        see what it wrote once the block ends."""
        yield

    def dbt_vars(self) -> dict[str, object]:
        """dbt `--vars` that point the dbt profile at this warehouse."""
        return {}


class DuckDBWarehouse(Warehouse):
    """A DuckDB file under the project's data folder; the local default."""

    path: str
    snapshot_path: str | None = Field(
        default=None,
        description="Read-only copy for readers; default `readers/<file name>` beside it.",
    )
    lock_timeout_seconds: float = Field(
        default=300.0, description="How long a writer waits for another writer before failing."
    )
    _held = PrivateAttr(default=0)
    _thread_lock = PrivateAttr(default_factory=threading.RLock)

    # --- where things are -------------------------------------------------------------

    def reader_path(self) -> Path:
        if self.snapshot_path:
            return Path(self.snapshot_path)
        live = Path(self.path)
        # Same file name in its own folder: DuckDB names the database after the file stem,
        # and dbt's views refer to their tables by that name.
        return live.parent / "readers" / live.name

    def reader_location(self) -> str:
        return f"{self.reader_path()} (read-only snapshot of {self.path})"

    def dbt_vars(self) -> dict[str, object]:
        return {"duckdb_path": str(Path(self.path).resolve())}

    def relation(self, table_name: str) -> str:
        # The database part is the file stem at parse time, which need not be this file's.
        return ".".join(table_name.split(".")[-2:])

    # --- writers ----------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """The writers' lock (re-entrant in a process).

        On entry, waits (bounded) until the live file can be opened, so a writer that is not
        this resource (the dbt subprocess) does not fail at once on a reader's lock. On exit,
        success or failure, publishes the snapshot: a failed load rolled back and changes
        nothing, and the models a failed dbt build did build are in the warehouse, as
        readers on Snowflake would see them too.
        """
        with self._thread_lock:
            first = self._held == 0
            if first:
                lock_file = self._acquire_file_lock()
            self._held += 1
            opened = False
            try:
                if first:
                    self._connect().close()
                    opened = True
                yield
            finally:
                self._held -= 1
                if first:
                    try:
                        if opened:  # nothing was written if the file could not be opened
                            self._publish_snapshot()
                    finally:
                        lock_file.close()  # releases the flock

    def _acquire_file_lock(self):
        lock_path = Path(f"{self.path}.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+")  # noqa: SIM115  (held until the block ends)
        deadline = time.monotonic() + self.lock_timeout_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    raise TimeoutError(
                        f"another run has been writing {self.path} for over "
                        f"{self.lock_timeout_seconds:g} s (lock {lock_path}); "
                        "try again when it ends"
                    ) from None
                time.sleep(0.2)

    def _connect(self):
        """A connection to the live file, retrying DuckDB's lock for a bounded time: a
        process outside fieldwork (a BI tool pointed at the live file) may hold it."""
        import duckdb

        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.1
        while True:
            try:
                return duckdb.connect(self.path)
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"cannot open the warehouse {self.path} for writing: {error}. "
                        f"Readers should open the snapshot {self.reader_path()} instead."
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _publish_snapshot(self) -> None:
        """Copy the live file (checkpointed, under the writers' lock) and rename it into place.

        Never raises: the write it follows has committed, so a copy that fails (a full disk)
        leaves readers on the previous snapshot, says so, and the next write tries again.
        """
        live = Path(self.path)
        if not live.exists():
            return
        target = self.reader_path()
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Copies left by a writer killed mid-copy (we hold the lock: none is in progress).
            for stale in target.parent.glob(f".{target.name}.*.tmp"):
                stale.unlink(missing_ok=True)
            con = self._connect()
            try:
                con.execute("checkpoint")  # the WAL folded in, so the file alone is the database
            finally:
                con.close()
            shutil.copyfile(live, tmp)
            os.chmod(tmp, 0o444)  # readers only
            # A WAL beside the snapshot (left by a tool that opened it read-write) belongs to
            # the old file and would make every reader of the new one fail.
            Path(f"{target}.wal").unlink(missing_ok=True)
            os.replace(tmp, target)
        except (OSError, RuntimeError) as error:  # RuntimeError: the live file stayed locked
            log.warning(
                "warehouse snapshot %s not refreshed (readers keep the previous one): %s",
                target,
                error,
            )
        finally:
            tmp.unlink(missing_ok=True)

    def load_partitions(
        self, loads: Sequence[PartitionLoad], before_commit: Callable[[], None] | None = None
    ) -> dict[str, int]:
        loaded: dict[str, int] = {}
        with self.writing():
            con = self._connect()
            try:
                sources = [
                    self._register(con, load, f"incoming_{n}") for n, load in enumerate(loads)
                ]
                for load, source in zip(loads, sources, strict=True):
                    described = con.execute(f"describe select * from {source}").fetchall()
                    if load.partition_column not in [row[0] for row in described]:
                        raise ValueError(
                            f"{load.table}: partition column "
                            f"{load.partition_column!r} is not in the rows"
                        )
                    check_load_schema(
                        load.table,
                        self._table_columns(con, load.table),
                        {row[0]: row[1] for row in described},
                    )
                with self._transaction(con):
                    # DDL inside the transaction too: a failed first load leaves no empty table.
                    for load, source in zip(loads, sources, strict=True):
                        schema, name = split_table(load.table)
                        con.execute(f"create schema if not exists {schema}")
                        con.execute(
                            f"create table if not exists {schema}.{name} "
                            f"as select * from {source} limit 0"
                        )
                    for load, source in zip(loads, sources, strict=True):
                        loaded[load.table] = self._replace(con, load, source)
                    if before_commit is not None:
                        before_commit()
            finally:
                con.close()
        return loaded

    def execute(self, statements: Sequence[str]) -> None:
        """Run statements that return nothing (DDL) in one transaction on the live file;
        readers see them with the snapshot published when the outermost write ends."""
        with self.writing():
            con = self._connect()
            try:
                with self._transaction(con):
                    for statement in statements:
                        con.execute(statement)
            finally:
                con.close()

    @staticmethod
    @contextlib.contextmanager
    def _transaction(con) -> Iterator[None]:
        """Commit the block's statements, or roll them all back if it raises."""
        con.execute("begin transaction")
        try:
            yield
            con.execute("commit")
        except BaseException:
            with contextlib.suppress(Exception):  # keep the block's own error
                con.execute("rollback")
            raise

    @staticmethod
    def _table_columns(con, table: str) -> dict[str, str]:
        """The existing table's columns and types (none if there is no table)."""
        schema, name = split_table(table)
        rows = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
        return dict(rows)

    @staticmethod
    def _register(con, load: PartitionLoad, alias: str) -> str:
        """The SQL source of the load's rows: a registered frame, or DuckDB reading the files
        itself (the rows never become a Python frame)."""
        if load.frame is not None:
            con.register(alias, load.frame.to_arrow())
            return alias
        files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in load.parquet_paths or [])
        return f"read_parquet([{files}])"

    @staticmethod
    def _replace(con, load: PartitionLoad, source: str) -> int:
        schema, name = split_table(load.table)
        con.execute(
            f"delete from {schema}.{name} where {load.partition_column} = ?", [load.partition_value]
        ).fetchall()
        [(loaded,)] = con.execute(
            f"insert into {schema}.{name} by name select * from {source}"
        ).fetchall()
        # Rows of another partition would survive the next replace of theirs: refuse them.
        [(strays,)] = con.execute(
            f"select count(*) from {source} where {load.partition_column} is distinct from ?",
            [load.partition_value],
        ).fetchall()
        if strays:
            raise ValueError(
                f"{load.table}: {strays:,} rows are not in partition "
                f"{load.partition_column} = {load.partition_value!r}"
            )
        return int(loaded)

    def query(self, sql: str) -> pl.DataFrame:
        with self._thread_lock:
            con = self._connect()
            try:
                return con.sql(sql).pl()
            finally:
                con.close()

    # --- readers ----------------------------------------------------------------------

    def read(self, sql: str) -> pl.DataFrame:
        """Run `sql` on the read-only snapshot; never touches the file runs write."""
        import duckdb

        path = self.reader_path()
        if not path.exists() and Path(self.path).exists():
            with self.writing():  # a warehouse written before snapshots existed
                pass
        if not path.exists():
            raise FileNotFoundError(
                f"no warehouse snapshot at {path}: nothing has been loaded yet (run `make demo`)"
            )
        with duckdb.connect(str(path), read_only=True) as con:
            return con.sql(sql).pl()
