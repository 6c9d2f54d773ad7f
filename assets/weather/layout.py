"""Where the weather family's objects live, bucket-relative (`data/` locally, S3 in production),
and the shape of the readings files the feed delivers."""

import polars as pl

READINGS_PREFIX = "weather-readings"
HEAT_INDEX_PREFIX = "heat-index-readings"
QUARANTINE_PREFIX = "weather-quarantine"

HEAT_INDEX_TABLE = "raw.heat_index_readings"
QUARANTINE_TABLE = "raw.weather_quarantine"
CITIES_TABLE = "raw.weather_cities"
PARTITION_COLUMN = "reading_date"

# The feed's contract for `weather-readings/<date>/readings-*.parquet`: readings name
# cities by id only (the registry is `cities.parquet` beside them). `reading_at` is UTC: a
# naive timestamp (no time zone in the file) is taken as UTC, an aware one is converted to
# UTC; a reading belongs to the partition of its UTC day, others are quarantined
# (`outside_partition_day`). Files may use other types that convert without loss (int64
# ids, ns or ms timestamps, float32 values; see schema.py) and extra columns, which are
# ignored and listed in the run's metadata.
READINGS_SCHEMA = {
    "city_id": pl.Int32,
    "reading_at": pl.Datetime("us"),
    "temperature_c": pl.Float64,
    "relative_humidity": pl.Float64,
}
READINGS_GLOB = "readings-*.parquet"

# The city registry `cities.parquet`, with the same tolerance for lossless variants.
CITIES_SCHEMA = {
    "city_id": pl.Int32,
    "city_name": pl.String,
    "latitude": pl.Float64,
    "longitude": pl.Float64,
    "region": pl.String,
}


def readings_prefix(day: str) -> str:
    return f"{READINGS_PREFIX}/{day}/"


def cities_key(day: str) -> str:
    """The day's city registry, beside its readings: readings name cities by id only."""
    return f"{READINGS_PREFIX}/{day}/cities.parquet"


def is_readings_key(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith("readings-") and key.endswith(".parquet")


def heat_index_prefix(day: str) -> str:
    return f"{HEAT_INDEX_PREFIX}/{day}/"


def heat_index_key(day: str, part: int) -> str:
    return f"{HEAT_INDEX_PREFIX}/{day}/part-{part:03d}.parquet"


def quarantine_prefix(day: str) -> str:
    return f"{QUARANTINE_PREFIX}/{day}/"


def quarantine_key(day: str) -> str:
    return f"{QUARANTINE_PREFIX}/{day}/quarantine.parquet"
