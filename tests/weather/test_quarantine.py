"""Bad readings are quarantined with every reason, and none vanish."""

import datetime as dt

import polars as pl

from assets.weather.quarantine import split_readings

T0 = dt.datetime(2026, 7, 15, 12, 0)
KNOWN = pl.Series([1, 2], dtype=pl.Int32)


def readings(rows):
    schema = {
        "city_id": pl.Int32,
        "reading_at": pl.Datetime("us"),
        "temperature_c": pl.Float64,
        "relative_humidity": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_each_problem_is_named_and_several_problems_stay_one_row():
    minute = dt.timedelta(minutes=1)
    frame = readings(
        [
            (1, T0, 30.0, 50.0),  # valid
            (1, T0 + minute, 30.0, 100.0),  # valid: 100 % is possible
            (None, T0, 30.0, 50.0),
            (9, T0, 30.0, 50.0),
            (2, None, 30.0, 50.0),
            (2, T0, None, 50.0),
            (2, T0 + minute, float("nan"), 50.0),
            (2, T0 + 2 * minute, 75.0, 50.0),
            (2, T0 + 3 * minute, 30.0, 100.5),
            (2, T0 + 4 * minute, 30.0, None),
            (9, T0 + 5 * minute, 99.0, -1.0),  # three problems, one row
        ]
    )
    valid, quarantined = split_readings(frame, KNOWN, T0.date())
    assert valid.height + quarantined.height == frame.height
    assert valid.height == 2
    assert quarantined.columns == [*frame.columns, "reason"]
    assert sorted(quarantined["reason"].to_list()) == sorted(
        [
            "city_missing",
            "unknown_city",
            "reading_time_missing",
            "temperature_missing",
            "temperature_missing",
            "temperature_out_of_bounds",
            "humidity_out_of_range",
            "humidity_missing",
            "unknown_city;temperature_out_of_bounds;humidity_out_of_range",
        ]
    )


def test_every_copy_of_a_duplicated_minute_is_quarantined_even_unsorted():
    earlier = T0 - dt.timedelta(minutes=1)
    frame = readings(
        [(1, T0, 30.0, 50.0), (2, T0, 20.0, 50.0), (1, T0, 31.0, 50.0), (1, earlier, 30.0, 50.0)]
    )
    valid, quarantined = split_readings(frame, KNOWN, T0.date())
    assert quarantined["reason"].to_list() == ["duplicate_reading", "duplicate_reading"]
    assert sorted(quarantined["temperature_c"].to_list()) == [30.0, 31.0]
    assert valid.select("city_id", "reading_at").rows() == [(1, earlier), (2, T0)]
