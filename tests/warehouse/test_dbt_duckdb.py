"""The postings and weather models built by dbt through Dagster on the local DuckDB warehouse:
the mart against an independent computation, dbt tests as checks, the warehouse as a BI tool
reads it (schemas, declared types, comments, names), and the day-partitioned marts rebuilt
day by day (incremental, `delete+insert`) from dbt's partial parse."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from resources.dbt import build_dbt_project, dbt_log_path
from resources.warehouse import DuckDBWarehouse
from tests.helpers import (
    DAY_A,
    DAY_B,
    HEAT_INDEX_TABLE,
    SnapshotReader,
    daily_dbt_project,
    day_rows,
    expected_mart,
    heat_index_readings,
    load_daily_tables,
    materialize_daily_models,
    materialize_postings_models,
    normalize_mart,
    postings_on_partition_days,
    row_counts,
    weather_cities,
)
from tests.helpers import POSTINGS_TABLE as RAW_TABLE
from tests.helpers import dbt_check_results as check_results

pytestmark = [pytest.mark.slow]

MART = "analytics.postings_by_company_seniority"
CITY_DAYS = "analytics.city_day_heat_index"
REGION_DAYS = "analytics.heat_risk_by_region"


@pytest.fixture
def duckdb_warehouse(tmp_path, monkeypatch) -> DuckDBWarehouse:
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
    return DuckDBWarehouse(path=str(path))


def load(warehouse, raw: pl.DataFrame) -> None:
    for (day,), partition in raw.partition_by("posting_date", as_dict=True).items():
        warehouse.replace_partition(RAW_TABLE, partition, "posting_date", day)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two days of postings and weather loaded, and every day built (no partition), while a
    notebook reads the warehouse's snapshot; returns what the reader saw during the build."""
    folder = tmp_path_factory.mktemp("daily_models")
    warehouse = DuckDBWarehouse(path=str(folder / "warehouse.duckdb"))
    raw = postings_on_partition_days()
    load_daily_tables(warehouse, raw)
    project_dir = daily_dbt_project(folder)
    reader = SnapshotReader(
        warehouse.reader_path(),
        "select count(*) from information_schema.tables where table_schema = 'analytics'",
    )
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
            result = materialize_daily_models(project_dir, warehouse)
        seen_during_build = reader.ask()
    finally:
        reader.close()
    # Prepared as `make setup` prepares it, then built: what dbt logged, parse and build.
    logged = dbt_log_path(project_dir).read_text()
    return result, warehouse, raw, project_dir, seen_during_build, logged


def test_mart_matches_python_and_dbt_tests_pass_as_checks(built):
    result, warehouse, raw, _, seen_during_build, _ = built
    # A notebook reading the warehouse through the whole build never fails the build, and
    # sees the state it opened, whole, while the next reader sees the build's.
    assert seen_during_build == (0,)

    assert result.success
    mart = warehouse.query(f"select * from {MART}")
    assert_frame_equal(normalize_mart(mart), expected_mart(raw), check_exact=False)
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
    assert counts["stg_postings__job_postings"] == raw.height
    # What dbt built is what readers see once the build is done.
    assert warehouse.read(f"select count(*) as n from {MART}").item() == mart.height


def test_the_first_build_reuses_the_parse_setup_prepared(built):
    """`make setup` parses once (prepare_manifest, with the warehouse's vars); every dbt build
    of the first run starts from that parse instead of parsing the whole project again."""
    result, _, _, _, _, logged = built
    assert logged.count("Unable to do partial parsing") == 1, logged[-3000:]  # setup's own parse
    assert "saved manifest not found. Starting full parse" in logged
    reused = "Partial parsing enabled: 0 files deleted, 0 files added, 0 files changed"
    assert logged.count(reused) == len(result.get_step_success_events()), logged[-3000:]


def test_bi_tools_read_declared_types_comments_and_names(built):
    """The warehouse as a BI tool meets it, read from the readers' snapshot: staging views in
    their own schema apart from the marts; every column of every model and seed built with
    the type its yml declares (`data_type`, what the Dagster UI shows as the column schema),
    none a HUGEINT (DuckDB's sum of integers, which BI drivers cannot read); every relation
    and column commented with its dbt description (persist_docs); the city-day mart naming
    each city and its region."""
    _, warehouse, _, project_dir, _, _ = built
    manifest = json.loads(build_dbt_project(project_dir).manifest_path.read_text())
    nodes = [
        node for node in manifest["nodes"].values() if node["resource_type"] in ("model", "seed")
    ]
    columns = warehouse.read(
        "select schema_name, table_name, column_name, data_type, comment from duckdb_columns() "
        "where schema_name in ('analytics', 'staging') order by schema_name, table_name, "
        "column_index"
    )
    relations = warehouse.read(
        "select schema_name, table_name as name, comment from duckdb_tables() "
        "where schema_name in ('analytics', 'staging') union all "
        "select schema_name, view_name, comment from duckdb_views() "
        "where schema_name in ('analytics', 'staging')"
    )
    assert "HUGEINT" not in set(columns["data_type"]), columns.filter(
        pl.col("data_type") == "HUGEINT"
    ).rows()
    assert {(r["schema_name"], r["name"]) for r in relations.iter_rows(named=True)} == {
        (node["schema"], node["alias"]) for node in nodes
    }
    for node in nodes:
        expected_schema = "staging" if node["name"].startswith("stg_") else "analytics"
        assert node["schema"] == expected_schema, node["name"]
        built_columns = columns.filter(
            (pl.col("schema_name") == node["schema"]) & (pl.col("table_name") == node["alias"])
        )
        declared = {name: column.get("data_type") for name, column in node["columns"].items()}
        names = built_columns["column_name"]
        built_types = dict(zip(names, built_columns["data_type"], strict=True))
        assert built_types == declared, f"{node['name']}: built types differ from its data_type"
        described = {name: column["description"] for name, column in node["columns"].items()}
        assert all(described.values()), f"{node['name']}: a column without a description"
        assert dict(zip(names, built_columns["comment"], strict=True)) == described
        comment = relations.filter(pl.col("name") == node["alias"])["comment"].item()
        assert node["description"] and comment == node["description"], node["name"]

    named = warehouse.read(
        f"select distinct reading_date, city_id, city_name, region from {CITY_DAYS}"
    )
    registry = weather_cities().select("reading_date", "city_id", "city_name", "region")
    assert_frame_equal(
        named.with_columns(pl.col("reading_date").cast(pl.Date)).sort(pl.all()),
        registry.sort(pl.all()),
    )


def city_day_expected(readings: pl.DataFrame) -> pl.DataFrame:
    """city_day_heat_index's counts and extremes, computed apart."""
    return (
        readings.group_by("reading_date", "city_id")
        .agg(
            pl.len().cast(pl.Int64).alias("readings_count"),
            pl.col("heat_index_f").max().alias("max_heat_index_f"),
        )
        .sort("reading_date", "city_id")
    )


def city_days(warehouse) -> pl.DataFrame:
    return (
        warehouse.query(
            f"select reading_date, city_id, readings_count, max_heat_index_f from {CITY_DAYS}"
        )
        .select(
            pl.col("reading_date").cast(pl.Date),
            pl.col("city_id").cast(pl.Int32),
            pl.col("readings_count").cast(pl.Int64),
            # The staging model's dbt.type_float() is DuckDB's 4-byte float.
            pl.col("max_heat_index_f").cast(pl.Float64),
        )
        .sort("reading_date", "city_id")
    )


def test_a_day_run_rebuilds_its_days_only(built, tmp_path, monkeypatch):
    """Day B's run leaves day A's mart rows as they were, even once day A's raw rows
    changed; a run over days A to B (a backfill's range) brings A up to date and drops B,
    whose raw rows are now gone.

    And day after day dbt parses only what changed: the run's days reach the incremental
    marts without a new parse of the whole project, no build leaves a folder behind, and no
    build starts `dbt --version` (dagster-dbt's own check: seconds each, and a request to
    PyPI)."""
    _, shared, raw, project_dir, _, _ = built

    def no_version_check(command, *args, **kwargs):
        raise AssertionError(f"the dbt build started {command}")

    monkeypatch.setattr("dagster_dbt.core.resource.check_output", no_version_check)
    # A copy of the built warehouse (same file name: the views name the database by it).
    (tmp_path / "copy").mkdir()
    shutil.copyfile(shared.path, tmp_path / "copy" / "warehouse.duckdb")
    warehouse = DuckDBWarehouse(path=str(tmp_path / "copy" / "warehouse.duckdb"))
    before = normalize_mart(warehouse.query(f"select * from {MART}"))
    regions_before = warehouse.query(f"select * from {REGION_DAYS} order by all")

    # Day A reloaded: other companies, hotter readings.
    changed = raw.with_columns(
        pl.when(pl.col("posting_date") == DAY_A)
        .then(pl.lit("Umbrella Corp"))
        .otherwise(pl.col("company"))
        .alias("company"),
        pl.when(pl.col("posting_date") == DAY_A)
        .then(pl.lit("umbrella corp"))
        .otherwise(pl.col("company_normalized"))
        .alias("company_normalized"),
    )
    hotter = heat_index_readings().with_columns(
        pl.when(pl.col("reading_date") == DAY_A)
        .then(pl.col("heat_index_f") + 10)
        .otherwise(pl.col("heat_index_f"))
        .alias("heat_index_f")
    )
    load(warehouse, changed.filter(pl.col("posting_date") == DAY_A))
    warehouse.replace_partition(
        HEAT_INDEX_TABLE, hotter.filter(pl.col("reading_date") == DAY_A), "reading_date", DAY_A
    )

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
        day_b = materialize_daily_models(project_dir, warehouse, (DAY_B, DAY_B))
    assert day_b.success
    after_b = normalize_mart(warehouse.query(f"select * from {MART}"))
    assert_frame_equal(
        day_rows(after_b, "posting_date", DAY_A), day_rows(before, "posting_date", DAY_A)
    )
    assert_frame_equal(
        day_rows(after_b, "posting_date", DAY_B),
        expected_mart(raw.filter(pl.col("posting_date") == DAY_B)),
        check_exact=False,
    )
    assert_frame_equal(
        day_rows(city_days(warehouse), "reading_date", DAY_A),
        day_rows(city_day_expected(heat_index_readings()), "reading_date", DAY_A),
    )
    assert_frame_equal(warehouse.query(f"select * from {REGION_DAYS} order by all"), regions_before)
    # The run reports the rows of its day, not the whole table's.
    assert (
        row_counts(day_b)["postings_by_company_seniority"]
        == day_rows(after_b, "posting_date", DAY_B).height
    )

    # Day B reloaded empty; then a run over both days.
    empty = raw.clear()
    warehouse.replace_partition(RAW_TABLE, empty, "posting_date", DAY_B)
    warehouse.replace_partition(HEAT_INDEX_TABLE, hotter.clear(), "reading_date", DAY_B)
    log = dbt_log_path(project_dir)
    logged_before = log.read_text()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
        both = materialize_daily_models(project_dir, warehouse, (DAY_A, DAY_B))
    assert both.success

    # Other days than day B's run: each of the run's dbt builds reused day B's parse (dbt
    # says why when it cannot: vars, profile or files changed).
    logged = log.read_text()[len(logged_before) :]
    assert "Unable to do partial parsing" not in logged, logged
    reused = "Partial parsing enabled: 0 files deleted, 0 files added, 0 files changed"
    assert logged.count(reused) == len(both.get_step_success_events()), logged
    # The project's target keeps the manifest and the partial parse only; dbt's log is one
    # text file.
    shared_target = build_dbt_project(project_dir).manifest_path.parent
    assert sorted(p.name for p in shared_target.iterdir()) == [
        "manifest.json",
        "partial_parse.msgpack",
    ]
    assert [p.name for p in log.parent.iterdir()] == ["dbt.log"]
    assert not logged.lstrip().startswith("{")
    checks = check_results(both)
    assert checks and all(checks.values()), {n for n, passed in checks.items() if not passed}
    after = normalize_mart(warehouse.query(f"select * from {MART}"))
    assert_frame_equal(
        after, expected_mart(changed.filter(pl.col("posting_date") == DAY_A)), check_exact=False
    )
    assert_frame_equal(
        city_days(warehouse),
        city_day_expected(hotter.filter(pl.col("reading_date") == DAY_A)),
    )
    regions = warehouse.query(f"select reading_date, max_heat_index_f from {REGION_DAYS}")
    assert regions["reading_date"].cast(pl.Date).unique().to_list() == [DAY_A]
    assert regions["max_heat_index_f"].max() == hotter["heat_index_f"].max()


def test_an_unknown_seniority_fails_the_named_checks(duckdb_warehouse, dbt_project_dir):
    broken = postings_on_partition_days().with_columns(
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
