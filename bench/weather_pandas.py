"""The heat index the way a careful pandas user writes it: numpy formula with np.where,
then a time-based rolling mean per city through groupby().rolling()."""

import numpy as np
import pandas as pd


def heat_index_pandas(readings: pd.DataFrame, window: str = "60min") -> pd.DataFrame:
    t = readings["temperature_c"].to_numpy() * 1.8 + 32.0
    rh = readings["relative_humidity"].to_numpy()
    simple = 0.5 * (t + 61.0 + (t - 68.0) * 1.2 + rh * 0.094)
    rothfusz = (
        -42.379 + 2.04901523 * t + 10.14333127 * rh - 0.22475541 * t * rh - 0.00683783 * t * t
        - 0.05481717 * rh * rh + 0.00122874 * t * t * rh + 0.00085282 * t * rh * rh
        - 0.00000199 * t * t * rh * rh
    )
    low = (rh < 13) & (t >= 80) & (t <= 112)
    high = (rh > 85) & (t >= 80) & (t <= 87)
    with np.errstate(invalid="ignore"):
        rothfusz = np.where(low, rothfusz - (13 - rh) / 4 * np.sqrt((17 - np.abs(t - 95)) / 17), rothfusz)
    rothfusz = np.where(high, rothfusz + (rh - 85) / 10 * (87 - t) / 5, rothfusz)
    hi = np.where(simple >= 80, rothfusz, simple)
    out = pd.DataFrame(
        {"city_id": readings["city_id"].to_numpy(), "reading_at": readings["reading_at"].to_numpy(),
         "temperature_f": t, "relative_humidity": rh, "heat_index_f": hi}
    )
    out["heat_risk"] = pd.cut(hi, [80, 90, 103, 125, np.inf], right=False,
                              labels=["caution", "extreme caution", "danger", "extreme danger"])
    out = out.sort_values(["city_id", "reading_at"], kind="stable", ignore_index=True)
    rolled = out.set_index("reading_at").groupby("city_id", sort=False)["heat_index_f"].rolling(window).mean()
    out["heat_index_rolling_mean_f"] = rolled.to_numpy()
    return out
