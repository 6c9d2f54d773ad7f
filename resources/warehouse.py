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

    def query(self, sql: str) -> pl.DataFrame:
        with self._connect() as con:
            return con.sql(sql).pl()
