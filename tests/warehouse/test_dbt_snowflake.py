"""The same dbt build on the `snowflake` target, through fakesnow.

The raw table is loaded with `SnowflakeWarehouse.replace_partition` under fakesnow's patch
into a persisted fakesnow database folder; dbt then runs against a fakesnow server over that
same folder, so the dbt subprocess and the in-process row-count queries share one database.
"""

from __future__ import annotations

import importlib

import fakesnow
import pytest
from fakesnow.instance import FakeSnow
from polars.testing import assert_frame_equal

from resources import build_warehouse
from tests.helpers import (
    FAKESNOW_SERVER,
    SNOWFLAKE_ENV,
    expected_mart,
    materialize_postings_models,
    normalize_mart,
    row_counts,
)
from tests.helpers import POSTINGS_TABLE as RAW_TABLE
from tests.helpers import dbt_check_results as check_results

pytestmark = [pytest.mark.snowflake, pytest.mark.slow]


def test_mart_on_snowflake_target_matches_python(
    tmp_path, monkeypatch, raw_job_postings, dbt_project_dir
):
    for name, value in SNOWFLAKE_ENV.items():
        monkeypatch.setenv(name, value)
    # fakesnow cannot create the database-qualified temporary tables dbt's unit tests use;
    # the unit test runs on DuckDB (test_dbt_duckdb), the data tests run here.
    monkeypatch.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "unit_test")
    db_path = tmp_path / "fakesnow"
    db_path.mkdir()

    with fakesnow.patch(db_path=db_path):
        warehouse = build_warehouse().process_config_and_initialize()
        for (day,), partition in raw_job_postings.partition_by(
            "posting_date", as_dict=True
        ).items():
            warehouse.replace_partition(RAW_TABLE, partition, "posting_date", day)

    serve = FAKESNOW_SERVER
    server_module = importlib.import_module("fakesnow.server")
    monkeypatch.setattr(server_module, "shared_fs", FakeSnow(db_path=db_path))
    with serve() as connection:
        monkeypatch.setenv("SNOWFLAKE_HOST", connection["host"])
        monkeypatch.setenv("SNOWFLAKE_PORT", str(connection["port"]))
        monkeypatch.setenv("SNOWFLAKE_PROTOCOL", connection["protocol"])

        result = materialize_postings_models(dbt_project_dir, build_warehouse())
        mart = (
            build_warehouse()
            .process_config_and_initialize()
            .query("select * from analytics.postings_by_company_seniority")
        )

    assert result.success
    assert_frame_equal(normalize_mart(mart), expected_mart(raw_job_postings), check_exact=False)
    checks = check_results(result)
    assert checks and all(checks.values()), {n for n, passed in checks.items() if not passed}
    assert row_counts(result)["postings_by_company_seniority"] == mart.height
