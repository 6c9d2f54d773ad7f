"""The NWS heat index written the textbook way: one reading at a time, plain Python.

Follows https://www.wpc.ncep.noaa.gov/html/heatindex_equation.shtml line by line and
takes the same sides on its ambiguities as assets/weather/heat_index.py (see there).
"""

import math


def heat_index_f(t: float, rh: float) -> float:
    hi = 0.5 * (t + 61.0 + ((t - 68.0) * 1.2) + (rh * 0.094))
    if hi < 80.0:
        return hi
    hi = (
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
    if rh < 13.0 and 80.0 <= t <= 112.0:
        hi -= ((13.0 - rh) / 4.0) * math.sqrt((17.0 - abs(t - 95.0)) / 17.0)
    elif rh > 85.0 and 80.0 <= t <= 87.0:
        hi += ((rh - 85.0) / 10.0) * ((87.0 - t) / 5.0)
    return hi


def heat_risk(hi: float) -> str | None:
    if hi >= 125.0:
        return "extreme danger"
    if hi >= 103.0:
        return "danger"
    if hi >= 90.0:
        return "extreme caution"
    if hi >= 80.0:
        return "caution"
    return None


def rolling_mean(times: list, values: list[float], window_seconds: float) -> list[float]:
    """Mean of the values in (t - window, t] for each t; times sorted ascending."""
    out = []
    for i, now in enumerate(times):
        inside = [
            v
            for t, v in zip(times[: i + 1], values[: i + 1], strict=False)
            if (now - t).total_seconds() < window_seconds
        ]
        out.append(sum(inside) / len(inside))
    return out
