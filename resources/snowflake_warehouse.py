"""The production warehouse: Snowflake through snowflake-connector-python.

Same contract as `DuckDBWarehouse`: a partition load replaces the partition's rows in one
transaction, so a rerun never appends and a failed load leaves the previous rows in place.
Identifiers are written unquoted, so Snowflake stores them upper-case and dbt's unquoted
`raw.job_postings` / `posting_date` resolve to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import polars as pl
from pydantic import Field

from resources.warehouse import PartitionLoad, Warehouse, check_load_schema, split_table


def snowflake_type(dtype: pl.DataType) -> str:
    """The Snowflake column type for a polars dtype (raises on types with no safe mapping)."""
    # A column that is null in every row has no type of its own; varchar holds any later value.
    if dtype in (pl.String, pl.Categorical, pl.Null) or isinstance(dtype, pl.Enum):
        return "varchar"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype == pl.Date:
        return "date"
    if dtype == pl.Time:
        return "time"
    if isinstance(dtype, pl.Datetime):
        return "timestamp_tz" if dtype.time_zone else "timestamp_ntz"
    if isinstance(dtype, pl.Decimal):
        return f"number({dtype.precision or 38},{dtype.scale or 0})"
    if dtype.is_integer():
        return "number(38,0)"
    if dtype.is_float():
        return "float"
    if dtype == pl.Binary:
        return "binary"
    raise TypeError(f"no Snowflake type for polars dtype {dtype}")


class SnowflakeWarehouse(Warehouse):
    """Tables in a Snowflake database; the production warehouse dbt builds on."""

    account: str = Field(description="Account identifier, e.g. `xy12345.eu-west-1`.")
    user: str
    password: str | None = Field(
        default=None, description="Omit when using `authenticator` or `private_key_path`."
    )
    authenticator: str | None = Field(
        default=None, description="e.g. `externalbrowser`, `oauth`; default is password auth."
    )
    private_key_path: str | None = Field(default=None, description="Key-pair auth (PEM file).")
    private_key_passphrase: str | None = Field(
        default=None, description="Passphrase of an encrypted private key."
    )
    role: str | None = None
    warehouse: str | None = None
    database: str
    schema_: str = Field(alias="schema", description="Default schema of the session.")
    host: str | None = Field(default=None, description="Only for a proxy or a local fake.")
    port: int | None = None
    protocol: str | None = None

    @contextmanager
    def connection(self) -> Iterator[object]:
        """A snowflake-connector connection with this resource's settings and authentication
        (autocommit on, query tag `fieldwork`), closed when the block ends. For steps that
        run their own statements on the warehouse (the OData grants); loads and queries go
        through `load_partitions` and `query`."""
        # Looked up at call time (not imported by name) so test fakes that patch the module apply.
        import snowflake.connector

        settings = {
            "account": self.account,
            "user": self.user,
            "password": self.password,
            "authenticator": self.authenticator,
            "private_key_file": self.private_key_path,
            "private_key_file_pwd": self.private_key_passphrase,
            "role": self.role,
            "warehouse": self.warehouse,
            "database": self.database,
            "schema": self.schema_,
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
        }
        con = snowflake.connector.connect(
            **{k: v for k, v in settings.items() if v is not None},
            autocommit=True,
            session_parameters={"QUERY_TAG": "fieldwork"},
        )
        try:
            yield con
        finally:
            con.close()

    def load_partitions(
        self, loads: Sequence[PartitionLoad], before_commit: Callable[[], None] | None = None
    ) -> dict[str, int]:
        from snowflake.connector import pandas_tools

        prepared = []
        for load in loads:
            frame = load.rows()
            if load.partition_column not in frame.columns:
                raise ValueError(
                    f"{load.table}: partition column {load.partition_column!r} is not in the rows"
                )
            try:
                columns = {column: snowflake_type(dtype) for column, dtype in frame.schema.items()}
            except TypeError as error:
                raise TypeError(f"{load.table}: {error}") from error
            # The incoming rows land in transient side tables first: write_pandas (PUT + COPY)
            # and every DDL statement commit implicitly in Snowflake, so they must all happen
            # before the transaction that swaps the partitions. (Transient rather than
            # temporary: it lives in the same schema, which fakesnow supports too.)
            incoming = f"{split_table(load.table)[1]}__incoming_{uuid.uuid4().hex[:12]}"
            prepared.append((load, frame, columns, incoming))

        loaded: dict[str, int] = {}
        with self.connection() as con:
            cur = con.cursor()
            # Before any write (write_pandas and DDL commit at once in Snowflake).
            for load, frame, columns, _ in prepared:
                check_load_schema(
                    load.table, _table_columns(cur, load.table), _incoming_types(frame, columns)
                )
            try:
                for load, frame, columns, incoming in prepared:
                    schema, name = split_table(load.table)
                    ddl = ", ".join(f"{column} {kind}" for column, kind in columns.items())
                    cur.execute(f"create schema if not exists {schema}")
                    cur.execute(f"create table if not exists {schema}.{name} ({ddl})")
                    cur.execute(f"create transient table {schema}.{incoming} ({ddl})")
                    if frame.height:
                        written, _, rows, _ = pandas_tools.write_pandas(
                            con,
                            _to_pandas(frame),
                            table_name=incoming.upper(),
                            schema=schema.upper(),
                            quote_identifiers=False,
                            use_logical_type=True,
                        )
                        if not written or rows != frame.height:
                            raise RuntimeError(f"staged {rows} of {frame.height} rows")
                cur.execute("begin")
                try:
                    for load, frame, columns, incoming in prepared:
                        schema, name = split_table(load.table)
                        names = ", ".join(columns)
                        cur.execute(
                            f"delete from {schema}.{name} where {load.partition_column} = %s",
                            (load.partition_value,),
                        )
                        cur.execute(
                            f"insert into {schema}.{name} ({names}) "
                            f"select {names} from {schema}.{incoming}"
                        )
                        loaded[load.table] = frame.height
                    if before_commit is not None:
                        before_commit()
                    cur.execute("commit")
                except BaseException:
                    cur.execute("rollback")
                    raise
            except Exception as error:
                tables = ", ".join(
                    f"{load.table} ({load.partition_column} = {load.partition_value!r})"
                    for load in loads
                )
                raise RuntimeError(
                    f"loading {tables} failed; the previous rows are unchanged: {error}"
                ) from error
            finally:
                for load, _, _, incoming in prepared:
                    try:
                        cur.execute(f"drop table if exists {split_table(load.table)[0]}.{incoming}")
                    except Exception:  # never hide the load's own error behind the clean-up's
                        pass
        return loaded

    def query(self, sql: str) -> pl.DataFrame:
        """Run `sql`; column names come back lower-case, as from `DuckDBWarehouse`."""
        with self.connection() as con:
            cur = con.cursor()
            cur.execute(sql)
            frame = pl.from_pandas(cur.fetch_pandas_all())
        return frame.rename({column: column.lower() for column in frame.columns})


def _table_columns(cursor, table: str) -> dict[str, str]:
    """The existing table's columns and types, as Snowflake's information_schema names them
    (`NUMBER(38,0)`, `TEXT`, `TIMESTAMP_NTZ`); none if there is no table."""
    schema, name = split_table(table)
    cursor.execute(
        "select column_name, data_type, numeric_precision, numeric_scale "
        "from information_schema.columns "
        "where table_schema = %s and table_name = %s order by ordinal_position",
        (schema.upper(), name.upper()),
    )
    columns = {}
    for column, data_type, precision, scale in cursor.fetchall():
        numeric = data_type.upper() in ("NUMBER", "DECIMAL", "NUMERIC") and precision is not None
        columns[column] = f"{data_type}({precision},{scale or 0})" if numeric else data_type
    return columns


def _incoming_types(frame: pl.DataFrame, columns: dict[str, str]) -> dict[str, str]:
    """The Snowflake type of each column of the rows; a column null in every row is `NULL`
    (it fits any column: its type is unknown, not text)."""
    return {
        column: "NULL" if frame.schema[column] == pl.Null else kind
        for column, kind in columns.items()
    }


def _to_pandas(frame: pl.DataFrame):
    """Pandas frame for write_pandas, with upper-case column names to match unquoted DDL."""
    pdf = frame.to_pandas()
    # Dates must reach parquet as dates, not timestamps, to load into DATE columns.
    for column, dtype in frame.schema.items():
        if dtype == pl.Date:
            pdf[column] = frame[column].to_list()
    pdf.columns = [column.upper() for column in pdf.columns]
    return pdf
