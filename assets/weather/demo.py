"""The weather family's part of `make demo`: generate a day, materialize it, say what happened."""

from __future__ import annotations

import time

import dagster as dg

from assets.weather.layout import heat_index_prefix, quarantine_key
from assets.weather.sample_day import FULL_SCALE_CITIES, write_sample_day

DEMO_CITIES = 500


def materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    """The metadata of `asset`'s materialization in a run, as plain values ({} if none)."""
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey(asset):
            return {k: v.value for k, v in event.materialization.metadata.items()}
    return {}


def write_demo_day(storage, partition_date: str, full_scale: bool) -> tuple[int, float]:
    """Generate the day's readings (500 cities, or 15,000 at full scale); cities and seconds."""
    cities = FULL_SCALE_CITIES if full_scale else DEMO_CITIES
    started = time.perf_counter()
    write_sample_day(storage, partition_date, cities=cities)
    return cities, time.perf_counter() - started


def weather_summary(
    result: dg.ExecuteInProcessResult, storage, partition_date: str, cities: int, generated: float
) -> list[str]:
    """What the weather assets of a run did, as lines for a person."""
    meta = materialization_metadata(result, "heat_index_readings")
    quarantine = materialization_metadata(result, "weather_quarantine")
    if not meta:
        return [f"weather {partition_date}: not materialized in this run"]
    checks = {
        e.check_name: e.passed
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() in ("heat_index_readings", "weather_quarantine", "weather_readings")
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
