"""Heat-index trends, the hottest cities and the regions at risk, from the weather marts.

`city_day_heat_index` (per city and day: peak, mean, minutes per NWS risk category) and
`heat_risk_by_region` (the same per climate region and day) are read with
`assets.catalog.load`; the city registry names the cities the marts know by id.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.axes import Axes
from matplotlib.dates import DateFormatter

from assets.weather.heat_index import HEAT_RISKS, RISK_THRESHOLDS

# The marts' minute columns, one per NWS category ("extreme caution" -> extreme_caution_minutes).
RISK_MINUTES = {risk: risk.replace(" ", "_") + "_minutes" for risk in HEAT_RISKS}
# The NWS heat index chart's colours, yellow (caution) to dark red (extreme danger).
RISK_COLOURS = {
    "caution": "#ffe14d",
    "extreme caution": "#ffa600",
    "danger": "#e8491d",
    "extreme danger": "#a50f15",
}
BELOW_CAUTION = "below caution"  # under 80 F: no heat risk
NO_RISK_COLOUR = "#c9d6df"
# The registry of the cities (id, name, region) that `weather_readings` loads every day.
CITY_REGISTRY = "raw.weather_cities"


def risk_of(heat_index_f: float) -> str:
    """The NWS category of a heat index in F, `below caution` under 80 F."""
    reached = [risk for risk in HEAT_RISKS if heat_index_f >= RISK_THRESHOLDS[risk]]
    return reached[-1] if reached else BELOW_CAUTION


def risk_colour(heat_index_f: float) -> str:
    risk = risk_of(heat_index_f)
    return RISK_COLOURS.get(risk, NO_RISK_COLOUR)


def city_registry() -> pl.DataFrame:
    """city_id, city_name, region of every city, as the latest day's registry names it (read
    from the warehouse's reader side, like `assets.catalog`)."""
    # Imported here: the platform's resources bring dbt and the AWS clients (seconds to
    # import), and only the registry needs them.
    from resources import build_warehouse

    warehouse = build_warehouse()
    registry = warehouse.read(
        f"select city_id, city_name, region, reading_date from {warehouse.relation(CITY_REGISTRY)}"
    )
    return (
        registry.sort(["city_id", "reading_date"], descending=[False, True])
        .unique("city_id", keep="first", maintain_order=True)
        .select(pl.col("city_id").cast(pl.Int32), "city_name", "region")
    )


def with_cities(frame: pl.DataFrame, registry: pl.DataFrame) -> pl.DataFrame:
    """`frame` (with a city_id) with each city's name and region; a city the registry does
    not know is an error, not a row dropped or left unnamed."""
    named = frame.join(
        registry.select("city_id", "city_name", "region"),
        on=pl.col("city_id").cast(pl.Int32),
        how="left",
        maintain_order="left",
    )
    unknown = named.filter(pl.col("city_name").is_null())["city_id"].unique().sort()
    if not unknown.is_empty():
        raise ValueError(
            f"cities {unknown.head(10).to_list()} ({unknown.len()} in all) are not in the city "
            f"registry {CITY_REGISTRY} ({registry.height} cities)"
        )
    return named


def risk_shares_by_day(city_days: pl.DataFrame) -> pl.DataFrame:
    """Per day: the city-minutes read and the share of them in each risk category (the rest
    were below caution), and `at_risk`, their sum.

    Columns: reading_date, city_minutes, one share column per category, at_risk; by day.
    """
    minutes = [
        pl.col(column).cast(pl.Int64).sum().alias(risk) for risk, column in RISK_MINUTES.items()
    ]
    per_day = city_days.group_by("reading_date").agg(
        pl.col("readings_count").cast(pl.Int64).sum().alias("city_minutes"), *minutes
    )
    return (
        per_day.with_columns(pl.col(risk) / pl.col("city_minutes") for risk in HEAT_RISKS)
        .with_columns(at_risk=pl.sum_horizontal(HEAT_RISKS))
        .sort("reading_date")
    )


def hottest_cities(city_days: pl.DataFrame, n: int) -> pl.DataFrame:
    """The `n` cities with the highest peak heat index over all days (ties: by city_id).

    Columns: city_id, peak_heat_index_f, peak_date (the first day it was reached),
    mean_heat_index_f (mean of the daily means), danger_minutes_total (danger and above).
    """
    danger = [RISK_MINUTES["danger"], RISK_MINUTES["extreme danger"]]
    return (
        city_days.with_columns(pl.col("max_heat_index_f").cast(pl.Float64))
        .sort("reading_date")
        .group_by("city_id")
        .agg(
            peak_heat_index_f=pl.col("max_heat_index_f").max(),
            peak_date=pl.col("reading_date")
            .filter(pl.col("max_heat_index_f") == pl.col("max_heat_index_f").max())
            .first(),
            mean_heat_index_f=pl.col("mean_heat_index_f").mean(),
            danger_minutes_total=pl.sum_horizontal(pl.col(danger).cast(pl.Int64)).sum(),
        )
        .sort(["peak_heat_index_f", "city_id"], descending=[True, False])
        .head(n)
    )


def region_risk_hours(by_region: pl.DataFrame) -> pl.DataFrame:
    """Per region over all days: city-hours in each risk category, their sum `at_risk_hours`,
    and `danger_city_days` (cities that reached danger, summed over days); most at risk first,
    a region never at risk listed too.
    """
    hours = [
        (pl.col(column).cast(pl.Int64).sum() / 60).alias(risk)
        for risk, column in RISK_MINUTES.items()
    ]
    return (
        by_region.group_by("region")
        .agg(*hours, danger_city_days=pl.col("cities_in_danger_count").cast(pl.Int64).sum())
        .with_columns(at_risk_hours=pl.sum_horizontal(HEAT_RISKS))
        .sort(["at_risk_hours", "region"], descending=[True, False])
    )


def day_curve(readings: pl.DataFrame, title: str) -> Axes:
    """One city's day minute by minute: the heat index, its rolling mean and the air
    temperature, over the NWS category thresholds (lines labelled at the right edge)."""
    if readings["city_id"].n_unique() != 1 or readings["reading_date"].n_unique() != 1:
        raise ValueError(
            f"day_curve draws one city's day; got {readings['city_id'].n_unique()} cities "
            f"and {readings['reading_date'].n_unique()} days"
        )
    day = readings.sort("reading_at")
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(day["reading_at"], day["heat_index_f"], color="#a50f15", lw=0.8, label="heat index")
    ax.plot(
        day["reading_at"],
        day["heat_index_rolling_mean_f"],
        color="black",
        lw=1.5,
        label="heat index, rolling mean",
    )
    ax.plot(day["reading_at"], day["temperature_f"], color="#1f77b4", lw=1, label="temperature")
    for risk in HEAT_RISKS:
        threshold = RISK_THRESHOLDS[risk]
        if threshold <= day["heat_index_f"].max() + 10:
            ax.axhline(threshold, color=RISK_COLOURS[risk], lw=1, ls="--")
            ax.annotate(
                f"{risk} ({threshold:.0f} F)",
                (1.0, threshold),
                xycoords=("axes fraction", "data"),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    ax.set_ylabel("F")
    ax.set_xlabel("time of day (UTC)")
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=3, fontsize=8)
    fig.tight_layout()
    return ax
