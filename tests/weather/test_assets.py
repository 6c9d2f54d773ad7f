"""Materialize the weather family on a small generated day and look at what comes out."""

import fnmatch

import dagster as dg
import polars as pl
import pytest

from assets.weather.definitions import defs
from assets.weather.layout import (
    cities_key,
    heat_index_prefix,
    is_readings_key,
    quarantine_prefix,
    readings_prefix,
)
from tests.helpers import (
    WEATHER_CITIES,
    WEATHER_DAY,
    materialize_weather,
    published_weather_files,
    write_weather_day,
)
from tests.weather import reference_heat_index as reference


def materialization(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    [event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def family_graph(resources: dict):
    # Resources come from the top-level definitions, so the family's own defs list them not.
    return dg.Definitions.merge(defs, dg.Definitions(resources=resources)).resolve_asset_graph()


def test_definitions_hold_the_weather_assets_and_checks(resources):
    graph = family_graph(resources)
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "weather_readings",
        "heat_index_readings",
        "weather_quarantine",
    }
    checks = {(k.asset_key.to_user_string(), k.name): k for k in graph.asset_check_keys}
    assert set(checks) == {
        ("heat_index_readings", "readings_reconcile"),
        ("heat_index_readings", "heat_index_is_sane"),
    }
    # The reconcile runs in the step that stages the outputs, and blocks their publication.
    reconcile = graph.get_check_spec(checks[("heat_index_readings", "readings_reconcile")])
    assert reconcile.blocking
    assert reconcile.description == (
        "Valid readings plus quarantined readings equal the readings in: none vanish, none appear."
    )


def test_every_asset_with_rows_says_where_they_are(resources):
    graph = family_graph(resources)
    meta = {k.to_user_string(): dict(graph.get(k).metadata) for k in graph.get_all_asset_keys()}
    declared = {
        name: [c.name for c in meta[name].pop("dagster/column_schema").columns]
        for name in ("heat_index_readings", "weather_quarantine")
    }
    assert declared == {
        "heat_index_readings": [
            "reading_date",
            "city_id",
            "reading_at",
            "temperature_f",
            "relative_humidity",
            "heat_index_f",
            "heat_risk",
            "heat_index_rolling_mean_f",
        ],
        "weather_quarantine": [
            "reading_date",
            "city_id",
            "reading_at",
            "temperature_c",
            "relative_humidity",
            "reason",
        ],
    }
    assert meta["heat_index_readings"] == {
        "dagster/table_name": "raw.heat_index_readings",
        "fieldwork/partition_column": "reading_date",
        "fieldwork/storage_prefix": "heat-index-readings/{partition}/",
        "fieldwork/storage_format": "parquet",
    }
    assert meta["weather_quarantine"] == {
        "dagster/table_name": "raw.weather_quarantine",
        "fieldwork/partition_column": "reading_date",
        "fieldwork/storage_prefix": "weather-quarantine/{partition}/",
        "fieldwork/storage_format": "parquet",
    }
    # Its warehouse table is the city registry, not its rows: no table name, a file glob.
    schema = meta["weather_readings"].pop("dagster/column_schema")
    assert [(c.name, c.type) for c in schema.columns][:2] == [
        ("city_id", "Int32"),
        ("reading_at", "Datetime(time_unit='us', time_zone=None)"),
    ]
    assert meta["weather_readings"] == {
        "fieldwork/storage_prefix": "weather-readings/{partition}/",
        "fieldwork/storage_format": "parquet",
        "fieldwork/partition_column": "reading_date",
        "fieldwork/storage_glob": "readings-*.parquet",
    }
    # The prefixes are the ones the assets write to.
    where = {
        "weather_readings": readings_prefix,
        "heat_index_readings": heat_index_prefix,
        "weather_quarantine": quarantine_prefix,
    }
    for asset, prefix in where.items():
        assert meta[asset]["fieldwork/storage_prefix"].format(partition=WEATHER_DAY) == prefix(
            WEATHER_DAY
        )


def test_the_readings_glob_takes_the_readings_and_not_the_city_registry(
    resources, storage, sample_day
):
    graph = family_graph(resources)
    glob = graph.get(dg.AssetKey("weather_readings")).metadata["fieldwork/storage_glob"]
    keys = storage.list_keys(readings_prefix(WEATHER_DAY))
    matched = [k for k in keys if fnmatch.fnmatch(k.rsplit("/", 1)[-1], glob)]
    assert matched == [k for k in keys if is_readings_key(k)] == sample_day.keys[1:]
    assert cities_key(WEATHER_DAY) in keys and cities_key(WEATHER_DAY) not in matched


def test_every_reading_is_enriched_or_quarantined_and_reruns_replace(
    resources, warehouse, sample_day
):
    result = materialize_weather(resources)
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"readings_reconcile", "heat_index_is_sane"}
    assert all(e.passed for e in evaluations.values())
    reconcile = {k: v.value for k, v in evaluations["readings_reconcile"].metadata.items()}
    counts = warehouse.query(
        "select (select count(*) from raw.heat_index_readings) as valid,"
        " (select count(*) from raw.weather_quarantine) as quarantined,"
        " (select count(*) from raw.weather_cities) as cities"
    ).row(0, named=True)
    assert counts["valid"] + counts["quarantined"] == sample_day.rows
    assert counts["cities"] == WEATHER_CITIES
    assert (reconcile["rows_in"], reconcile["rows_valid"], reconcile["rows_quarantined"]) == (
        sample_day.rows,
        counts["valid"],
        counts["quarantined"],
    )
    assert reconcile["difference"] == 0
    reasons = warehouse.query("select reason from raw.weather_quarantine")["reason"]
    assert set(reasons.str.split(";").explode()) == {
        "city_missing",
        "unknown_city",
        "temperature_missing",
        "temperature_out_of_bounds",
        "humidity_missing",
        "humidity_out_of_range",
        "duplicate_reading",
    }
    meta = materialization(result, "heat_index_readings")
    assert meta["rows_in"] == sample_day.rows and meta["peak_rss_mb"] > 0
    assert meta["warehouse_rows"] == counts["valid"]
    assert materialization(result, "weather_quarantine")["warehouse_rows"] == counts["quarantined"]

    first = published_weather_files(resources["storage"])
    again = materialize_weather(resources)
    assert again.success
    assert (
        warehouse.query(
            "select (select count(*) from raw.heat_index_readings) as valid,"
            " (select count(*) from raw.weather_quarantine) as quarantined,"
            " (select count(*) from raw.weather_cities) as cities"
        ).row(0, named=True)
        == counts
    )
    assert published_weather_files(resources["storage"]) == first  # byte-identical rerun


def test_heat_index_and_rolling_mean_match_the_reference_for_a_city_with_gaps(
    resources, storage, sample_day
):
    assert materialize_weather(resources).success
    out = pl.read_parquet(storage.uri(heat_index_prefix(WEATHER_DAY)) + "/*.parquet")
    per_city = out.group_by("city_id").len()
    city = per_city.filter(pl.col("len") < 1_440 - 5).sort("len")["city_id"][0]  # has gaps
    rows = out.filter(pl.col("city_id") == city).sort("reading_at")
    want_hi = [
        reference.heat_index_f(t, rh)
        for t, rh in rows.select("temperature_f", "relative_humidity").iter_rows()
    ]
    want_roll = reference.rolling_mean(rows["reading_at"].to_list(), want_hi, 3_600)
    assert rows["heat_index_f"].to_list() == pytest.approx(want_hi, abs=1e-9)
    assert rows["heat_index_rolling_mean_f"].to_list() == pytest.approx(want_roll, abs=1e-9)
    assert rows["heat_risk"].cast(pl.String).to_list() == [reference.heat_risk(v) for v in want_hi]


def test_a_configured_window_changes_the_rolling_mean(resources, storage, sample_day):
    config = dg.RunConfig(ops={"heat_index_readings": {"config": {"rolling_window": "1m"}}})
    assert materialize_weather(resources, run_config=config).success
    out = pl.read_parquet(storage.uri(heat_index_prefix(WEATHER_DAY)) + "/*.parquet")
    # A one-minute trailing window holds only the reading itself.
    assert (out["heat_index_rolling_mean_f"] == out["heat_index_f"]).all()


def test_a_day_without_readings_fails_clearly_and_generates_nothing(resources, storage):
    day = "2026-07-16"
    with pytest.raises(dg.Failure) as failure:
        materialize_weather(resources, day=day)
    message = failure.value.description
    assert f"no weather readings for {day}" in message
    assert storage.uri(readings_prefix(day)) in message  # where it looked
    assert "`make demo`" in message  # what makes data
    assert storage.list_keys("weather-readings/") == []  # the asset never generates data


@pytest.mark.xdist_group("moto")
def test_the_weather_day_runs_on_s3_like_on_the_local_folder(s3_storage, warehouse):
    sample = write_weather_day(s3_storage, cities=20)
    result = materialize_weather({"storage": s3_storage, "warehouse": warehouse})

    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    counts = warehouse.query(
        "select (select count(*) from raw.heat_index_readings) as valid,"
        " (select count(*) from raw.weather_quarantine) as quarantined"
    ).row(0, named=True)
    assert counts["valid"] + counts["quarantined"] == sample.rows
    assert s3_storage.list_keys(heat_index_prefix(WEATHER_DAY)) == [
        f"heat-index-readings/{WEATHER_DAY}/part-000.parquet"
    ]
    assert s3_storage.list_keys(quarantine_prefix(WEATHER_DAY)) == [
        f"weather-quarantine/{WEATHER_DAY}/quarantine.parquet"
    ]
