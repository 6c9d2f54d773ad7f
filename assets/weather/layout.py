"""Where the weather family's objects live, bucket-relative (`data/` locally, S3 in production)."""

READINGS_PREFIX = "weather-readings"
HEAT_INDEX_PREFIX = "heat-index-readings"
QUARANTINE_PREFIX = "weather-quarantine"

HEAT_INDEX_TABLE = "raw.heat_index_readings"
QUARANTINE_TABLE = "raw.weather_quarantine"
CITIES_TABLE = "raw.weather_cities"


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


def quarantine_key(day: str) -> str:
    return f"{QUARANTINE_PREFIX}/{day}/quarantine.parquet"
