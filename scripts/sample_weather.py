"""A realistic generated day of weather readings, the local stand-in for the sensor feed.

Demo and test data, not part of the platform: `make demo` writes a day with it before it
materializes the weather assets, tests and benchmarks generate their days with it, and

    python -m scripts.sample_weather --date 2026-07-15 --cities 500

writes one into the configured storage (the local `data/` folder by default).

One reading per city per minute (15,000 cities x 1,440 minutes = 21.6 million rows at full
scale). Temperatures in degrees Celsius follow the season for the city's latitude and
hemisphere and a daily cycle by local solar time (coolest near 05:00, warmest near 15:00);
relative humidity in percent moves against the daily temperature cycle. A few gaps:
about 0.3 % of minutes are missing and some cities have a sensor outage of up to two hours.

With `defects=True` (the default) a small share of readings is wrong the way real feeds
are wrong, so the quarantine has something to catch: unknown or missing city ids, null or
impossible temperatures, humidity outside 0-100, and duplicated timestamps.

Layout, per day under `weather-readings/<date>/`:
- `cities.parquet`: city_id, city_name, latitude, longitude, region (climate zone);
- `readings-NNN.parquet`: city_id (int32), reading_at (UTC, naive, microseconds),
  temperature_c (float64), relative_humidity (float64, percent); sorted by city and time
  within and across files (readings of unknown cities in the last file, rows without a
  city at the end of each file).
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from assets.weather.layout import READINGS_SCHEMA, cities_key, readings_prefix
from resources.object_storage import ObjectStorage

FULL_SCALE_CITIES = 15_000
MINUTES_PER_DAY = 1_440
CITIES_PER_FILE = 1_000

_SYLLABLES = [
    "an",
    "bel",
    "cor",
    "dun",
    "el",
    "far",
    "gan",
    "hal",
    "is",
    "jor",
    "kel",
    "lin",
    "mar",
    "nor",
    "os",
    "pra",
    "quin",
    "ros",
    "sal",
    "tor",
    "ul",
    "ven",
    "wes",
    "yar",
    "zan",
]
_SUFFIXES = ["", "ton", "ville", "burg", "port", " Springs", " City", "field", "haven", "mouth"]


@dataclass(frozen=True)
class SampleDay:
    day: str
    cities: int
    rows: int
    keys: list[str]


def climate_region(latitude: pl.Expr) -> pl.Expr:
    """The city's climate zone by latitude band and hemisphere."""
    hemisphere = pl.when(latitude >= 0).then(pl.lit("north")).otherwise(pl.lit("south"))
    band = (
        pl.when(latitude.abs() < 23.5)
        .then(pl.lit("tropical"))
        .when(latitude.abs() < 35)
        .then(pl.lit("subtropical"))
        .when(latitude.abs() < 55)
        .then(pl.lit("temperate"))
        .when(latitude.abs() < 66.5)
        .then(pl.lit("subpolar"))
        .otherwise(pl.lit("polar"))
    )
    zone = pl.concat_str([band, hemisphere], separator=" ")
    return pl.when(band == "tropical").then(band).otherwise(zone)


def generate_cities(count: int, seed: int = 7) -> pl.DataFrame:
    """`count` cities with ids 1..count, names, coordinates where people live, and a region."""
    rng = np.random.default_rng(seed)
    # Most people live between 10 S and 60 N; some cities far south, a few near the poles.
    band = rng.choice(3, size=count, p=[0.78, 0.18, 0.04])
    latitude = np.where(
        band == 0,
        rng.uniform(10, 60, count),
        np.where(band == 1, rng.uniform(-45, 10, count), rng.uniform(60, 71, count)),
    )
    names = [
        (rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES) + rng.choice(_SUFFIXES)).capitalize()
        for _ in range(count)
    ]
    return pl.DataFrame(
        {
            "city_id": np.arange(1, count + 1, dtype=np.int32),
            # The id keeps names unique: many real cities share a name too.
            "city_name": [f"{name} {i}" for i, name in enumerate(names, start=1)],
            "latitude": np.round(latitude, 4),
            "longitude": np.round(rng.uniform(-180, 180, count), 4),
        }
    ).with_columns(region=climate_region(pl.col("latitude")))


def _readings_for(cities: pl.DataFrame, day: dt.date, rng: np.random.Generator) -> pl.DataFrame:
    """Minute readings for a block of cities, with gaps; no defects."""
    n = cities.height
    lat = cities["latitude"].to_numpy()[:, None]
    lon = cities["longitude"].to_numpy()[:, None]
    minute = np.arange(MINUTES_PER_DAY)[None, :]

    # Season: warmest around 20 July in the north, 20 January in the south.
    day_of_year = day.timetuple().tm_yday
    season = np.cos(2 * np.pi * (day_of_year - 201) / 365.25) * np.sign(lat)
    annual_mean = 28.0 - 0.55 * np.clip(np.abs(lat) - 12.0, 0, None) + rng.normal(0, 2.5, (n, 1))
    seasonal_swing = 0.3 * np.abs(lat)
    weather_today = rng.normal(0, 3.0, (n, 1))  # this day's anomaly for the city
    # Dry places swing more.
    daily_range = rng.uniform(3, 8, (n, 1)) + 4 * (rng.random((n, 1)) < 0.15)

    # Local solar time in hours; coolest near 05:00, warmest near 15:00.
    solar_hour = (minute / 60.0 + lon / 15.0) % 24.0
    diurnal = -np.cos(2 * np.pi * (solar_hour - 3.0) / 24.0)
    temperature = (
        annual_mean
        + seasonal_swing * season
        + weather_today
        + daily_range * diurnal
        + rng.normal(0, 0.15, (n, MINUTES_PER_DAY))
    )
    tropical = np.abs(lat) < 23.5
    base_humidity = np.where(tropical, rng.uniform(55, 85, (n, 1)), rng.uniform(35, 80, (n, 1)))
    arid = rng.random((n, 1)) < 0.08
    base_humidity = np.where(arid, rng.uniform(8, 25, (n, 1)), base_humidity)
    humidity = np.clip(
        base_humidity
        - 12.0 * diurnal * (base_humidity / 60.0)
        + rng.normal(0, 1.0, (n, MINUTES_PER_DAY)),
        1.0,
        100.0,
    )

    present = rng.random((n, MINUTES_PER_DAY)) >= 0.003
    for row in np.flatnonzero(rng.random(n) < 0.02):  # a sensor outage in 2 % of cities
        start = rng.integers(0, MINUTES_PER_DAY - 120)
        present[row, start : start + rng.integers(10, 120)] = False

    start_us = (day - dt.date(1970, 1, 1)).days * 86_400 * 1_000_000
    city_ids = np.broadcast_to(cities["city_id"].to_numpy()[:, None], (n, MINUTES_PER_DAY))
    times = np.broadcast_to(start_us + minute.astype(np.int64) * 60_000_000, (n, MINUTES_PER_DAY))
    return pl.DataFrame(
        {
            "city_id": city_ids[present],
            "reading_at": pl.Series(times[present]).cast(pl.Datetime("us")),
            "temperature_c": np.round(temperature[present], 2),
            "relative_humidity": np.round(humidity[present], 1),
        },
        schema=READINGS_SCHEMA,
    )


def _with_defects(
    readings: pl.DataFrame, rng: np.random.Generator, unknown_city: int
) -> pl.DataFrame:
    """A few readings broken the ways a real feed breaks (about 0.01 % of rows each)."""
    count = max(1, readings.height // 10_000)

    def pick() -> pl.DataFrame:
        return readings[rng.choice(readings.height, size=count, replace=False).tolist()]

    broken = [
        pick().with_columns(city_id=pl.lit(unknown_city, pl.Int32)),
        pick().with_columns(city_id=pl.lit(None, pl.Int32)),
        pick().with_columns(temperature_c=pl.lit(None, pl.Float64)),
        pick().with_columns(temperature_c=pl.lit(999.9)),  # a sensor's error code
        pick().with_columns(relative_humidity=pl.lit(104.0)),
        pick().with_columns(relative_humidity=pl.lit(-3.0)),
        pick().with_columns(relative_humidity=pl.lit(None, pl.Float64)),
        # The same minute sent twice with a different value: which one is right is unknown.
        pick().with_columns(temperature_c=pl.col("temperature_c") + 0.5),
    ]
    # Defects replace good readings (except the duplicates, which are extra rows).
    replaced = pl.concat(broken[:-1])
    kept = readings.join(
        replaced.select("city_id", "reading_at").drop_nulls(),
        on=["city_id", "reading_at"],
        how="anti",
    )
    return pl.concat([kept, *broken]).sort(["city_id", "reading_at"], nulls_last=True)


def write_sample_day(
    storage: ObjectStorage,
    day: str,
    cities: int = FULL_SCALE_CITIES,
    seed: int = 7,
    defects: bool = True,
) -> SampleDay:
    """Generate `day` for `cities` cities and write it under weather-readings/<day>/."""
    date = dt.date.fromisoformat(day)
    city_table = generate_cities(cities, seed=seed)
    rng = np.random.default_rng([seed, date.toordinal()])
    for stale in storage.list_keys(readings_prefix(day)):
        storage.delete(stale)
    keys, rows = [], 0
    with storage.staging_file(cities_key(day)) as path:
        city_table.write_parquet(path)
        storage.upload_file(path, cities_key(day))
    keys.append(cities_key(day))
    starts = list(range(0, cities, CITIES_PER_FILE))
    unknown: list[pl.DataFrame] = []
    for part, start in enumerate(starts):
        block = city_table.slice(start, CITIES_PER_FILE)
        readings = _readings_for(block, date, rng)
        if defects:
            unknown_city = cities + 1_000 + part
            readings = _with_defects(readings, rng, unknown_city=unknown_city)
            # Unknown ids are above every known one: they go to the last file, so the day
            # stays sorted by (city, time) across files, as the feed delivers it (rows
            # without a city come last in each file).
            unknown.append(readings.filter(pl.col("city_id") == unknown_city))
            readings = readings.filter(pl.col("city_id").ne_missing(unknown_city))
            if part == len(starts) - 1:
                readings = pl.concat([readings, *unknown]).sort(
                    ["city_id", "reading_at"], nulls_last=True
                )
        key = f"{readings_prefix(day)}readings-{part:03d}.parquet"
        with storage.staging_file(key) as path:
            readings.write_parquet(path, row_group_size=256 * 1024)
            storage.upload_file(path, key)
        keys.append(key)
        rows += readings.height
    return SampleDay(day=day, cities=cities, rows=rows, keys=keys)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="the day (YYYY-MM-DD)")
    parser.add_argument(
        "--cities", type=int, default=500, help=f"default 500; full scale {FULL_SCALE_CITIES:,}"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from resources import build_storage

    storage = build_storage()
    sample = write_sample_day(storage, args.date, cities=args.cities, seed=args.seed)
    print(
        f"{sample.rows:,} readings of {sample.cities:,} cities for {sample.day} "
        f"under {storage.uri(readings_prefix(sample.day))}"
    )


if __name__ == "__main__":
    main()
