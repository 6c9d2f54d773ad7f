"""Day after day, dbt parses only what changed: the run's days reach the incremental marts
without making dbt parse the whole project again, and builds leave no folder behind.

Two builds of one weather mart through the dbt resource (`resources.dbt.dbt_invocation`, as
the dbt assets run it), for day A then day B, after the manifest is prepared as `make setup`
does: the first builds the table (every day), the second rebuilds day B only.
"""

from __future__ import annotations

import pytest

from resources.dbt import (
    build_dbt_project,
    build_dbt_resource,
    dbt_invocation,
    dbt_log_path,
    dbt_vars_args,
    prepare_manifest,
)
from resources.warehouse import DuckDBWarehouse
from tests.helpers import (
    CITIES_TABLE,
    DAY_A,
    DAY_B,
    HEAT_INDEX_TABLE,
    daily_dbt_project,
    heat_index_readings,
    weather_cities,
)

pytestmark = [pytest.mark.slow]

MART = "city_day_heat_index"


def test_builds_for_other_days_reuse_the_partial_parse_and_leave_no_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    # The weather mart's inputs only: each day of readings and of cities.
    for table, frame in (
        (HEAT_INDEX_TABLE, heat_index_readings()),
        (CITIES_TABLE, weather_cities()),
    ):
        for (day,), rows in frame.partition_by("reading_date", as_dict=True).items():
            warehouse.replace_partition(table, rows, "reading_date", day)
    project = build_dbt_project(daily_dbt_project(tmp_path))
    prepare_manifest(project, warehouse.dbt_vars())
    dbt = build_dbt_resource(project)
    shared = project.manifest_path.parent
    log = dbt_log_path(project.project_dir)

    builds = []
    for day in (DAY_A, DAY_B):
        logged_before = log.read_text()
        args = ["build", *dbt_vars_args(warehouse.dbt_vars()), "--select", f"+{MART}"]
        run_values = {"min_date": str(day), "max_date": str(day)}
        with dbt_invocation(dbt, args, run_values=run_values) as invocation:
            events = [e.raw_event["info"]["name"] for e in invocation.stream_raw_events()]
            results = invocation.get_artifact("run_results.json")
            folder = invocation.target_path
        assert invocation.is_successful()
        [mart] = [r for r in results["results"] if r["unique_id"].endswith(f".{MART}")]
        builds.append((events, mart["compiled_code"], log.read_text()[len(logged_before) :]))
        # The build's folder is gone; the project's target keeps the manifest and the
        # partial parse only.
        assert not folder.exists()
        assert sorted(p.name for p in shared.iterdir()) == [
            "manifest.json",
            "partial_parse.msgpack",
        ]

    for (events, _, logged), day in zip(builds, (DAY_A, DAY_B), strict=True):
        # dbt said why it could not reuse its parse (vars, profile or files changed) if it
        # did not; here it parsed nothing again.
        assert "UnableToPartialParse" not in events, day
        assert "Unable to do partial parsing" not in logged, logged
        assert "Partial parsing enabled: 0 files deleted, 0 files added, 0 files changed" in (
            logged
        ), logged
    # The days reached the model: day A's build made the table (every day), day B's run
    # rebuilt day B only.
    first, second = builds[0][1], builds[1][1]
    assert "1 = 1" in first and str(DAY_A) not in first
    assert f"between cast('{DAY_B}' as date) and cast('{DAY_B}' as date)" in second
    assert warehouse.query(f"select distinct reading_date from analytics.{MART}").height == 2

    # dbt's log is one text file, not a file per build.
    assert [p.name for p in log.parent.iterdir()] == ["dbt.log"]
    assert not log.read_text().lstrip().startswith("{")
