"""The heat index the way a careful pandas user writes it: numpy formula with np.where,
then a time-based rolling mean per city through groupby().rolling().

Same work as the polars path (`with_heat_index`): the same formula and branches, the same
risk bands, the same 60-minute trailing window per city; it checks whether the readings
are already sorted by (city, time) and sorts only if they are not, as the polars path does.
`heat_index_formula_pandas` is the formula and the risk alone, for the formula-only row.
"""

import numpy as np
import pandas as pd

RISK_LABELS = ["caution", "extreme caution", "danger", "extreme danger"]


def read_readings_pandas(paths: list[str]) -> pd.DataFrame:
    """The readings files with pandas' own reader, rows with a missing value dropped."""
    readings = pd.read_parquet(paths).dropna()
    # Nulls made the city id float on read; back to its integer type once they are gone.
    return readings.astype({"city_id": "int32"})


def is_sorted_by_city_and_time(readings: pd.DataFrame) -> bool:
    city = readings["city_id"].to_numpy()
    at = readings["reading_at"].to_numpy()
    if len(city) < 2:
        return True
    dc = np.diff(city)
    return bool((dc >= 0).all() and ((dc != 0) | (np.diff(at) >= np.timedelta64(0))).all())


def heat_index_formula_pandas(readings: pd.DataFrame) -> pd.DataFrame:
    """Fahrenheit, the NWS heat index with every branch, and the risk category."""
    t = readings["temperature_c"].to_numpy() * 1.8 + 32.0
    rh = readings["relative_humidity"].to_numpy()
    simple = 0.5 * (t + 61.0 + (t - 68.0) * 1.2 + rh * 0.094)
    rothfusz = (
        -42.379
        + 2.04901523 * t
        + 10.14333127 * rh
        - 0.22475541 * t * rh
        - 0.00683783 * t * t
        - 0.05481717 * rh * rh
        + 0.00122874 * t * t * rh
        + 0.00085282 * t * rh * rh
        - 0.00000199 * t * t * rh * rh
    )
    low = (rh < 13) & (t >= 80) & (t <= 112)
    high = (rh > 85) & (t >= 80) & (t <= 87)
    with np.errstate(invalid="ignore"):
        low_adjustment = (13 - rh) / 4 * np.sqrt((17 - np.abs(t - 95)) / 17)
    rothfusz = np.where(low, rothfusz - low_adjustment, rothfusz)
    rothfusz = np.where(high, rothfusz + (rh - 85) / 10 * (87 - t) / 5, rothfusz)
    hi = np.where(simple >= 80, rothfusz, simple)
    out = pd.DataFrame(
        {
            "city_id": readings["city_id"].to_numpy(),
            "reading_at": readings["reading_at"].to_numpy(),
            "temperature_f": t,
            "relative_humidity": rh,
            "heat_index_f": hi,
        }
    )
    out["heat_risk"] = pd.cut(hi, [80, 90, 103, 125, np.inf], right=False, labels=RISK_LABELS)
    return out


def heat_index_pandas(readings: pd.DataFrame, window: str = "60min") -> pd.DataFrame:
    """The formula, then the trailing `window` mean of the heat index per city."""
    if not is_sorted_by_city_and_time(readings):
        readings = readings.sort_values(["city_id", "reading_at"], kind="stable", ignore_index=True)
    out = heat_index_formula_pandas(readings)
    by_city = out.set_index("reading_at").groupby("city_id", sort=False)["heat_index_f"]
    out["heat_index_rolling_mean_f"] = by_city.rolling(window).mean().to_numpy()
    return out
