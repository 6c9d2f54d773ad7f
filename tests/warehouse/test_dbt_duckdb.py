"""The postings models built by dbt through Dagster on the local DuckDB warehouse."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from resources.warehouse import DuckDBWarehouse
from tests.helpers import POSTINGS_TABLE as RAW_TABLE
from tests.helpers import (
    SnapshotReader,
    expected_mart,
    materialize_postings_models,
    normalize_mart,
    row_counts,
)
from tests.helpers import dbt_check_results as check_results

pytestmark = pytest.mark.slow


@pytest.fixture
def duckdb_warehouse(tmp_path, monkeypatch) -> DuckDBWarehouse:
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
    return DuckDBWarehouse(path=str(path))


def load(warehouse, raw: pl.DataFrame) -> None:
    for (day,), partition in raw.partition_by("posting_date", as_dict=True).items():
        warehouse.replace_partition(RAW_TABLE, partition, "posting_date", day)


def test_mart_matches_python_and_dbt_tests_pass_as_checks(
    duckdb_warehouse, raw_job_postings, dbt_project_dir
):
    load(duckdb_warehouse, raw_job_postings)
    # A notebook reading the warehouse through the whole build: it never fails the build,
    # and it sees the state it opened, whole, while the next reader sees the build's.
    reader = SnapshotReader(
        duckdb_warehouse.reader_path(),
        "select count(*) from information_schema.tables where table_schema = 'analytics'",
    )
    try:
        result = materialize_postings_models(dbt_project_dir, duckdb_warehouse)
        assert reader.ask() == (0,)
    finally:
        reader.close()

    assert result.success
    mart = duckdb_warehouse.query("select * from analytics.postings_by_company_seniority")
    assert_frame_equal(normalize_mart(mart), expected_mart(raw_job_postings), check_exact=False)
    assert set(mart["seniority_level"]) == set(range(1, 8))

    checks = check_results(result)
    assert checks, "dbt tests did not surface as asset checks"
    assert all(checks.values()), {name for name, passed in checks.items() if not passed}
    assert "assert_company_shares_sum_to_one" in checks
    assert (
        "accepted_values_stg_postings__job_postings_seniority_level__False__1__2__3__4__5__6__7"
        in checks
    )

    counts = row_counts(result)
    assert counts["postings_by_company_seniority"] == mart.height
    assert counts["seniority_levels"] == 7
    # Views are counted too, through the warehouse resource.
    assert counts["stg_postings__job_postings"] == raw_job_postings.height
    # What dbt built is what readers see once the build is done.
    assert (
        duckdb_warehouse.read(
            "select count(*) as n from analytics.postings_by_company_seniority"
        ).item()
        == mart.height
    )


def test_an_unknown_seniority_fails_the_named_checks(
    duckdb_warehouse, raw_job_postings, dbt_project_dir
):
    broken = raw_job_postings.with_columns(
        pl.when(pl.col("line_number") == 3)
        .then(9)
        .otherwise(pl.col("seniority"))
        .alias("seniority")
    )
    load(duckdb_warehouse, broken)

    result = materialize_postings_models(dbt_project_dir, duckdb_warehouse, raise_on_error=False)

    assert not result.success
    failed = {name for name, passed in check_results(result).items() if not passed}
    assert failed == {
        "accepted_values_stg_postings__job_postings_seniority_level__False__1__2__3__4__5__6__7",
        "relationships_stg_postings__job_postings_seniority_level__seniority_level__ref_seniority_levels_",
    }
    # dbt build skips the mart once its input failed a test: no bad figures reach BI tools.
    assert "postings_by_company_seniority" not in row_counts(result)
