"""The same dbt build on the `snowflake` target, through fakesnow: the postings mart against
an independent computation, and the day-partitioned marts rebuilt day by day
(incremental, `delete+insert` in an explicit transaction, as dbt-snowflake runs it).

The raw tables are loaded with `SnowflakeWarehouse.replace_partition` under fakesnow's patch
into a persisted fakesnow database folder; dbt then runs against a fakesnow server over that
same folder, so the dbt subprocess and the in-process queries share one database. The
server cannot take `write_pandas` (PUT and COPY INTO a stage), so later changes of the raw
rows are plain SQL through the server.
"""

from __future__ import annotations

import importlib

import fakesnow
import polars as pl
import pytest
import snowflake.connector
from fakesnow.instance import FakeSnow
from polars.testing import assert_frame_equal

# Imported before the fixture points the settings at Snowflake: the module builds the
# definitions' dbt assets from the local target's manifest when it is first imported.
import assets.warehouse.assets  # noqa: F401
from resources import build_warehouse
from tests.helpers import (
    DAY_A,
    DAY_B,
    FAKESNOW_SERVER,
    SNOWFLAKE_ENV,
    daily_dbt_project,
    day_rows,
    expected_mart,
    load_daily_tables,
    materialize_daily_models,
    normalize_mart,
    postings_on_partition_days,
    row_counts,
)
from tests.helpers import dbt_check_results as check_results

pytestmark = [pytest.mark.snowflake, pytest.mark.slow]

MART = "analytics.postings_by_company_seniority"


def read(sql: str) -> pl.DataFrame:
    return build_warehouse().process_config_and_initialize().query(sql)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both days loaded and built on the fake Snowflake; the server stays up for the module."""
    folder = tmp_path_factory.mktemp("dbt_snowflake")
    db_path = folder / "fakesnow"
    db_path.mkdir()
    raw = postings_on_partition_days()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SNOWFLAKE_ENV.items():
            patch.setenv(name, value)
        # fakesnow cannot create the database-qualified temporary tables dbt's unit tests use;
        # the unit test runs on DuckDB (test_dbt_duckdb), the data tests run here.
        patch.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "unit_test")
        with fakesnow.patch(db_path=db_path):
            load_daily_tables(build_warehouse().process_config_and_initialize(), raw)

        server_module = importlib.import_module("fakesnow.server")
        patch.setattr(server_module, "shared_fs", FakeSnow(db_path=db_path))
        with FAKESNOW_SERVER() as connection:
            patch.setenv("SNOWFLAKE_HOST", connection["host"])
            patch.setenv("SNOWFLAKE_PORT", str(connection["port"]))
            patch.setenv("SNOWFLAKE_PROTOCOL", connection["protocol"])
            project_dir = daily_dbt_project(folder)
            result = materialize_daily_models(project_dir, build_warehouse())
            mart = read(f"select * from {MART}")
            con = snowflake.connector.connect(**connection, database="fieldwork", schema="raw")
            yield result, mart, raw, project_dir, con
            con.close()


def test_mart_on_snowflake_target_matches_python(built):
    result, mart, raw, _, _ = built
    assert result.success
    assert_frame_equal(normalize_mart(mart), expected_mart(raw), check_exact=False)
    checks = check_results(result)
    assert checks and all(checks.values()), {n for n, passed in checks.items() if not passed}
    assert row_counts(result)["postings_by_company_seniority"] == mart.height


def test_a_day_run_rebuilds_its_days_only_on_snowflake(built):
    """As on DuckDB (test_dbt_duckdb): day B's run leaves day A's rows alone after day A's
    raw rows changed; a run over A to B brings A up to date and drops B, now empty."""
    _, mart, raw, project_dir, con = built
    before = normalize_mart(mart)
    cursor = con.cursor()
    cursor.execute(
        "update raw.job_postings set company = 'Umbrella Corp', "
        "company_normalized = 'umbrella corp' where posting_date = %s",
        (DAY_A,),
    )
    changed = raw.with_columns(
        pl.when(pl.col("posting_date") == DAY_A)
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .alias(column)
        for column, value in (("company", "Umbrella Corp"), ("company_normalized", "umbrella corp"))
    )

    day_b = materialize_daily_models(project_dir, build_warehouse(), (DAY_B, DAY_B))
    assert day_b.success
    after_b = normalize_mart(read(f"select * from {MART}"))
    assert_frame_equal(
        day_rows(after_b, "posting_date", DAY_A), day_rows(before, "posting_date", DAY_A)
    )
    assert_frame_equal(
        day_rows(after_b, "posting_date", DAY_B),
        day_rows(before, "posting_date", DAY_B),
        check_exact=False,
    )

    cursor.execute("delete from raw.job_postings where posting_date = %s", (DAY_B,))
    both = materialize_daily_models(project_dir, build_warehouse(), (DAY_A, DAY_B))
    assert both.success
    checks = check_results(both)
    assert checks and all(checks.values()), {n for n, passed in checks.items() if not passed}
    assert_frame_equal(
        normalize_mart(read(f"select * from {MART}")),
        expected_mart(changed.filter(pl.col("posting_date") == DAY_A)),
        check_exact=False,
    )
    city_days = read("select distinct reading_date from analytics.city_day_heat_index")
    assert sorted(city_days["reading_date"].cast(pl.Date)) == [DAY_A, DAY_B]
