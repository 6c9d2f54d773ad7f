"""The weather assets: a day of readings in, heat-index readings and a quarantine out."""

import contextlib
import datetime as dt
import time

import dagster as dg
import polars as pl
from pydantic import Field

from assets.metadata import PLATFORM_OWNERS, column_schema, table_metadata
from assets.partitions import daily_partitions, day_of
from assets.weather.checks import readings_reconcile, reconcile_staged
from assets.weather.enrich import (
    DEFAULT_ROLLING_WINDOW,
    PublicationError,
    load_and_publish,
    open_day_inputs,
    stage_heat_index_day,
    with_heat_index,
)
from assets.weather.layout import (
    CITIES_TABLE,
    HEAT_INDEX_PREFIX,
    HEAT_INDEX_TABLE,
    PARTITION_COLUMN,
    QUARANTINE_PREFIX,
    QUARANTINE_TABLE,
    READINGS_GLOB,
    READINGS_PREFIX,
    READINGS_SCHEMA,
    cities_key,
    heat_index_prefix,
    is_readings_key,
    quarantine_key,
    readings_prefix,
)
from assets.weather.memory import PeakRss
from assets.weather.schema import InputFileError
from resources.object_storage import ObjectStorage
from resources.warehouse import Warehouse

HOW_TO_MAKE_READINGS = "make demo"


def _in_storage(prefix: str, glob: str | None = None) -> dict[str, str]:
    """Catalog metadata: where a partition's files are (`{partition}` is the day)."""
    where = {
        "fieldwork/storage_prefix": f"{prefix}/{{partition}}/",
        "fieldwork/storage_format": "parquet",
        "fieldwork/partition_column": "reading_date",
    }
    return where | ({"fieldwork/storage_glob": glob} if glob else {})


def _in_warehouse(table: str) -> dict[str, str]:
    """Catalog metadata: the warehouse table that holds the asset's rows, by day."""
    return {"dagster/table_name": table, "fieldwork/partition_column": PARTITION_COLUMN}


class HeatIndexConfig(dg.Config):
    rolling_window: str = Field(
        default=DEFAULT_ROLLING_WINDOW,
        description=(
            "Trailing time window of the per-city rolling mean (polars duration, e.g. 60m, 3h)."
        ),
    )


@dg.asset(
    group_name="weather",
    partitions_def=daily_partitions,
    kinds={"parquet"},
    owners=PLATFORM_OWNERS,
    # The rows are the readings files; raw.weather_cities (loaded here too) is the registry.
    metadata=_in_storage(READINGS_PREFIX, glob=READINGS_GLOB)
    | {"dagster/column_schema": column_schema(READINGS_SCHEMA)},
    description=(
        "The day's one-minute readings per city under `weather-readings/YYYY-MM-DD/`, and its "
        "city registry (raw.weather_cities)."
    ),
)
def weather_readings(
    context: dg.AssetExecutionContext, storage: ObjectStorage, warehouse: Warehouse
) -> dg.MaterializeResult:
    day = day_of(context)
    date = dt.date.fromisoformat(day)
    started = time.perf_counter()
    with PeakRss() as peak:
        keys = [k for k in storage.list_keys(readings_prefix(day)) if is_readings_key(k)]
        if not keys or not storage.exists(cities_key(day)):
            raise dg.Failure(
                description=(
                    f"no weather readings for {day}: expected {READINGS_GLOB} and cities.parquet "
                    f"under {storage.uri(readings_prefix(day))}. The sensor feed delivers them; "
                    f"locally, `{HOW_TO_MAKE_READINGS}` generates a sample day and materializes it "
                    f"(`python -m scripts.sample_weather --date {day}` only generates one)."
                )
            )
        try:
            with open_day_inputs(storage, day) as inputs:
                rows = sum(file.rows() for file in inputs.readings)
                cities = inputs.cities.frame.collect()
                ignored_columns = inputs.ignored_columns()
                duplicate_files = inputs.duplicate_files
        except InputFileError as error:
            raise dg.Failure(description=str(error)) from error
        if duplicate_files:
            context.log.warning(f"byte-identical copies, read once: {duplicate_files}")
        if ignored_columns:
            context.log.warning(f"columns outside the feed's contract, ignored: {ignored_columns}")
        cities = cities.with_columns(pl.lit(date).alias(PARTITION_COLUMN))
        warehouse.replace_partition(CITIES_TABLE, cities, PARTITION_COLUMN, date)
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "dagster/row_count": rows,
            "cities": cities.height,
            "files": len(keys),
            "ignored_columns": dg.MetadataValue.json(ignored_columns),
            "duplicate_files": dg.MetadataValue.json(duplicate_files),
            "bytes": sum(o.size for o in storage.list_objects(readings_prefix(day))),
            "warehouse_table": CITIES_TABLE,
            "seconds": round(time.perf_counter() - started, 3),
            "peak_rss_mb": round(peak.mib, 1),
            "location": dg.MetadataValue.path(storage.uri(readings_prefix(day))),
        }
    )


# The declared columns (the UI's Columns tab before any run): the heat index's as
# with_heat_index writes them, the quarantine's as stage_heat_index_day does.
HEAT_INDEX_SCHEMA = dict(with_heat_index(pl.DataFrame(schema=READINGS_SCHEMA), dt.date.min).schema)
QUARANTINE_SCHEMA = {PARTITION_COLUMN: pl.Date, **READINGS_SCHEMA, "reason": pl.String}


@dg.multi_asset(
    group_name="weather",
    partitions_def=daily_partitions,
    specs=[
        dg.AssetSpec(
            "heat_index_readings",
            group_name="weather",
            deps=[weather_readings],
            kinds={"parquet", "polars"},
            owners=PLATFORM_OWNERS,
            metadata=_in_warehouse(HEAT_INDEX_TABLE)
            | _in_storage(HEAT_INDEX_PREFIX)
            | {"dagster/column_schema": column_schema(HEAT_INDEX_SCHEMA)},
            description=(
                "Every valid reading with its NWS heat index (F), risk category and rolling mean "
                "per city, under `heat-index-readings/YYYY-MM-DD/` and in raw.heat_index_readings."
            ),
        ),
        dg.AssetSpec(
            "weather_quarantine",
            group_name="weather",
            deps=[weather_readings],
            kinds={"parquet"},
            owners=PLATFORM_OWNERS,
            metadata=_in_warehouse(QUARANTINE_TABLE)
            | _in_storage(QUARANTINE_PREFIX)
            | {"dagster/column_schema": column_schema(QUARANTINE_SCHEMA)},
            description=(
                "Readings that failed validation, with every input column and the reasons, "
                "under `weather-quarantine/YYYY-MM-DD/` and in raw.weather_quarantine."
            ),
        ),
    ],
    check_specs=[readings_reconcile],
)
def heat_index_readings(
    context: dg.AssetExecutionContext,
    config: HeatIndexConfig,
    storage: ObjectStorage,
    warehouse: Warehouse,
):
    """Stage the day, reconcile what was staged, then load and publish it in one transaction.

    A failed reconcile or a failed load publishes nothing: the previous files and warehouse
    rows of the day stay as they were.
    """
    day = day_of(context)
    started = time.perf_counter()
    # Staging files a killed run of the day left beside the outputs (never a live run's).
    for prefix in (heat_index_prefix(day), quarantine_key(day).rsplit("/", 1)[0] + "/"):
        for key in storage.remove_abandoned_staging(prefix):
            context.log.warning(f"removed {key}, left by a run that was killed")
    with PeakRss() as peak, contextlib.ExitStack() as stack:
        try:
            staged = stack.enter_context(
                stage_heat_index_day(
                    storage, day, window=config.rolling_window, say=context.log.info
                )
            )
        except InputFileError as error:
            raise dg.Failure(description=str(error)) from error
        report = staged.report
        context.log.info(report.summary())
        reconcile = reconcile_staged(staged)
        if not reconcile.passed:
            yield reconcile
            counted = {k: getattr(v, "value", v) for k, v in reconcile.metadata.items()}
            raise dg.Failure(
                description=(
                    f"readings_reconcile failed for {day}: {counted['rows_in']:,} readings "
                    f"in, {counted['rows_valid']:,} valid + {counted['rows_quarantined']:,} "
                    f"quarantined (difference {counted['difference']:,}). Nothing was "
                    f"published or loaded: the previous outputs under "
                    f"{storage.uri(heat_index_prefix(day))}, {storage.uri(quarantine_key(day))}"
                    f" and in {HEAT_INDEX_TABLE} and {QUARANTINE_TABLE} are kept."
                ),
                metadata=counted,
            )
        # Read before publishing, which moves the staged files.
        heat_index_rows = table_metadata(
            pl.scan_parquet([part.path for part in staged.parts]), report.rows_valid
        )
        quarantine_rows = table_metadata(
            pl.scan_parquet(staged.quarantine_file.path), report.rows_quarantined
        )
        try:
            loaded = load_and_publish(staged, storage, warehouse)
        except PublicationError as error:
            raise dg.Failure(description=str(error)) from error
    if report.rows_quarantined:
        context.log.warning(
            f"{report.rows_quarantined:,} readings quarantined in "
            f"{storage.uri(report.quarantine_key)}: {report.quarantine_reasons}"
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
            "ignored_columns": dg.MetadataValue.json(report.ignored_columns),
            "duplicate_files": dg.MetadataValue.json(report.duplicate_files),
            "warehouse_rows": loaded[HEAT_INDEX_TABLE],
            "warehouse_table": HEAT_INDEX_TABLE,
            "location": dg.MetadataValue.path(storage.uri(heat_index_prefix(day))),
            **heat_index_rows,
        },
        check_results=[reconcile],
    )
    yield dg.MaterializeResult(
        asset_key="weather_quarantine",
        metadata={
            **figures,
            "quarantine_reasons": report.quarantine_reasons,
            "warehouse_rows": loaded[QUARANTINE_TABLE],
            "warehouse_table": QUARANTINE_TABLE,
            "location": dg.MetadataValue.path(storage.uri(report.quarantine_key)),
            **quarantine_rows,
        },
    )
