"""SnowflakeWarehouse.replace_partition under fakesnow: reruns replace, other days stay put,
a failed load keeps the old rows, rows that do not match the table are refused before any
write."""

from __future__ import annotations

import datetime as dt

import fakesnow
import polars as pl
import pytest

from resources.snowflake_warehouse import SnowflakeWarehouse
from tests.helpers import POSTINGS_TABLE as RAW_TABLE

pytestmark = pytest.mark.snowflake

DAY1, DAY2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)


@pytest.fixture
def warehouse():
    with fakesnow.patch():
        yield SnowflakeWarehouse(
            account="fakesnow",
            user="fake",
            password="snow",
            database="fieldwork",
            schema="analytics",
        )


def day_counts(warehouse) -> dict[dt.date, int]:
    frame = warehouse.query(
        f"select posting_date, count(*) as n from {RAW_TABLE} group by posting_date"
    )
    return dict(zip(frame["posting_date"].cast(pl.Date), frame["n"], strict=False))


def test_rerun_replaces_the_partition_and_leaves_others(warehouse, raw_job_postings):
    day1 = raw_job_postings.filter(pl.col("posting_date") == DAY1)
    day2 = raw_job_postings.filter(pl.col("posting_date") == DAY2)

    assert warehouse.replace_partition(RAW_TABLE, day1, "posting_date", DAY1) == day1.height
    warehouse.replace_partition(RAW_TABLE, day2, "posting_date", DAY2)
    warehouse.replace_partition(RAW_TABLE, day1, "posting_date", DAY1)
    assert day_counts(warehouse) == {DAY1: day1.height, DAY2: day2.height}

    smaller = day1.head(2).with_columns(pl.lit("Renamed Co").alias("company"))
    warehouse.replace_partition(RAW_TABLE, smaller, "posting_date", DAY1)
    assert day_counts(warehouse) == {DAY1: 2, DAY2: day2.height}
    companies = warehouse.query(
        f"select distinct company from {RAW_TABLE} where posting_date = '{DAY1}'"
    )
    assert companies["company"].to_list() == ["Renamed Co"]

    loaded = warehouse.query(
        f"select * from {RAW_TABLE} where posting_date = '{DAY2}' order by line_number"
    )
    assert loaded.columns == day2.columns
    assert loaded["source_key"].to_list() == day2["source_key"].to_list()
    assert loaded["seniority"].to_list() == day2["seniority"].to_list()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda day: day.drop("title"),
            r"raw\.job_postings: .*nothing was loaded: column 'title' \(string, TEXT\) "
            "is missing from the rows",
        ),
        (
            # Text where the table holds numbers: refused before the side table is written.
            lambda day: day.with_columns(pl.lit("not a number").alias("line_number")),
            r"raw\.job_postings: .*column 'line_number' changed type: the table has integer "
            r"\(NUMBER\(38,0\)\), the rows have string \(varchar\)",
        ),
        (
            lambda day: day.with_columns(pl.lit(1.5).alias("salary")),
            r"raw\.job_postings: .*column 'salary' \(float\) is not in the table",
        ),
    ],
    ids=["missing", "type_changed", "new_column"],
)
def test_a_load_that_does_not_match_the_table_is_refused_and_changes_nothing(
    warehouse, raw_job_postings, change, message
):
    from resources.warehouse import SchemaMismatch

    day1 = raw_job_postings.filter(pl.col("posting_date") == DAY1)
    warehouse.replace_partition(RAW_TABLE, day1, "posting_date", DAY1)
    tables_before = warehouse.query("select table_name from information_schema.tables")

    with pytest.raises(SchemaMismatch, match=message):
        warehouse.replace_partition(RAW_TABLE, change(day1), "posting_date", DAY1)
    assert day_counts(warehouse) == {DAY1: day1.height}
    # Not even a side table was created.
    tables_after = warehouse.query("select table_name from information_schema.tables")
    assert sorted(tables_after["table_name"]) == sorted(tables_before["table_name"])
    # A column null in every row fits any column.
    empty_location = day1.with_columns(pl.lit(None).alias("location"))
    assert (
        warehouse.replace_partition(RAW_TABLE, empty_location, "posting_date", DAY1) == day1.height
    )


def test_bad_arguments_are_refused_with_the_table_named(warehouse, raw_job_postings):
    with pytest.raises(ValueError, match="raw.job_postings: partition column 'day'"):
        warehouse.replace_partition(RAW_TABLE, raw_job_postings, "day", DAY1)
    with pytest.raises(ValueError, match="schema.table"):
        warehouse.replace_partition("job_postings; drop", raw_job_postings, "posting_date", DAY1)
    odd = pl.DataFrame({"posting_date": [DAY1], "payload": [[1, 2]]})
    with pytest.raises(TypeError, match="raw.odd: no Snowflake type"):
        warehouse.replace_partition("raw.odd", odd, "posting_date", DAY1)


def test_tables_and_the_callers_step_commit_together_or_not_at_all(warehouse, raw_job_postings):
    from resources.warehouse import PartitionLoad

    day1 = raw_job_postings.filter(pl.col("posting_date") == DAY1)
    loads = [
        PartitionLoad(RAW_TABLE, "posting_date", DAY1, frame=day1),
        PartitionLoad("raw.job_postings_copy", "posting_date", DAY1, frame=day1.head(3)),
    ]
    assert warehouse.load_partitions(loads) == {RAW_TABLE: day1.height, "raw.job_postings_copy": 3}

    def publish_fails():
        raise OSError("upload of the day's files failed")

    fewer = [
        PartitionLoad(RAW_TABLE, "posting_date", DAY1, frame=day1.head(1)),
        PartitionLoad("raw.job_postings_copy", "posting_date", DAY1, frame=day1.head(1)),
    ]
    with pytest.raises(RuntimeError, match="upload of the day's files failed"):
        warehouse.load_partitions(fewer, before_commit=publish_fails)
    assert day_counts(warehouse) == {DAY1: day1.height}
    copy = warehouse.query("select count(*) as n from raw.job_postings_copy")
    assert copy["n"][0] == 3
