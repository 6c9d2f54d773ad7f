"""The weather assets: a day of readings in, heat-index readings and a quarantine out."""

import contextlib
import datetime as dt
import time

import dagster as dg
import polars as pl
from pydantic import Field

from assets.weather.enrich import DEFAULT_ROLLING_WINDOW, compute_heat_index_day
from assets.weather.layout import (
    CITIES_TABLE,
    HEAT_INDEX_TABLE,
    QUARANTINE_TABLE,
    cities_key,
    heat_index_prefix,
    is_readings_key,
    readings_prefix,
)
from assets.weather.memory import PeakRss
from assets.weather.partitions import weather_days
from assets.weather.sample_day import write_sample_day
from resources.object_storage import ObjectStorage
from resources.warehouse import Warehouse


class WeatherReadingsConfig(dg.Config):
    sample_cities: int = Field(
        default=0,
        description="If > 0 and the day has no readings yet, generate a sample day for this many cities first.",
    )


class HeatIndexConfig(dg.Config):
    rolling_window: str = Field(
        default=DEFAULT_ROLLING_WINDOW,
        description="Trailing time window of the per-city rolling mean (polars duration, e.g. 60m, 3h).",
    )


@dg.asset(
    group_name="weather",
    partitions_def=weather_days,
    kinds={"parquet"},
    description="The day's one-minute readings per city under weather-readings/<date>/, and its city registry.",
)
def weather_readings(
    context: dg.AssetExecutionContext,
    config: WeatherReadingsConfig,
    storage: ObjectStorage,
    warehouse: Warehouse,
) -> dg.MaterializeResult:
    day = context.partition_key
    started = time.perf_counter()
    with PeakRss() as peak:
        keys = [k for k in storage.list_keys(readings_prefix(day)) if is_readings_key(k)]
        if not keys and config.sample_cities > 0:
            context.log.info(f"no readings for {day}: generating {config.sample_cities:,} cities")
            write_sample_day(storage, day, cities=config.sample_cities)
            keys = [k for k in storage.list_keys(readings_prefix(day)) if is_readings_key(k)]
        if not keys or not storage.exists(cities_key(day)):
            raise dg.Failure(
                description=(
                    f"no weather readings (readings-*.parquet and cities.parquet) for {day} under "
                    f"{storage.uri(readings_prefix(day))}; set sample_cities to generate a sample day"
                )
            )
        rows = 0
        for key in keys:
            with storage.local_copy(key) as path:
                rows += pl.scan_parquet(path).select(pl.len()).collect().item()
        with storage.local_copy(cities_key(day)) as path:
            cities = pl.read_parquet(path).with_columns(reading_date=pl.lit(dt.date.fromisoformat(day)))
        warehouse.replace_partition(CITIES_TABLE, cities, "reading_date", dt.date.fromisoformat(day))
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "cities": cities.height,
            "files": len(keys),
            "bytes": sum(o.size for o in storage.list_objects(readings_prefix(day))),
            "warehouse_table": CITIES_TABLE,
            "seconds": round(time.perf_counter() - started, 3),
            "peak_rss_mb": round(peak.mib, 1),
            "location": dg.MetadataValue.path(storage.uri(readings_prefix(day))),
        }
    )


@dg.multi_asset(
    group_name="weather",
    partitions_def=weather_days,
    specs=[
        dg.AssetSpec(
            "heat_index_readings",
            group_name="weather",
            deps=[weather_readings],
            kinds={"parquet", "polars"},
            description=(
                "Every valid reading with its NWS heat index (F), risk category and rolling mean per "
                "city, under heat-index-readings/<date>/ and in raw.heat_index_readings."
            ),
        ),
        dg.AssetSpec(
            "weather_quarantine",
            group_name="weather",
            deps=[weather_readings],
            kinds={"parquet"},
            description=(
                "Readings that failed validation, with every input column and the reasons, under "
                "weather-quarantine/<date>/ and in raw.weather_quarantine."
            ),
        ),
    ],
)
def heat_index_readings(
    context: dg.AssetExecutionContext,
    config: HeatIndexConfig,
    storage: ObjectStorage,
    warehouse: Warehouse,
):
    day = context.partition_key
    date = dt.date.fromisoformat(day)
    started = time.perf_counter()
    with PeakRss() as peak:
        result = compute_heat_index_day(storage, day, window=config.rolling_window)
        # The warehouse loads the written parts itself: the day never sits in memory whole.
        with contextlib.ExitStack() as stack:
            parts = [str(stack.enter_context(storage.local_copy(k))) for k in result.report.output_keys]
            loaded = warehouse.replace_partition_from_parquet(HEAT_INDEX_TABLE, parts, "reading_date", date)
        quarantined = warehouse.replace_partition(QUARANTINE_TABLE, result.quarantine, "reading_date", date)
    report = result.report
    context.log.info(report.summary())
    if report.rows_quarantined:
        context.log.warning(
            f"{report.rows_quarantined:,} readings quarantined in {storage.uri(report.quarantine_key)}: "
            f"{report.quarantine_reasons}"
        )
    figures = {
        "rows_in": report.rows_in,
        "rows_valid": report.rows_valid,
        "rows_quarantined": report.rows_quarantined,
        "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(peak.mib, 1),
        "input_mb": round(report.input_mb, 1),
    }
    yield dg.MaterializeResult(
        asset_key="heat_index_readings",
        metadata={
            **figures,
            "rolling_window": config.rolling_window,
            "blocks": report.blocks,
            "warehouse_rows": loaded,
            "warehouse_table": HEAT_INDEX_TABLE,
            "location": dg.MetadataValue.path(storage.uri(heat_index_prefix(day))),
        },
    )
    yield dg.MaterializeResult(
        asset_key="weather_quarantine",
        metadata={
            **figures,
            "quarantine_reasons": report.quarantine_reasons,
            "warehouse_rows": quarantined,
            "warehouse_table": QUARANTINE_TABLE,
            "location": dg.MetadataValue.path(storage.uri(report.quarantine_key)),
        },
    )
