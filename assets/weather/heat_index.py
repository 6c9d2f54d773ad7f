"""The NWS heat index as Polars expressions: pure, vectorized, no I/O.

Source: NWS Weather Prediction Center, "The Heat Index Equation"
(https://www.wpc.ncep.noaa.gov/html/heatindex_equation.shtml). Inputs are degrees
Fahrenheit and relative humidity in percent; the result is degrees Fahrenheit.

1. The simple (Steadman) value, already averaged with the temperature as the NWS
   writes it: ``simple = 0.5 * (T + 61 + (T - 68) * 1.2 + RH * 0.094)``.
2. If ``simple >= 80`` the Rothfusz regression replaces it, followed by
   - the low-humidity adjustment, subtracted when RH < 13 and 80 <= T <= 112:
     ``((13 - RH) / 4) * sqrt((17 - |T - 95|) / 17)``;
   - the high-humidity adjustment, added when RH > 85 and 80 <= T <= 87:
     ``((RH - 85) / 10) * ((87 - T) / 5)``.

Where the NWS text is ambiguous, this module takes these sides (the reference
implementation in tests/weather/reference_heat_index.py takes the same ones):
- "The simple formula ... averaged with the temperature": the formula as printed
  already contains the average (0.5 * (T + Steadman)); it is not averaged a second time.
- The switch compares that averaged value with 80 F inclusively (``>= 80``), and the
  value below 80 is the simple value itself, not the Rothfusz one.
- "between 80 and 112" / "between 80 and 87" are inclusive of both ends; "RH < 13" and
  "RH > 85" are strict, as written. Adjustments apply only on the Rothfusz branch.
- No rounding: the NWS chart rounds to whole degrees, this returns full precision.
- No clipping of the Rothfusz value: it is published for roughly 80-112 F and 40-100 %;
  outside that it is an extrapolation (and at low humidity it can fall below T, which
  is why the sanity check only demands HI >= T where RH >= 40 %).
- Null in, null out (Polars propagates nulls); callers quarantine such rows first.

Risk categories (NWS): caution [80, 90), extreme caution [90, 103), danger [103, 125),
extreme danger >= 125. The NWS prints "103-124" and "125 or higher"; values between 124
and 125 are taken as danger. Below 80 F the category is null (no heat risk).
"""

from __future__ import annotations

import polars as pl

IntoExpr = pl.Expr | str

HEAT_RISKS = ["caution", "extreme caution", "danger", "extreme danger"]
HeatRisk = pl.Enum(HEAT_RISKS)

# The lower bound of each category, in F.
RISK_THRESHOLDS = {
    "caution": 80.0,
    "extreme caution": 90.0,
    "danger": 103.0,
    "extreme danger": 125.0,
}


def _expr(value: IntoExpr) -> pl.Expr:
    return pl.col(value) if isinstance(value, str) else value


def celsius_to_fahrenheit(celsius: IntoExpr) -> pl.Expr:
    """Degrees Celsius to degrees Fahrenheit."""
    return _expr(celsius) * 1.8 + 32.0


def simple_heat_index_f(temperature_f: IntoExpr, relative_humidity: IntoExpr) -> pl.Expr:
    """Steadman's simple formula, averaged with T as the NWS prints it."""
    t, rh = _expr(temperature_f), _expr(relative_humidity)
    return 0.5 * (t + 61.0 + (t - 68.0) * 1.2 + rh * 0.094)


def rothfusz_heat_index_f(temperature_f: IntoExpr, relative_humidity: IntoExpr) -> pl.Expr:
    """The Rothfusz regression, without adjustments.

    The NWS polynomial, with its terms grouped by power (Horner-style): 12 multiplications
    instead of 24. Same value to within a few ulps (the tests hold it to 1e-9 F).
    """
    t, rh = _expr(temperature_f), _expr(relative_humidity)
    return (
        -42.379
        + t * (2.04901523 - 0.00683783 * t)
        + rh * (10.14333127 - 0.05481717 * rh)
        + t * rh * (-0.22475541 + 0.00122874 * t + 0.00085282 * rh - 0.00000199 * t * rh)
    )


def heat_index_f(temperature_f: IntoExpr, relative_humidity: IntoExpr) -> pl.Expr:
    """The NWS heat index in F from temperature in F and relative humidity in percent."""
    t, rh = _expr(temperature_f), _expr(relative_humidity)
    simple = simple_heat_index_f(t, rh)
    rothfusz = rothfusz_heat_index_f(t, rh)
    # clip(0): outside the adjustment's T range the root's argument goes negative; the
    # value is discarded there, but sqrt of a negative would still compute a NaN.
    low_humidity = ((13.0 - rh) / 4.0) * (
        (17.0 - (t - 95.0).abs()).clip(lower_bound=0) / 17.0
    ).sqrt()
    high_humidity = ((rh - 85.0) / 10.0) * ((87.0 - t) / 5.0)
    adjusted = (
        pl.when((rh < 13.0) & t.is_between(80.0, 112.0))
        .then(rothfusz - low_humidity)
        .when((rh > 85.0) & t.is_between(80.0, 87.0))
        .then(rothfusz + high_humidity)
        .otherwise(rothfusz)
    )
    return pl.when(simple >= 80.0).then(adjusted).otherwise(simple)


_RISK_VALUES = pl.Series("heat_risk", HEAT_RISKS, dtype=HeatRisk)


def heat_risk(heat_index: IntoExpr) -> pl.Expr:
    """The NWS risk category of a heat index in F; null below 80 F and for a null heat index."""
    hi = _expr(heat_index)
    # A category index, then a gather from the four Enum values: several times cheaper than
    # a when/then chain over string literals cast to the Enum.
    index = (
        pl.when(hi >= RISK_THRESHOLDS["extreme danger"])
        .then(3)
        .when(hi >= RISK_THRESHOLDS["danger"])
        .then(2)
        .when(hi >= RISK_THRESHOLDS["extreme caution"])
        .then(1)
        .when(hi >= RISK_THRESHOLDS["caution"])
        .then(0)
        .cast(pl.UInt32)
    )
    return pl.lit(_RISK_VALUES).gather(index)
