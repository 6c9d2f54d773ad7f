"""The weather family's part of `make demo`: generate a day, and say what the run did with it.

`scripts/demo.py` calls `write_demo_day` before it materializes the platform's job, and
`weather_summary` on the run's result. The assets never generate data themselves.
"""

from __future__ import annotations

import time

import dagster as dg

from assets.weather.layout import (
    HEAT_INDEX_TABLE,
    QUARANTINE_TABLE,
    heat_index_prefix,
    quarantine_key,
)
from scripts.sample_weather import FULL_SCALE_CITIES, write_sample_day

DEMO_CITIES = 500
WEATHER_ASSETS = ("weather_readings", "heat_index_readings", "weather_quarantine")


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
    checks = {
        e.check_name: e.passed
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() in WEATHER_ASSETS
    }
    check_line = "  checks: " + ", ".join(
        f"{name} {'passed' if ok else 'FAILED'}" for name, ok in checks.items()
    )
    if not meta:
        # A failed blocking check stops the step before anything is published.
        return [f"weather {partition_date}: not materialized in this run", check_line]
    return [
        f"weather {partition_date}: {cities:,} cities x 1,440 minutes generated in "
        f"{generated:.1f} s",
        f"  readings in {meta['rows_in']:,}, valid {meta['rows_valid']:,}, "
        f"quarantined {meta['rows_quarantined']:,} {quarantine.get('quarantine_reasons', {})}",
        f"  heat index + {meta['rolling_window']} rolling mean in {meta['seconds']:.1f} s, "
        f"peak RSS {meta['peak_rss_mb']:,.0f} MB (input {meta['input_mb']:,.0f} MB in memory)",
        check_line,
        f"  output: {storage.uri(heat_index_prefix(partition_date))} and {HEAT_INDEX_TABLE}",
        f"  quarantine: {storage.uri(quarantine_key(partition_date))} and {QUARANTINE_TABLE}",
    ]
