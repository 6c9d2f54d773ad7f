"""Readings and city files as real producers write them: other lossless types, extra columns,
time zones, readings of another day, broken files. Real Parquet files, real DuckDB."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from assets.weather.layout import (
    CITIES_TABLE,
    HEAT_INDEX_TABLE,
    QUARANTINE_TABLE,
    cities_key,
    readings_prefix,
)
from tests.helpers import (
    WEATHER_DAY,
    asset_check_results,
    materialization_metadata,
    materialize_weather,
    published_weather_files,
    warehouse_rows,
    write_weather_day,
)

CITIES = 20
READINGS_KEY = f"{readings_prefix(WEATHER_DAY)}readings-000.parquet"


def rewrite(storage, key: str, change) -> None:
    """Replace the Parquet object `key` with `change(its frame)`, as another producer wrote it."""
    with storage.local_copy(key) as path:
        frame = pl.read_parquet(path)
    with storage.staging_file(key) as path:
        change(frame).write_parquet(path)
        storage.upload_file(path, key)


def write_day(storage, readings=None, cities=None):
    """The small generated day, its readings and registry rewritten by `readings`/`cities`."""
    sample = write_weather_day(storage, cities=CITIES)
    if readings is not None:
        rewrite(storage, READINGS_KEY, readings)
    if cities is not None:
        rewrite(storage, cities_key(WEATHER_DAY), cities)
    return sample


def outputs(storage, warehouse) -> dict:
    return {
        "files": published_weather_files(storage),
        **{t: warehouse_rows(warehouse, t) for t in (HEAT_INDEX_TABLE, QUARANTINE_TABLE)},
        CITIES_TABLE: warehouse_rows(warehouse, CITIES_TABLE),
    }


def float32_values(frame: pl.DataFrame) -> pl.DataFrame:
    # NaN among them: it must be quarantined like a null, never give a NaN heat index.
    return frame.with_columns(
        pl.col("temperature_c").cast(pl.Float32),
        pl.when(pl.int_range(pl.len()) % 997 == 5)
        .then(float("nan"))
        .otherwise(pl.col("relative_humidity"))
        .cast(pl.Float32)
        .alias("relative_humidity"),
    )


def widened(frame: pl.DataFrame) -> pl.DataFrame:
    """What the platform makes of float32_values: the same values, exactly, in float64."""
    return float32_values(frame).with_columns(
        pl.col("temperature_c", "relative_humidity").cast(pl.Float64)
    )


def as_producers_write_them(frame: pl.DataFrame) -> pl.DataFrame:
    """Every lossless variant at once: int64 ids, ns timestamps with a UTC zone, float32
    values, extra columns (one of the Null type), columns in another order."""
    return float32_values(frame).select(
        pl.col("relative_humidity"),
        pl.col("reading_at").dt.cast_time_unit("ns").dt.replace_time_zone("UTC"),
        pl.col("city_id").cast(pl.Int64),
        pl.col("temperature_c"),
        pl.lit("AWS-7").alias("station_model"),
        pl.lit(None).alias("firmware"),
    )


def registry_as_producers_write_it(cities: pl.DataFrame) -> pl.DataFrame:
    return cities.with_columns(
        pl.col("city_id").cast(pl.UInt32),
        pl.col("region").cast(pl.Categorical),
        population=pl.lit(1_000, pl.Int64),
    )


def test_lossless_variants_load_exactly_like_the_canonical_files_and_extras_are_listed(
    tmp_path, storage, warehouse
):
    # Checked against HEAD: the variant day fails in weather_readings with Polars'
    # "data type mismatch for column city_id ... hint: pass cast_options=..." error.
    write_day(storage, readings=widened)
    assert materialize_weather({"storage": storage, "warehouse": warehouse}).success
    canonical = outputs(storage, warehouse)

    from resources.object_storage import LocalObjectStorage
    from resources.warehouse import DuckDBWarehouse

    other = LocalObjectStorage(root=str(tmp_path / "other"))
    other_wh = DuckDBWarehouse(path=str(tmp_path / "other.duckdb"))
    write_day(other, readings=as_producers_write_them, cities=registry_as_producers_write_it)
    # And a file with no readings at all, in yet another shape (ms, a time zone, int16 ids).
    empty_key = f"{readings_prefix(WEATHER_DAY)}readings-001.parquet"
    with other.staging_file(empty_key) as path:
        pl.DataFrame(
            schema={
                "city_id": pl.Int16,
                "reading_at": pl.Datetime("ms", "Europe/Berlin"),
                "temperature_c": pl.Int32,
                "relative_humidity": pl.Float64,
            }
        ).write_parquet(path)
        other.upload_file(path, empty_key)
    result = materialize_weather({"storage": other, "warehouse": other_wh})

    assert result.success
    assert all(asset_check_results(result).values())  # reconciled, no NaN heat index
    again = outputs(other, other_wh)
    assert again.pop("files") == canonical.pop("files")  # byte for byte
    for table, rows in canonical.items():
        assert again[table].equals(rows), table
    ignored = {
        "readings-000.parquet": ["station_model", "firmware"],
        "cities.parquet": ["population"],
    }
    assert materialization_metadata(result, "weather_readings")["ignored_columns"] == ignored
    assert materialization_metadata(result, "heat_index_readings")["ignored_columns"] == ignored
    reasons = warehouse_rows(other_wh, QUARANTINE_TABLE, ["reason"])["reason"]
    assert reasons.str.contains("humidity_missing").sum() >= 1  # the NaN humidities


def _timestamp_as_text(frame):
    return frame.with_columns(pl.col("reading_at").dt.to_string("%Y-%m-%dT%H:%M:%S"))


INCOMPATIBLE = [
    (
        "a string temperature",
        lambda f: f.with_columns(pl.col("temperature_c").cast(pl.String)),
        None,
        "readings-000.parquet",
        ["'temperature_c' is String, expected Float64"],
    ),
    (
        "a timestamp written as text",
        _timestamp_as_text,
        None,
        "readings-000.parquet",
        ["'reading_at' is String, expected Datetime", "Write it as a timestamp column"],
    ),
    (
        "a missing column",
        lambda f: f.drop("relative_humidity"),
        None,
        "readings-000.parquet",
        ["'relative_humidity' is missing (expected Float64)", "Write every column"],
    ),
    (
        "int64 ids beyond Int32",
        lambda f: f.with_columns(pl.col("city_id").cast(pl.Int64) + 2**31),
        None,
        "readings-000.parquet",
        ["'city_id' is Int64 with value 2147483649", "Renumber the ids"],
    ),
    (
        "ns timestamps with digits below the microsecond",
        lambda f: f.with_columns(
            pl.col("reading_at").dt.cast_time_unit("ns") + pl.duration(nanoseconds=7)
        ),
        None,
        "readings-000.parquet",
        ["'reading_at' is Datetime(time_unit='ns'", "below the microsecond"],
    ),
    (
        "an int64 temperature (inexact beyond 2**53)",
        lambda f: f.with_columns(pl.col("temperature_c").round().cast(pl.Int64)),
        None,
        "readings-000.parquet",
        ["'temperature_c' is Int64, expected Float64"],
    ),
    (
        "a registry with text ids",
        None,
        lambda c: c.with_columns(pl.col("city_id").cast(pl.String)),
        "cities.parquet",
        ["'city_id' is String, expected Int32"],
    ),
]


@pytest.mark.parametrize(
    ("what", "readings", "cities", "file", "says"),
    INCOMPATIBLE,
    ids=[case[0] for case in INCOMPATIBLE],
)
def test_an_incompatible_file_fails_the_day_naming_file_column_and_types(
    resources, storage, warehouse, what, readings, cities, file, says
):
    # Checked against HEAD: weather_readings passes, then heat_index_readings fails with a raw
    # Polars SchemaError or ColumnNotFoundError (no file name; a cast_options hint for the
    # ids and the ns timestamps).
    write_day(storage, readings=readings, cities=cities)
    with pytest.raises(dg.Failure) as failure:
        materialize_weather(resources)
    message = failure.value.description
    assert storage.uri(f"{readings_prefix(WEATHER_DAY)}{file}") in message
    for words in says:
        assert words in message
    assert "rerun the day" in message and "cast_options" not in message
    assert published_weather_files(storage) == {}


@pytest.mark.parametrize("damage", ["truncated", "empty object"])
def test_a_damaged_readings_file_fails_the_day_naming_it(resources, storage, damage):
    # Checked against HEAD: "parquet: File out of specification: ..." without the file's name.
    write_day(storage)
    whole = storage.read_bytes(READINGS_KEY)
    storage.write_bytes(READINGS_KEY, whole[: len(whole) // 2] if damage == "truncated" else b"")
    with pytest.raises(dg.Failure) as failure:
        materialize_weather(resources)
    message = failure.value.description
    assert f"{storage.uri(READINGS_KEY)} is not a readable Parquet file" in message
    assert "replace it with a complete file" in message and "rerun the day" in message


def test_readings_outside_the_partition_day_are_quarantined_after_conversion_to_utc(
    resources, storage, warehouse
):
    # Checked against HEAD: the aware file fails with a cast_options hint; with naive times
    # only, the next day's readings load under 2026-07-15. Times are on the half minute, so
    # they never duplicate a generated reading.
    write_day(storage)
    at = dt.datetime.fromisoformat
    minus_2, plus_2 = dt.timezone(dt.timedelta(hours=-2)), dt.timezone(dt.timedelta(hours=2))
    cases = [  # as written, and in UTC
        at("2026-07-15T23:30:30").replace(tzinfo=minus_2),  # 2026-07-16T01:30Z: outside
        at("2026-07-16T00:30:30").replace(tzinfo=plus_2),  # 2026-07-15T22:30Z: in the day
        at("2026-07-15T01:30:30").replace(tzinfo=plus_2),  # 2026-07-14T23:30Z: outside
    ]
    aware_key = f"{readings_prefix(WEATHER_DAY)}readings-001.parquet"
    with storage.staging_file(aware_key) as path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # A fixed-offset zone as pyarrow writes it ("-02:00"); a column holds one zone, so
        # the +02:00 times are written as the same instants in -02:00.
        stamps = [t.astimezone(minus_2) for t in cases]
        pq.write_table(
            pa.table(
                {
                    "city_id": pa.array([1, 2, 3], pa.int32()),
                    "reading_at": pa.array(stamps, pa.timestamp("us", tz="-02:00")),
                    "temperature_c": [30.0, 31.0, 32.0],
                    "relative_humidity": [50.0, 51.0, 52.0],
                }
            ),
            path,
        )
        storage.upload_file(path, aware_key)
    naive_key = f"{readings_prefix(WEATHER_DAY)}readings-002.parquet"
    naive = [at("2026-07-16T00:00:00"), at("2026-07-14T23:59:00")]  # both outside
    with storage.staging_file(naive_key) as path:
        pl.DataFrame(
            {
                "city_id": [4, 5],
                "reading_at": naive,
                "temperature_c": [30.0, 31.0],
                "relative_humidity": [50.0, 51.0],
            },
            schema_overrides={"city_id": pl.Int32},
        ).write_parquet(path)
        storage.upload_file(path, naive_key)

    result = materialize_weather(resources)

    assert result.success and all(asset_check_results(result).values())
    outside = warehouse.query(
        "select city_id, reading_at from raw.weather_quarantine"
        " where reason = 'outside_partition_day' order by city_id"
    ).rows()
    assert outside == [
        (1, at("2026-07-16T01:30:30")),
        (3, at("2026-07-14T23:30:30")),
        (4, at("2026-07-16T00:00:00")),
        (5, at("2026-07-14T23:59:00")),
    ]
    kept = warehouse.query(
        "select reading_date, reading_at from raw.heat_index_readings"
        " where city_id = 2 and second(reading_at) = 30"
    ).rows()
    assert kept == [(dt.date(2026, 7, 15), at("2026-07-15T22:30:30"))]
    meta = materialization_metadata(result, "weather_quarantine")
    assert meta["quarantine_reasons"]["outside_partition_day"] == 4
    # What the UI shows: rows as loaded, the columns as written, the first rows.
    assert meta["dagster/row_count"] == meta["rows_quarantined"] > 0
    assert "reason" in [c.name for c in meta["dagster/column_schema"].columns]
    assert meta["preview"].endswith(f"The first 5 of {meta['rows_quarantined']:,} rows.")
    heat = materialization_metadata(result, "heat_index_readings")
    assert heat["dagster/row_count"] == heat["rows_valid"] == heat["warehouse_rows"]
    assert "heat_index_f" in [c.name for c in heat["dagster/column_schema"].columns]
    readings = materialization_metadata(result, "weather_readings")
    assert readings["dagster/row_count"] == readings["rows"] == heat["rows_in"]


def test_a_file_delivered_twice_is_read_once_and_listed(resources, storage, warehouse):
    # Checked against HEAD: every reading of the file becomes a duplicate of its copy, so the
    # whole file goes to the quarantine as duplicate_reading and heat_index_readings is empty.
    sample = write_day(storage)
    copy_key = f"{readings_prefix(WEATHER_DAY)}readings-001.parquet"
    storage.write_bytes(copy_key, storage.read_bytes(READINGS_KEY))

    result = materialize_weather(resources)

    assert result.success and all(asset_check_results(result).values())
    meta = materialization_metadata(result, "heat_index_readings")
    assert meta["duplicate_files"] == {"readings-001.parquet": "readings-000.parquet"}
    assert meta["rows_in"] == sample.rows  # the copy's rows are not counted twice
    assert materialization_metadata(result, "weather_readings")["duplicate_files"] == {
        "readings-001.parquet": "readings-000.parquet"
    }
    loaded = warehouse_rows(warehouse, HEAT_INDEX_TABLE, ["city_id"]).height
    quarantined = warehouse_rows(warehouse, QUARANTINE_TABLE, ["city_id"]).height
    assert loaded + quarantined == sample.rows and loaded > 0.99 * sample.rows
