"""The vectorized heat index agrees with the textbook one, at every branch and on a real day."""

import itertools

import numpy as np
import polars as pl
import pytest

from assets.weather.heat_index import celsius_to_fahrenheit, heat_index_f, heat_risk
from assets.weather.layout import readings_prefix
from tests.helpers import WEATHER_DAY
from tests.weather import reference_heat_index as reference


def fast(temperatures_f, humidities) -> list[float]:
    frame = pl.DataFrame(
        {"t": temperatures_f, "rh": humidities}, schema={"t": pl.Float64, "rh": pl.Float64}
    )
    return frame.lazy().select(heat_index_f("t", "rh")).collect().to_series().to_list()


def simple_average_is_80(rh: float) -> float:
    """The temperature at which 0.5 * (T + 61 + (T - 68) * 1.2 + RH * 0.094) is exactly 80."""
    return (160.0 - 61.0 + 68.0 * 1.2 - rh * 0.094) / 2.2


EPS = 1e-7
BOUNDARY_T = [80.0, 87.0, 95.0, 112.0]
BOUNDARY_RH = [13.0, 85.0]
EDGE_CASES = (
    # The switch to the Rothfusz regression: exactly at, just below and just above 80.
    [
        (simple_average_is_80(rh) + d, rh)
        for rh in (0.0, 13.0, 40.0, 85.0, 100.0)
        for d in (-EPS, 0.0, EPS)
    ]
    # Each adjustment's temperature and humidity bounds, on and either side of them.
    + [
        (t + dt, rh + drh)
        for t, rh in itertools.product(BOUNDARY_T, BOUNDARY_RH)
        for dt, drh in itertools.product((-EPS, 0.0, EPS), repeat=2)
    ]
    + [
        (t, rh)
        for t in (79.9, 80.0, 86.9, 87.0, 87.1, 111.9, 112.0, 112.1)
        for rh in (0.0, 5.0, 12.99, 13.0, 85.0, 85.01, 100.0)
    ]
    + [(-40.0, 50.0), (0.0, 0.0), (140.0, 100.0), (75.0, 100.0)]
)


def test_matches_the_reference_at_every_branch_boundary():
    temperatures, humidities = zip(*EDGE_CASES, strict=False)
    got = fast(list(temperatures), list(humidities))
    for (t, rh), value in zip(EDGE_CASES, got, strict=False):
        assert value == pytest.approx(reference.heat_index_f(t, rh), abs=1e-9, rel=0), (t, rh)


def test_the_switch_at_80_uses_rothfusz_and_below_it_the_simple_value():
    t = 80.0  # at RH 40 the simple average is 79.88: simple branch; at RH 44.26 it reaches 80
    below, at = fast([simple_average_is_80(40.0) - 0.01, simple_average_is_80(40.0)], [40.0, 40.0])
    assert below < 80.0
    assert at == pytest.approx(reference.heat_index_f(simple_average_is_80(40.0), 40.0), abs=1e-9)
    simple = 0.5 * (t + 61 + (t - 68) * 1.2 + 40 * 0.094)
    assert fast([t], [40.0])[0] == pytest.approx(simple, abs=1e-12)


def test_low_humidity_lowers_and_high_humidity_raises_the_regression():
    from assets.weather.heat_index import rothfusz_heat_index_f

    frame = pl.DataFrame({"t": [95.0, 85.0, 95.0], "rh": [5.0, 95.0, 50.0]})
    raw = frame.select(rothfusz_heat_index_f("t", "rh")).to_series().to_list()
    got = fast(frame["t"].to_list(), frame["rh"].to_list())
    assert got[0] == pytest.approx(raw[0] - (13 - 5) / 4 * 1.0, abs=1e-9)  # sqrt((17 - 0) / 17) = 1
    assert got[1] == pytest.approx(raw[1] + (95 - 85) / 10 * (87 - 85) / 5, abs=1e-9)
    assert got[2] == pytest.approx(raw[2], abs=1e-12)


# Cells of the NWS heat index chart (T F, RH %, chart value), outside the high-humidity
# adjustment's range, which the chart does not include.
NWS_CHART = [
    (90, 70, 106),
    (90, 40, 91),
    (90, 60, 100),
    (90, 100, 132),
    (100, 40, 109),
    (100, 55, 124),
    (100, 65, 136),
    (80, 40, 80),
    (80, 80, 84),
    (86, 85, 102),
]


@pytest.mark.parametrize("t, rh, chart", NWS_CHART)
def test_matches_the_nws_chart_when_rounded(t, rh, chart):
    assert round(fast([float(t)], [float(rh)])[0]) == chart


def test_matches_the_reference_on_a_generated_day(storage, sample_day):
    readings = pl.read_parquet(storage.uri(readings_prefix(WEATHER_DAY)) + "/readings-*.parquet")
    sample = (
        readings.drop_nulls()
        .filter(
            pl.col("temperature_c").is_between(-90, 60)
            & pl.col("relative_humidity").is_between(0, 100)
        )
        .sample(20_000, seed=1)
        .with_columns(temperature_f=celsius_to_fahrenheit("temperature_c"))
    )
    got = sample.select(heat_index_f("temperature_f", "relative_humidity")).to_series().to_numpy()
    inputs = sample.select("temperature_f", "relative_humidity").iter_rows()
    want = np.array([reference.heat_index_f(t, rh) for t, rh in inputs])
    assert np.max(np.abs(got - want)) <= 1e-9
    # The day exercises every branch, or the comparison above would prove little.
    t, rh = sample["temperature_f"], sample["relative_humidity"]
    simple = 0.5 * (t + 61 + (t - 68) * 1.2 + rh * 0.094)
    assert (simple < 80).sum() > 0 and (simple >= 80).sum() > 100


def test_celsius_is_converted_explicitly():
    celsius = pl.lit(pl.Series([-40.0, 0.0, 37.0, 100.0]))
    got = pl.select(celsius_to_fahrenheit(celsius)).to_series().to_list()
    assert got == pytest.approx([-40.0, 32.0, 98.6, 212.0], abs=1e-12)


def test_risk_categories_follow_the_nws_bands():
    values = [79.999, 80.0, 89.999, 90.0, 102.999, 103.0, 124.5, 124.999, 125.0, 150.0]
    got = pl.select(heat_risk(pl.lit(pl.Series(values)))).to_series().cast(pl.String).to_list()
    assert got == [reference.heat_risk(v) for v in values]
    assert got == [
        None,
        "caution",
        "caution",
        "extreme caution",
        "extreme caution",
        "danger",
        "danger",
        "danger",
        "extreme danger",
        "extreme danger",
    ]


def test_null_inputs_give_a_null_heat_index():
    assert fast([None, 90.0], [50.0, None]) == [None, None]
