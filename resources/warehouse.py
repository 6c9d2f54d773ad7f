"""The warehouse the assets load into and dbt builds on: DuckDB locally, Snowflake in production.

Loads are partition-replacing and transactional: a rerun of a partition replaces its rows
instead of appending, and a failed load leaves the previous rows in place.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg
import polars as pl

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _split_table(table: str) -> tuple[str, str]:
    """`raw.job_postings` -> ("raw", "job_postings"), refusing anything that is not an identifier."""
    parts = table.split(".")
    if len(parts) != 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise ValueError(f"warehouse table must be 'schema.table' identifiers, got {table!r}")
    return parts[0], parts[1]


class Warehouse(dg.ConfigurableResource, ABC):
    """Where tables land for dbt and BI tools."""

    @abstractmethod
    def replace_partition(
        self, table: str, frame: pl.DataFrame, partition_column: str, partition_value: object
    ) -> int:
        """Replace the rows of one partition of `table` (`schema.table`) with `frame`, atomically.

        Creates the schema and table from the frame's columns if they do not exist.
        Returns the number of rows loaded.
        """

    def replace_partition_from_parquet(
        self, table: str, paths: list[str], partition_column: str, partition_value: object
    ) -> int:
        """Like `replace_partition`, with the rows read from local Parquet files.

        Every row of the files must belong to the partition (`partition_column` equal to
        `partition_value`). This default reads the files into one frame; warehouses that
        can load files themselves override it to keep the rows out of Python's memory.
        """
        if not paths:
            raise ValueError(f"{table}: no Parquet files to load")
        frame = pl.read_parquet([str(p) for p in paths])
        return self.replace_partition(table, frame, partition_column, partition_value)

    @abstractmethod
    def query(self, sql: str) -> pl.DataFrame: ...


class DuckDBWarehouse(Warehouse):
    """A DuckDB file under the project's data folder; the local default."""

    path: str

    def _connect(self):
        import duckdb

        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        return duckdb.connect(self.path)

    def replace_partition(
        self, table: str, frame: pl.DataFrame, partition_column: str, partition_value: object
    ) -> int:
        schema, name = _split_table(table)
        if partition_column not in frame.columns:
            raise ValueError(f"{table}: partition column {partition_column!r} is not in the frame")
        with self._connect() as con:
            con.register("incoming", frame.to_arrow())
            con.execute(f"create schema if not exists {schema}")
            con.execute(
                f"create table if not exists {schema}.{name} as select * from incoming limit 0"
            )
            con.execute("begin transaction")
            try:
                con.execute(
                    f"delete from {schema}.{name} where {partition_column} = ?", [partition_value]
                )
                con.execute(f"insert into {schema}.{name} by name select * from incoming")
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise
        return frame.height

    def replace_partition_from_parquet(
        self, table: str, paths: list[str], partition_column: str, partition_value: object
    ) -> int:
        """DuckDB reads the files itself (`read_parquet([...])`), streaming them into the
        table inside the delete+insert transaction: the rows never become a Python frame."""
        schema, name = _split_table(table)
        if not _IDENTIFIER.match(partition_column):
            raise ValueError(f"{table}: partition column must be an identifier, got {partition_column!r}")
        if not paths:
            raise ValueError(f"{table}: no Parquet files to load")
        files = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"
        source = f"read_parquet({files})"
        with self._connect() as con:
            columns = [row[0] for row in con.execute(f"describe select * from {source}").fetchall()]
            if partition_column not in columns:
                raise ValueError(f"{table}: partition column {partition_column!r} is not in the files")
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create table if not exists {schema}.{name} as select * from {source} limit 0")
            con.execute("begin transaction")
            try:
                con.execute(f"delete from {schema}.{name} where {partition_column} = ?", [partition_value])
                loaded = con.execute(f"insert into {schema}.{name} by name select * from {source}").fetchone()[0]
                # Rows of another partition would survive the next replace of theirs: refuse them.
                strays = con.execute(
                    f"select count(*) from {source} where {partition_column} is distinct from ?",
                    [partition_value],
                ).fetchone()[0]
                if strays:
                    raise ValueError(
                        f"{table}: {strays:,} rows in the files are not in partition "
                        f"{partition_column} = {partition_value!r}"
                    )
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise
        return loaded

    def query(self, sql: str) -> pl.DataFrame:
        with self._connect() as con:
            return con.sql(sql).pl()
