"""A load whose columns differ from the existing table's is refused before anything is
written, naming the table and the column: the previous rows stay as they were. DuckDB here;
the same refusals on Snowflake through fakesnow are in test_snowflake_warehouse.py."""

from __future__ import annotations

import polars as pl
import pytest

from resources.warehouse import DuckDBWarehouse, SchemaMismatch, column_kind
from tests.helpers import DAY_A, postings_on_partition_days
from tests.helpers import POSTINGS_TABLE as TABLE


@pytest.fixture
def loaded(tmp_path) -> tuple[DuckDBWarehouse, pl.DataFrame]:
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"), lock_timeout_seconds=5)
    day = postings_on_partition_days().filter(pl.col("posting_date") == DAY_A)
    warehouse.replace_partition(TABLE, day, "posting_date", DAY_A)
    return warehouse, day


def table_rows(warehouse: DuckDBWarehouse) -> pl.DataFrame:
    return warehouse.query(f"select * from {TABLE} order by source_key, line_number")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda day: day.drop("title"),
            r"raw\.job_postings: .*nothing was loaded: column 'title' \(string, VARCHAR\) "
            "is missing from the rows",
        ),
        (
            lambda day: day.with_columns(pl.col("line_number").cast(pl.String)),
            r"raw\.job_postings: .*column 'line_number' changed type: the table has integer "
            r"\(BIGINT\), the rows have string \(VARCHAR\)",
        ),
        (
            lambda day: day.with_columns(pl.lit(1.5).alias("salary")),
            r"raw\.job_postings: .*column 'salary' \(float\) is not in the table",
        ),
    ],
    ids=["missing", "type_changed", "new_column"],
)
def test_a_load_that_does_not_match_the_table_is_refused_and_changes_nothing(
    loaded, change, message
):
    warehouse, day = loaded
    before = table_rows(warehouse)
    snapshot_before = warehouse.read(f"select count(*) as n from {TABLE}").item()
    with pytest.raises(SchemaMismatch, match=message):
        warehouse.replace_partition(TABLE, change(day.head(3)), "posting_date", DAY_A)
    assert table_rows(warehouse).equals(before)
    assert warehouse.read(f"select count(*) as n from {TABLE}").item() == snapshot_before


def test_every_mismatch_is_named_at_once(loaded):
    warehouse, day = loaded
    changed = day.drop("title").with_columns(pl.col("seniority").cast(pl.String))
    with pytest.raises(SchemaMismatch) as refused:
        warehouse.replace_partition(TABLE, changed, "posting_date", DAY_A)
    assert "'title'" in str(refused.value) and "'seniority'" in str(refused.value)


def test_a_narrower_integer_or_an_all_null_column_still_loads(loaded):
    warehouse, day = loaded
    narrower = day.with_columns(
        pl.col("line_number").cast(pl.Int32), pl.lit(None).alias("location")
    )
    assert warehouse.replace_partition(TABLE, narrower, "posting_date", DAY_A) == day.height
    assert warehouse.query(f"select count(location) as n from {TABLE}").item() == 0


def test_both_warehouses_types_meet_in_one_vocabulary():
    same = {
        "string": ("VARCHAR", "TEXT", "character varying"),
        "integer": ("BIGINT", "INTEGER", "NUMBER(38,0)", "number(10, 0)"),
        "decimal(10,2)": ("DECIMAL(10,2)", "NUMBER(10,2)"),
        "float": ("DOUBLE", "FLOAT", "REAL"),
        "timestamp": ("TIMESTAMP", "TIMESTAMP_NTZ"),
        "timestamp with time zone": ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP_TZ"),
    }
    for kind, names in same.items():
        assert {column_kind(name) for name in names} == {kind}, kind
