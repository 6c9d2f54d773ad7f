"""The weather family's part of `make demo`: generate a day, materialize it, say what happened."""

from __future__ import annotations

import time

import dagster as dg

from assets.weather.assets import heat_index_readings, weather_readings
from assets.weather.checks import heat_index_is_sane, readings_reconcile
from assets.weather.layout import heat_index_prefix, quarantine_key
from assets.weather.sample_day import FULL_SCALE_CITIES, write_sample_day

DEMO_CITIES = 500


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey(asset):
            return {k: v.value for k, v in event.materialization.metadata.items()}
    return {}


def run_weather_demo(
    partition_date: str,
    full_scale: bool,
    instance: dg.DagsterInstance,
    resources: dict[str, object] | None = None,
) -> list[str]:
    """Generate `partition_date` (500 cities, or 15,000 at full scale), materialize the
    weather assets and their checks, and return summary lines."""
    if resources is None:
        from resources import build_storage, build_warehouse

        resources = {"storage": build_storage(), "warehouse": build_warehouse()}
    storage = resources["storage"]
    cities = FULL_SCALE_CITIES if full_scale else DEMO_CITIES
    started = time.perf_counter()
    sample = write_sample_day(storage, partition_date, cities=cities)
    generated = time.perf_counter() - started
    result = dg.materialize(
        [weather_readings, heat_index_readings, readings_reconcile, heat_index_is_sane],
        partition_key=partition_date,
        resources={"storage": storage, "warehouse": resources["warehouse"]},
        instance=instance,
    )
    meta = _metadata(result, "heat_index_readings")
    quarantine = _metadata(result, "weather_quarantine")
    checks = {
        e.check_name: e.passed
        for e in result.get_asset_check_evaluations()
    }
    return [
        f"weather {partition_date}: {cities:,} cities x 1,440 minutes generated in {generated:.1f} s",
        f"  readings in {meta['rows_in']:,}, valid {meta['rows_valid']:,}, "
        f"quarantined {meta['rows_quarantined']:,} {quarantine.get('quarantine_reasons', {})}",
        f"  heat index + {meta['rolling_window']} rolling mean in {meta['seconds']:.1f} s, "
        f"peak RSS {meta['peak_rss_mb']:,.0f} MB (input {meta['input_mb']:,.0f} MB in memory)",
        "  checks: " + ", ".join(f"{name} {'passed' if ok else 'FAILED'}" for name, ok in checks.items()),
        f"  output: {storage.uri(heat_index_prefix(partition_date))} and raw.heat_index_readings",
        f"  quarantine: {storage.uri(quarantine_key(partition_date))} and raw.weather_quarantine",
    ]
