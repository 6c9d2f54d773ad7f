"""A run publishes its files and loads the warehouse together, or keeps the previous ones.

Each test first publishes a good day, then regenerates the day with other readings (so a
run that published anything would change the bytes) and makes the second run fail: at the
warehouse load, or at the blocking reconcile. The previous files must stay byte for byte
and the previous warehouse rows must stay as they were.
"""

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.weather.layout import HEAT_INDEX_TABLE, QUARANTINE_TABLE, heat_index_key
from tests.helpers import (
    WEATHER_DAY,
    materialize_weather,
    published_weather_files,
    warehouse_rows,
    write_weather_day,
)

TABLES = [HEAT_INDEX_TABLE, QUARANTINE_TABLE]


def snapshot(storage, warehouse) -> dict:
    return {
        "files": published_weather_files(storage),
        **{table: warehouse_rows(warehouse, table) for table in TABLES},
    }


def assert_unchanged(before: dict, storage, warehouse) -> None:
    assert published_weather_files(storage) == before["files"]  # same keys, same bytes
    for table in TABLES:
        columns = before[table].columns
        assert warehouse_rows(warehouse, table, columns).equals(before[table]), table
    # No staged leftovers beside the published files either.
    for prefix in ("heat-index-readings", "weather-quarantine"):
        on_disk = {
            p.relative_to(storage.root).as_posix()
            for p in (Path(storage.root) / prefix).rglob("*")
            if p.is_file()
        }
        assert on_disk == {k for k in before["files"] if k.startswith(prefix)}


def step_failure(result: dg.ExecuteInProcessResult) -> str:
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "heat_index_readings"
    return failure.step_failure_data.user_failure_data.description


@pytest.mark.parametrize("failing_table", TABLES)
def test_a_failed_warehouse_load_keeps_the_previous_files_and_rows(
    resources, storage, warehouse, failing_table
):
    write_weather_day(storage)
    assert materialize_weather(resources).success
    before = snapshot(storage, warehouse)

    write_weather_day(storage, seed=8)  # another day's worth of readings
    # A real trigger, no mock: the table gained a required column the load does not fill
    # (schema drift ahead of the code). The load refuses it before writing anything, naming
    # the column; for the quarantine, the second load, the heat-index rows stay as they were.
    for change in (
        "add column reviewed_by varchar default 'x'",
        "alter column reviewed_by set not null",
        "alter column reviewed_by drop default",
    ):
        warehouse.query(f"alter table {failing_table} {change}")
    result = materialize_weather(resources, raise_on_error=False)

    assert not result.success
    assert_unchanged(before, storage, warehouse)
    message = step_failure(result)
    assert "warehouse load failed" in message and "reviewed_by" in message
    assert "nothing was published" in message and "kept" in message
    assert not result.get_asset_materialization_events()[1:]  # only weather_readings

    # Without the drift the same day goes through and replaces both: the files did differ.
    warehouse.query(f"alter table {failing_table} drop column reviewed_by")
    assert materialize_weather(resources).success
    assert published_weather_files(storage) != before["files"]


def test_a_failed_reconcile_keeps_the_previous_files_and_rows(
    resources, storage, warehouse, monkeypatch
):
    write_weather_day(storage)
    assert materialize_weather(resources).success
    before = snapshot(storage, warehouse)

    write_weather_day(storage, seed=8)
    # No real input makes a reading vanish (every reading lands in a block and comes out
    # valid or quarantined), so this stands in for a bug that drops one: the only mock.
    import assets.weather.enrich as enrich

    split_readings = enrich.split_readings

    def loses_a_reading(readings, known_city_ids, day):
        valid, quarantined = split_readings(readings, known_city_ids, day)
        return valid.slice(1), quarantined

    monkeypatch.setattr(enrich, "split_readings", loses_a_reading)
    result = materialize_weather(resources, raise_on_error=False)

    assert not result.success
    [reconcile] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "readings_reconcile"
    ]
    assert not reconcile.passed
    figures = {k: v.value for k, v in reconcile.metadata.items()}
    assert figures["difference"] == 1
    assert figures["rows_in"] == figures["rows_valid"] + figures["rows_quarantined"] + 1
    assert_unchanged(before, storage, warehouse)
    message = step_failure(result)
    assert "readings_reconcile failed" in message and "Nothing was published or loaded" in message
    assert "kept" in message
    assert not result.get_asset_materialization_events()[1:]  # only weather_readings


def test_parts_a_previous_run_left_behind_are_pruned(resources, storage, warehouse):
    write_weather_day(storage)
    assert materialize_weather(resources).success
    # As if an earlier run had cut the day into more blocks than this one does.
    part = storage.read_bytes(heat_index_key(WEATHER_DAY, 0))
    for stale in (1, 2):
        storage.write_bytes(heat_index_key(WEATHER_DAY, stale), part)

    assert materialize_weather(resources).success

    assert storage.list_keys(f"heat-index-readings/{WEATHER_DAY}/") == [
        heat_index_key(WEATHER_DAY, 0)
    ]
    published = pl.read_parquet(storage.uri(f"heat-index-readings/{WEATHER_DAY}/") + "/*.parquet")
    assert published.height == warehouse_rows(warehouse, HEAT_INDEX_TABLE).height
