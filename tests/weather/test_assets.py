"""Materialize the weather family on a small generated day and look at what comes out."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from assets.weather.assets import heat_index_readings, weather_readings
from assets.weather.checks import heat_index_is_sane, readings_reconcile
from assets.weather.definitions import defs
from tests.weather import reference_heat_index as reference
from tests.weather.conftest import CITIES, DAY

SELECTION = [weather_readings, heat_index_readings, readings_reconcile, heat_index_is_sane]


def materialize(resources, day=DAY, **kwargs):
    return dg.materialize(SELECTION, partition_key=day, resources=resources, **kwargs)


def test_definitions_hold_the_weather_assets_and_checks():
    # Resources come from the top-level definitions, so the family's own defs list them not.
    assert {k.to_user_string() for a in defs.assets for k in a.keys} == {
        "weather_readings", "heat_index_readings", "weather_quarantine"
    }
    assert {(k.asset_key.to_user_string(), k.name) for c in defs.asset_checks for k in c.check_keys} == {
        ("heat_index_readings", "readings_reconcile"), ("heat_index_readings", "heat_index_is_sane"),
    }


def test_every_reading_is_enriched_or_quarantined_and_reruns_replace(resources, warehouse, sample_day):
    result = materialize(resources)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    counts = warehouse.query(
        "select (select count(*) from raw.heat_index_readings) as valid,"
        " (select count(*) from raw.weather_quarantine) as quarantined,"
        " (select count(*) from raw.weather_cities) as cities"
    ).row(0, named=True)
    assert counts["valid"] + counts["quarantined"] == sample_day.rows
    assert counts["cities"] == CITIES
    reasons = set(warehouse.query("select reason from raw.weather_quarantine")["reason"].str.split(";").explode())
    assert reasons == {
        "city_missing", "unknown_city", "temperature_missing", "temperature_out_of_bounds",
        "humidity_missing", "humidity_out_of_range", "duplicate_reading",
    }
    meta = result.get_asset_materialization_events()[1].materialization.metadata
    assert meta["rows_in"].value == sample_day.rows and meta["peak_rss_mb"].value > 0

    again = materialize(resources)
    assert again.success
    assert warehouse.query("select count(*) as n from raw.heat_index_readings")["n"][0] == counts["valid"]
    assert warehouse.query("select count(*) as n from raw.weather_quarantine")["n"][0] == counts["quarantined"]
    assert warehouse.query("select count(*) as n from raw.weather_cities")["n"][0] == CITIES


def test_heat_index_and_rolling_mean_match_the_reference_for_a_city_with_gaps(resources, storage, sample_day):
    assert materialize(resources).success
    out = pl.read_parquet(storage.uri(f"heat-index-readings/{DAY}/") + "/*.parquet")
    per_city = out.group_by("city_id").len()
    city = per_city.filter(pl.col("len") < 1_440 - 5).sort("len")["city_id"][0]  # has gaps
    rows = out.filter(pl.col("city_id") == city).sort("reading_at")
    want_hi = [reference.heat_index_f(t, rh) for t, rh in rows.select("temperature_f", "relative_humidity").iter_rows()]
    want_roll = reference.rolling_mean(rows["reading_at"].to_list(), want_hi, 3_600)
    assert rows["heat_index_f"].to_list() == pytest.approx(want_hi, abs=1e-9)
    assert rows["heat_index_rolling_mean_f"].to_list() == pytest.approx(want_roll, abs=1e-9)
    assert rows["heat_risk"].cast(pl.String).to_list() == [reference.heat_risk(v) for v in want_hi]


def test_a_configured_window_changes_the_rolling_mean(resources, storage, sample_day):
    config = dg.RunConfig(ops={"heat_index_readings": {"config": {"rolling_window": "1m"}}})
    assert materialize(resources, run_config=config).success
    out = pl.read_parquet(storage.uri(f"heat-index-readings/{DAY}/") + "/*.parquet")
    # A one-minute trailing window holds only the reading itself.
    assert (out["heat_index_rolling_mean_f"] == out["heat_index_f"]).all()


def test_a_day_without_readings_fails_clearly(resources):
    with pytest.raises(dg.Failure, match="no weather readings"):
        materialize(resources, day="2026-07-16")


def test_reconcile_check_fails_when_readings_go_missing(resources, storage, sample_day):
    assert materialize(resources).success
    storage.delete(f"heat-index-readings/{DAY}/part-000.parquet")
    result = dg.materialize(
        [weather_readings, heat_index_readings, readings_reconcile], partition_key=DAY,
        resources=resources,
        selection=dg.AssetSelection.assets("weather_readings") | dg.AssetSelection.checks(readings_reconcile),
        raise_on_error=False,  # the check is blocking: its failure fails the run, as it should
    )
    assert not result.success
    evaluation = result.get_asset_check_evaluations()[0]
    assert not evaluation.passed
    assert evaluation.metadata["difference"].value > 0


def test_a_sample_day_can_be_generated_by_config(resources, warehouse):
    config = dg.RunConfig(ops={"weather_readings": {"config": {"sample_cities": 5}}})
    assert materialize(resources, run_config=config).success
    assert warehouse.query("select count(distinct city_id) as n from raw.heat_index_readings")["n"][0] == 5
    assert warehouse.query("select max(reading_date) as d from raw.heat_index_readings")["d"][0] == dt.date(2026, 7, 15)


@pytest.mark.xdist_group("moto")
def test_the_weather_day_runs_on_s3_like_on_the_local_folder(s3_storage, warehouse):
    from assets.weather.sample_day import write_sample_day

    sample = write_sample_day(s3_storage, DAY, cities=20)
    result = materialize({"storage": s3_storage, "warehouse": warehouse})

    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    counts = warehouse.query(
        "select (select count(*) from raw.heat_index_readings) as valid,"
        " (select count(*) from raw.weather_quarantine) as quarantined"
    ).row(0, named=True)
    assert counts["valid"] + counts["quarantined"] == sample.rows
    assert s3_storage.list_keys(f"heat-index-readings/{DAY}/")
