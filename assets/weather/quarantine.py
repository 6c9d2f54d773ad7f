"""Which readings are invalid, and why: plain Polars expressions, one reason per rule.

A reading with several problems stays one quarantine row whose `reason` lists every
problem, separated by ";" in the order of QUARANTINE_REASONS, so fixing one cause does
not reveal another only on the next run.

Another day: a reading whose UTC time (schema.py converts aware times to UTC; naive ones are
UTC by contract) falls outside the partition's day is quarantined as `outside_partition_day`,
never loaded under the partition's date.

Duplicates: when a city sends two or more readings for the same minute, every copy is
quarantined. They usually disagree and nothing says which one is right; keeping the
first would silently pick one. The minute becomes a gap, which the time-based rolling
mean handles.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

# Physical bounds for air temperature in Celsius, a little beyond the world records
# (-89.2 C at Vostok, 56.7 C at Death Valley): anything outside is a sensor fault.
MIN_TEMPERATURE_C = -90.0
MAX_TEMPERATURE_C = 60.0

QUARANTINE_REASONS = [
    "city_missing",
    "unknown_city",
    "reading_time_missing",
    "outside_partition_day",
    "temperature_missing",
    "temperature_out_of_bounds",
    "humidity_missing",
    "humidity_out_of_range",
    "duplicate_reading",
]


def reason_rules(known_city_ids: pl.Series, day: dt.date) -> dict[str, pl.Expr]:
    """Reason -> an expression that is true for the readings with that problem. `day` is the
    partition's: readings (naive UTC) outside [day 00:00, next day 00:00) belong to another."""
    city, at = pl.col("city_id"), pl.col("reading_at")
    day_start = dt.datetime.combine(day, dt.time())
    day_end = day_start + dt.timedelta(days=1)
    temperature, humidity = pl.col("temperature_c"), pl.col("relative_humidity")
    temperature_missing = temperature.is_null() | temperature.is_nan()
    humidity_missing = humidity.is_null() | humidity.is_nan()
    return {
        "city_missing": city.is_null(),
        "unknown_city": city.is_not_null() & ~city.is_in(known_city_ids.implode()),
        "reading_time_missing": at.is_null(),
        "outside_partition_day": at.is_not_null()
        & ~at.is_between(pl.lit(day_start), pl.lit(day_end), closed="left"),
        "temperature_missing": temperature_missing,
        "temperature_out_of_bounds": ~temperature_missing
        & ~temperature.is_between(MIN_TEMPERATURE_C, MAX_TEMPERATURE_C),
        "humidity_missing": humidity_missing,
        "humidity_out_of_range": ~humidity_missing & ~humidity.is_between(0.0, 100.0),
        # Needs every reading of the city in the same frame, sorted by city and time
        # (split_readings sorts when needed): a copy is then next to its twin, cheaper than a
        # group-by.
        "duplicate_reading": city.is_not_null()
        & at.is_not_null()
        & (
            ((city == city.shift(1)) & (at == at.shift(1))).fill_null(False)
            | ((city == city.shift(-1)) & (at == at.shift(-1))).fill_null(False)
        ),
    }


def quarantine_reason(known_city_ids: pl.Series, day: dt.date) -> pl.Expr:
    """Every problem of a reading, ";"-separated; null for a valid reading."""
    return _reason_from(reason_rules(known_city_ids, day))


def _reason_from(flags: dict[str, pl.Expr]) -> pl.Expr:
    return (
        pl.concat_str(
            [pl.when(flags[name]).then(pl.lit(name)) for name in QUARANTINE_REASONS],
            separator=";",
            ignore_nulls=True,
        )
        .replace("", None)
        .alias("reason")
    )


def is_sorted_by_city_and_time(readings: pl.DataFrame) -> bool:
    """True if `readings` (no null city or time) is sorted by city, then time.

    One cheap pass: city_id's own sortedness (often a known flag) first, then the time
    only needs to be ascending where the city stays the same.
    """
    if readings.height < 2:
        return True
    if not readings["city_id"].is_sorted():
        return False
    city, at = pl.col("city_id"), pl.col("reading_at")
    return readings.select(((city.diff() != 0) | (at.diff() >= 0)).fill_null(True).all()).item()


def _sorted(readings: pl.DataFrame) -> pl.DataFrame:
    """`readings` sorted by city and time: trusted when it already is (the usual feed), else
    sorted."""
    if not is_sorted_by_city_and_time(readings):
        readings = readings.sort(["city_id", "reading_at"])
    # Tell polars, so the rolling mean and group-wise work downstream take their sorted fast paths.
    return readings.with_columns(pl.col("city_id").set_sorted())


def split_readings(
    readings: pl.DataFrame, known_city_ids: pl.Series, day: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid readings of `day`, quarantined readings with every input column plus `reason`).

    Both come back sorted by city and time (rows without a city or time last).
    """
    city, at = pl.col("city_id"), pl.col("reading_at")
    rules = reason_rules(known_city_ids, day)
    # Rows without a city or time are invalid whatever else they hold, and cannot be
    # ordered: set them aside (usually there are none, and then nothing is copied).
    unplaced = None
    if readings["city_id"].null_count() or readings["reading_at"].null_count():
        placed = city.is_not_null() & at.is_not_null()
        unplaced = readings.filter(~placed).sort(["city_id", "reading_at"], nulls_last=True)
        readings = readings.filter(placed)
    # Feeds arrive sorted more often than not; checking is a tenth of the cost of sorting.
    readings = _sorted(readings)

    # One boolean per row, in one lazy pass (the optimizer shares the rules' common parts);
    # the reason text is built only for the few flagged rows.
    invalid = readings.lazy().select(pl.any_horizontal(*rules.values())).collect().to_series()
    quarantined = []
    if invalid.any():
        # The duplicate rule looks at neighbours, so it is evaluated before filtering.
        flagged = readings.with_columns(_duplicate=rules["duplicate_reading"]).filter(invalid)
        quarantined.append(
            flagged.with_columns(
                _reason_from({**rules, "duplicate_reading": pl.col("_duplicate")})
            ).drop("_duplicate")
        )
        readings = readings.filter(~invalid)
    if unplaced is not None and unplaced.height:
        # Without a city or time, no reading can be another's duplicate.
        no_duplicates = {**rules, "duplicate_reading": pl.lit(False)}
        quarantined.append(unplaced.with_columns(_reason_from(no_duplicates)))
    if quarantined:
        quarantine = pl.concat(quarantined)
    else:
        quarantine = readings.clear().with_columns(reason=pl.lit(None, pl.String))
    return readings, quarantine
