"""One day of readings in, heat-index readings and quarantined readings out.

Memory stays bounded by working through the day in blocks of cities (a rolling mean
and a duplicate check only ever need one city's readings): each block is read with a
streaming scan filtered on city_id (the readings files are sorted by city, so Parquet
statistics skip most row groups), validated, enriched and written as its own Parquet
part. Only the enriched rows for the warehouse load are held for the whole day.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from assets.weather.heat_index import celsius_to_fahrenheit, heat_index_f, heat_risk
from assets.weather.layout import (
    cities_key,
    heat_index_key,
    heat_index_prefix,
    is_readings_key,
    quarantine_key,
    readings_prefix,
)
from assets.weather.memory import PeakRss
from assets.weather.quarantine import split_readings
from assets.weather.sample_day import READINGS_SCHEMA
from resources.object_storage import ObjectStorage

DEFAULT_ROLLING_WINDOW = "60m"
DEFAULT_BLOCK_ROWS = 2_500_000


@dataclass
class HeatIndexReport:
    day: str
    rows_in: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    blocks: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    input_mb: float = 0.0
    output_keys: list[str] = field(default_factory=list)
    quarantine_key: str = ""

    def summary(self) -> str:
        return (
            f"{self.day}: {self.rows_in:,} readings in, {self.rows_valid:,} with a heat index, "
            f"{self.rows_quarantined:,} quarantined, {self.blocks} blocks, {self.seconds:.1f} s, "
            f"peak RSS {self.peak_rss_mb:,.0f} MB"
        )


@dataclass
class HeatIndexDay:
    report: HeatIndexReport
    readings: pl.DataFrame  # valid readings with their heat index, for the warehouse
    quarantine: pl.DataFrame


def with_heat_index(valid: pl.DataFrame, day: dt.date, window: str = DEFAULT_ROLLING_WINDOW) -> pl.DataFrame:
    """Valid readings -> the heat_index_readings columns, in the input's order.

    The rolling mean is time-based: the mean of the city's heat index over the trailing
    `window` ending at (and including) the reading, so a missing minute shortens the
    window's count instead of reaching further back.
    """
    temperature_f = celsius_to_fahrenheit("temperature_c")
    return (
        # Lazy: the optimizer computes each branch of the heat index formula once.
        valid.lazy()
        .select(
            pl.lit(day, pl.Date).alias("reading_date"),
            "city_id",
            "reading_at",
            temperature_f.alias("temperature_f"),
            "relative_humidity",
            heat_index_f(temperature_f, "relative_humidity").alias("heat_index_f"),
        )
        .with_columns(
            heat_risk("heat_index_f").alias("heat_risk"),
            pl.col("heat_index_f")
            .rolling_mean_by("reading_at", window_size=window)
            .over("city_id")
            .alias("heat_index_rolling_mean_f"),
        )
        .collect()
    )


def _block_bounds(low: int, high: int, blocks: int) -> list[tuple[int, int]]:
    step = max(1, math.ceil((high - low + 1) / blocks))
    return [(start, min(start + step, high + 1)) for start in range(low, high + 1, step)]


def _write_parquet(storage: ObjectStorage, frame: pl.DataFrame, key: str) -> None:
    with storage.staging_file(key) as path:
        frame.write_parquet(path)
        storage.upload_file(path, key)


def compute_heat_index_day(
    storage: ObjectStorage,
    day: str,
    window: str = DEFAULT_ROLLING_WINDOW,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> HeatIndexDay:
    """Validate, enrich and write one day; return what the warehouse needs and the figures."""
    started = time.perf_counter()
    date = dt.date.fromisoformat(day)
    report = HeatIndexReport(day=day, quarantine_key=quarantine_key(day))
    reading_keys = [k for k in storage.list_keys(readings_prefix(day)) if is_readings_key(k)]
    if not reading_keys:
        raise FileNotFoundError(f"no weather readings for {day} under {storage.uri(readings_prefix(day))}")

    with PeakRss() as peak, contextlib.ExitStack() as stack:
        paths = [stack.enter_context(storage.local_copy(k)) for k in reading_keys]
        city_path = stack.enter_context(storage.local_copy(cities_key(day)))
        known_city_ids = pl.read_parquet(city_path, columns=["city_id"])["city_id"]
        scan = pl.scan_parquet(paths, schema=READINGS_SCHEMA)
        stats = scan.select(
            pl.len().alias("rows"), pl.col("city_id").min().alias("low"), pl.col("city_id").max().alias("high")
        ).collect()
        report.rows_in = stats["rows"][0]
        low, high = stats["low"][0] or 0, stats["high"][0] or 0
        bounds = _block_bounds(low, high, max(1, math.ceil(report.rows_in / block_rows)))

        enriched_blocks, quarantined_blocks, reasons = [], [], Counter()
        for part, (start, stop) in enumerate(bounds):
            in_block = pl.col("city_id").is_between(start, stop, closed="left")
            if part == 0:  # readings without a city have no block of their own
                in_block = in_block.fill_null(True)
            readings = scan.filter(in_block).collect(engine="streaming")
            report.input_mb += readings.estimated_size("mb")
            valid, quarantined = split_readings(readings, known_city_ids)
            del readings
            enriched = with_heat_index(valid, date, window)
            del valid
            key = heat_index_key(day, part)
            _write_parquet(storage, enriched, key)
            report.output_keys.append(key)
            enriched_blocks.append(enriched)
            quarantined_blocks.append(quarantined)
            reasons.update(dict(quarantined["reason"].value_counts().iter_rows()))
        report.blocks = len(bounds)

        # A rerun with fewer blocks must not leave an earlier run's parts behind.
        for stale in set(storage.list_keys(heat_index_prefix(day))) - set(report.output_keys):
            storage.delete(stale)

        quarantine = pl.concat(quarantined_blocks).with_columns(
            pl.lit(date, pl.Date).alias("reading_date")
        ).select("reading_date", *READINGS_SCHEMA, "reason")
        _write_parquet(storage, quarantine, report.quarantine_key)
        readings_out = pl.concat(enriched_blocks, rechunk=False)
        del enriched_blocks, quarantined_blocks

    report.rows_valid = readings_out.height
    report.rows_quarantined = quarantine.height
    report.quarantine_reasons = dict(sorted(reasons.items()))
    report.peak_rss_mb = peak.mib
    report.seconds = time.perf_counter() - started
    return HeatIndexDay(report=report, readings=readings_out, quarantine=quarantine)
