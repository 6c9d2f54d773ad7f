"""Which readings are invalid, and why: plain Polars expressions, one reason per rule.

A reading with several problems stays one quarantine row whose `reason` lists every
problem, separated by ";" in the order of QUARANTINE_REASONS, so fixing one cause does
not reveal another only on the next run.

Duplicates: when a city sends two or more readings for the same minute, every copy is
quarantined. They usually disagree and nothing says which one is right; keeping the
first would silently pick one. The minute becomes a gap, which the time-based rolling
mean handles.
"""

from __future__ import annotations

import polars as pl

# Physical bounds for air temperature in Celsius, a little beyond the world records
# (-89.2 C at Vostok, 56.7 C at Death Valley): anything outside is a sensor fault.
MIN_TEMPERATURE_C = -90.0
MAX_TEMPERATURE_C = 60.0

QUARANTINE_REASONS = [
    "city_missing",
    "unknown_city",
    "reading_time_missing",
    "temperature_missing",
    "temperature_out_of_bounds",
    "humidity_missing",
    "humidity_out_of_range",
    "duplicate_reading",
]


def reason_rules(known_city_ids: pl.Series) -> dict[str, pl.Expr]:
    """Reason -> an expression that is true for the readings with that problem."""
    city, at = pl.col("city_id"), pl.col("reading_at")
    temperature, humidity = pl.col("temperature_c"), pl.col("relative_humidity")
    temperature_missing = temperature.is_null() | temperature.is_nan()
    humidity_missing = humidity.is_null() | humidity.is_nan()
    return {
        "city_missing": city.is_null(),
        "unknown_city": city.is_not_null() & ~city.is_in(known_city_ids.implode()),
        "reading_time_missing": at.is_null(),
        "temperature_missing": temperature_missing,
        "temperature_out_of_bounds": ~temperature_missing
        & ~temperature.is_between(MIN_TEMPERATURE_C, MAX_TEMPERATURE_C),
        "humidity_missing": humidity_missing,
        "humidity_out_of_range": ~humidity_missing & ~humidity.is_between(0.0, 100.0),
        # Needs every reading of the city in the same frame, sorted by city and time
        # (split_readings sorts): a copy is then next to its twin, cheaper than a group-by.
        "duplicate_reading": city.is_not_null()
        & at.is_not_null()
        & (
            ((city == city.shift(1)) & (at == at.shift(1))).fill_null(False)
            | ((city == city.shift(-1)) & (at == at.shift(-1))).fill_null(False)
        ),
    }


def quarantine_reason(known_city_ids: pl.Series) -> pl.Expr:
    """Every problem of a reading, ";"-separated; null for a valid reading."""
    return _reason_from(reason_rules(known_city_ids))


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


def _sorted_by_city_and_time() -> pl.Expr:
    city, at = pl.col("city_id"), pl.col("reading_at")
    in_order = (city.diff() > 0) | ((city.diff() == 0) & (at.diff() >= 0))
    return in_order.fill_null(True).all() & city.is_not_null().all() & at.is_not_null().all()


def split_readings(readings: pl.DataFrame, known_city_ids: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid readings, quarantined readings with every input column plus `reason`).

    Both come back sorted by city and time (rows without a city or time last).
    """
    # Feeds arrive sorted more often than not; checking is a tenth of the cost of sorting.
    if not readings.select(_sorted_by_city_and_time()).item():
        readings = readings.sort(["city_id", "reading_at"], nulls_last=True)
    rules = reason_rules(known_city_ids)
    # Cheap boolean flags on every row; the reason text only for the few flagged rows.
    # Lazy: the optimizer evaluates the shared sub-expressions of the rules once.
    flagged = (
        readings.lazy()
        .with_columns(**{f"_{name}": rule for name, rule in rules.items()})
        .with_columns(_invalid=pl.any_horizontal(f"_{name}" for name in rules))
        .collect()
    )
    helpers = [f"_{name}" for name in rules] + ["_invalid"]
    valid = flagged.filter(~pl.col("_invalid")).drop(helpers)
    quarantined = (
        flagged.filter(pl.col("_invalid"))
        .with_columns(_reason_from({name: pl.col(f"_{name}") for name in rules}))
        .drop(helpers)
    )
    return valid, quarantined
