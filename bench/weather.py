"""Weather benchmark: a full day (15,000 cities x 1,440 minutes) through the heat index.

Every row of a table does the same work, so the ratios compare like with like. Two tables:
- "formula": Fahrenheit, the NWS heat index with every branch, the risk category;
- "formula + rolling mean": the same, plus the 60-minute time-based rolling mean of the
  heat index per city, with a check that the readings are sorted by (city, time) (sorting
  only if they are not): what `with_heat_index` does.
Each table times three implementations of that work:
- polars: the expressions the asset uses (`with_heat_index`, or its columns without the
  rolling mean);
- pandas: as a careful pandas user writes it (bench/weather_pandas.py): numpy + np.where,
  pd.cut, groupby().rolling("60min");
- row by row: plain Python, one reading at a time, with the textbook formula
  (tests/weather/reference_heat_index.py) and, for the rolling mean, a running sum over a
  deque per city (linear, not the O(n^2) textbook loop); on a 200,000-row sample of whole
  cities, extrapolated to the day, and checked against polars on that sample.
Then "partition": the whole asset path for one day from the readings files (validate,
quarantine, enrich, stage Parquet block by block, publish: `stage_heat_index_day`); it
does more than any row of the tables, so it has no ratio.

Timing follows the project standard (ratios against a baseline run in the same process):
the day is generated once and loaded once into memory, as a polars frame, a pandas frame
and Python rows for the sample (none of the loads or conversions is timed); rounds
alternate the variants, best of 3 each.

Peak memory is measured apart, one subprocess per variant of the second table and the
partition (the only way to get each its own peak): read the day the variant's own way,
then compute; "peak/input" divides the peak RSS by that variant's in-memory input (the
day's readings; for partition the sum of its blocks, whose target is <= 2x).

    python -m bench.weather              # full scale
    python -m bench.weather --cities 200
"""

import argparse
import datetime as dt
import gc
import glob
import json
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

DAY = "2026-07-15"
ROLLING_WINDOW_S = 3_600  # the asset's default window, 60m
REFERENCE_SAMPLE = 200_000
IMPLEMENTATIONS = ["polars", "pandas", "row_by_row"]
TABLES = {"formula": "formula", "rolling": "formula + rolling mean"}
MEMORY_VARIANTS = ["polars", "pandas", "row_by_row", "partition"]


def _files(root: str) -> list[str]:
    return sorted(glob.glob(f"{root}/weather-readings/{DAY}/readings-*.parquet"))


# --- the implementations ----------------------------------------------------------------


def polars_formula(readings, day: dt.date):
    """`with_heat_index`'s columns without the rolling mean (and without its sort check)."""
    import polars as pl

    from assets.weather.heat_index import celsius_to_fahrenheit, heat_index_f, heat_risk

    return (
        readings.lazy()
        .select(
            pl.lit(day, pl.Date).alias("reading_date"),
            "city_id",
            "reading_at",
            celsius_to_fahrenheit("temperature_c").alias("temperature_f"),
            "relative_humidity",
        )
        .with_columns(heat_index_f("temperature_f", "relative_humidity").alias("heat_index_f"))
        .with_columns(heat_risk("heat_index_f").alias("heat_risk"))
        .collect()
    )


def polars_rolling(readings, day: dt.date):
    from assets.weather.enrich import with_heat_index
    from assets.weather.quarantine import _sorted

    return with_heat_index(_sorted(readings), day)


def row_by_row_formula(rows: list[tuple]) -> list[tuple]:
    """(heat index, risk) per reading; rows are (city_id, reading_at, temperature_c, rh)."""
    from tests.weather.reference_heat_index import heat_index_f, heat_risk

    out = []
    for _city, _at, temperature_c, rh in rows:
        hi = heat_index_f(temperature_c * 1.8 + 32.0, rh)
        out.append((hi, heat_risk(hi)))
    return out


def row_by_row_rolling(rows: list[tuple], window_s: float = ROLLING_WINDOW_S) -> list[tuple]:
    """(heat index, risk, mean heat index over (t - window, t] of the city) per reading.

    Readings of the same city and time (the feed's duplicates) share one window that holds
    them all, as in polars' `rolling_mean_by`."""
    from tests.weather.reference_heat_index import heat_index_f, heat_risk

    window = dt.timedelta(seconds=window_s)
    out, inside, total, previous = [], deque(), 0.0, None
    i, n = 0, len(rows)
    while i < n:
        city, at = rows[i][0], rows[i][1]
        if previous is not None and (city, at) < previous:
            raise ValueError("readings must be sorted by city and time")
        if previous is None or city != previous[0]:
            inside.clear()
            total = 0.0
        previous = (city, at)
        same_minute = []
        while i < n and rows[i][0] == city and rows[i][1] == at:
            hi = heat_index_f(rows[i][2] * 1.8 + 32.0, rows[i][3])
            same_minute.append(hi)
            inside.append((at, hi))
            total += hi
            i += 1
        while at - inside[0][0] >= window:
            total -= inside.popleft()[1]
        mean = total / len(inside)
        out.extend((hi, heat_risk(hi), mean) for hi in same_minute)
    return out


def _partition(storage) -> object:
    from assets.weather.enrich import stage_heat_index_day

    with stage_heat_index_day(storage, DAY) as staged:
        staged.publish(storage)
    return staged.report


# --- memory, one subprocess per variant ---------------------------------------------------


def _memory(name: str, root: str) -> dict:
    """One variant's peak RSS, in a process of its own (run with --memory)."""
    import polars as pl

    from assets.weather.memory import PeakRss
    from bench.weather_pandas import heat_index_pandas, read_readings_pandas
    from resources.object_storage import LocalObjectStorage

    files = _files(root)
    with PeakRss() as peak:
        if name == "polars":
            readings = pl.read_parquet(files).drop_nulls()
            input_mb = readings.estimated_size("mb")
            out = polars_rolling(readings, dt.date.fromisoformat(DAY))
        elif name == "pandas":
            readings = read_readings_pandas(files)
            input_mb = readings.memory_usage(deep=True).sum() / 2**20
            out = heat_index_pandas(readings)
        elif name == "row_by_row":  # the whole day in memory, then plain Python over the sample
            readings = pl.read_parquet(files).drop_nulls()
            input_mb = readings.estimated_size("mb")
            out = row_by_row_rolling(readings.head(REFERENCE_SAMPLE).rows())
        else:
            out = _partition(LocalObjectStorage(root=root))
            input_mb = out.input_mb
    return {"peak_rss_mb": peak.mib, "start_rss_mb": peak.start_bytes / 2**20, "input_mb": input_mb}


# --- the run ------------------------------------------------------------------------------


def _sample_agrees_with_polars(readings, sample_rows: list[tuple], day: dt.date) -> float:
    """Largest difference between row by row and polars on the sample (heat index and mean)."""
    import polars as pl

    want = polars_rolling(readings.head(len(sample_rows)), day)
    got = pl.DataFrame(
        row_by_row_rolling(sample_rows),
        schema={"hi": pl.Float64, "risk": pl.String, "mean": pl.Float64},
        orient="row",
    )
    difference = max(
        (want["heat_index_f"] - got["hi"]).abs().max(),
        (want["heat_index_rolling_mean_f"] - got["mean"]).abs().max(),
    )
    risks_agree = (want["heat_risk"].cast(pl.String).eq_missing(got["risk"])).all()
    if difference > 1e-6 or not risks_agree:
        raise AssertionError(f"row by row disagrees with polars on the sample: {difference}")
    return difference


def _time_variants(readings, readings_pd, sample_rows, storage, date, repeat):
    """Seconds per (table, implementation) for each round, variants alternating."""
    from bench.weather_pandas import heat_index_formula_pandas, heat_index_pandas

    rows = readings.height
    scale = rows / len(sample_rows)
    variants = {
        ("formula", "polars"): (lambda: polars_formula(readings, date), 1.0),
        ("formula", "pandas"): (lambda: heat_index_formula_pandas(readings_pd), 1.0),
        ("formula", "row_by_row"): (lambda: row_by_row_formula(sample_rows), scale),
        ("rolling", "polars"): (lambda: polars_rolling(readings, date), 1.0),
        ("rolling", "pandas"): (lambda: heat_index_pandas(readings_pd), 1.0),
        ("rolling", "row_by_row"): (lambda: row_by_row_rolling(sample_rows), scale),
        ("partition", "partition"): (lambda: _partition(storage), 1.0),
    }
    runs: dict[tuple[str, str], list[float]] = {key: [] for key in variants}
    partition_report = None
    for _ in range(repeat):
        for key, (work, factor) in variants.items():
            gc.collect()
            started = time.perf_counter()
            out = work()
            runs[key].append((time.perf_counter() - started) * factor)
            if key == ("partition", "partition"):
                partition_report = out
            elif key[1] != "row_by_row":
                assert len(out) == rows, key
            del out
    return runs, partition_report


def run(full_scale: bool = True, cities: int | None = None, repeat: int = 3) -> dict:
    import polars as pl

    from resources.object_storage import LocalObjectStorage
    from scripts.sample_weather import FULL_SCALE_CITIES, write_sample_day

    cities = cities or (FULL_SCALE_CITIES if full_scale else 1_000)
    date = dt.date.fromisoformat(DAY)
    results: dict = {"cities": cities, "repeat": repeat}
    with tempfile.TemporaryDirectory(prefix="bench-weather-") as root:
        storage = LocalObjectStorage(root=root)
        sample = write_sample_day(storage, DAY, cities=cities)
        results["rows_generated"] = sample.rows

        # --- timing: one process, inputs in memory, variants alternating ------------------
        readings = pl.read_parquet(_files(root)).drop_nulls()
        readings_pd = readings.to_pandas()
        rows = readings.height
        # Whole cities only (the files are sorted by city), so each has its full day.
        sample_readings = readings.head(REFERENCE_SAMPLE)
        last_city = sample_readings["city_id"][-1]
        if sample_readings.height < rows:
            sample_readings = sample_readings.filter(pl.col("city_id") != last_city)
        sample_rows = sample_readings.rows()
        results["rows"] = rows
        results["row_by_row_sample_rows"] = len(sample_rows)
        results["row_by_row_max_difference"] = _sample_agrees_with_polars(
            readings, sample_rows, date
        )
        results["input_mb"] = {
            "polars": readings.estimated_size("mb"),
            "pandas": readings_pd.memory_usage(deep=True).sum() / 2**20,
        }
        runs, partition_report = _time_variants(
            readings, readings_pd, sample_rows, storage, date, repeat
        )
        del readings, readings_pd, sample_readings, sample_rows
        gc.collect()

        # --- memory: one subprocess per variant --------------------------------------------
        memory = {}
        for name in MEMORY_VARIANTS:
            done = subprocess.run(
                [sys.executable, "-m", "bench.weather", "--memory", name, "--root", root],
                check=True,
                capture_output=True,
                text=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
            memory[name] = json.loads(done.stdout.strip().splitlines()[-1])

    for table in TABLES:
        pandas_s = min(runs[(table, "pandas")])
        results[table] = {}
        for name in IMPLEMENTATIONS:
            best = min(runs[(table, name)])
            results[table][name] = {
                "seconds": best,
                "runs": runs[(table, name)],
                "rows_per_second": rows / best,
                "speedup_vs_pandas": pandas_s / best,
            }
    for name in IMPLEMENTATIONS:  # memory is measured on the second table's work
        r = results["rolling"][name]
        r.update(memory[name])
        r["peak_over_input"] = r["peak_rss_mb"] / r["input_mb"]
        r["peak_growth_mb"] = r["peak_rss_mb"] - r["start_rss_mb"]  # above the imports
    best = min(runs[("partition", "partition")])
    part = results["partition"] = {
        "seconds": best,
        "runs": runs[("partition", "partition")],
        "rows_per_second": rows / best,
        **memory["partition"],
        "blocks": partition_report.blocks,
        "rows_valid": partition_report.rows_valid,
        "rows_quarantined": partition_report.rows_quarantined,
        "rows_in": partition_report.rows_in,
    }
    part["peak_over_input"] = part["peak_rss_mb"] / part["input_mb"]
    part["peak_growth_mb"] = part["peak_rss_mb"] - part["start_rss_mb"]
    results["polars_vs_pandas"] = results["rolling"]["polars"]["speedup_vs_pandas"]
    results["polars_vs_pandas_formula"] = results["formula"]["polars"]["speedup_vs_pandas"]
    _print(results, cities, sample.rows)
    return results


def _print(results: dict, cities: int, generated: int) -> None:
    rows, repeat = results["rows"], results["repeat"]
    print(
        f"weather: {rows:,} readings in memory ({cities:,} cities x 1,440 minutes, "
        f"{generated:,} generated); seconds are the best of {repeat} alternating runs in one "
        f"process; row by row on {results['row_by_row_sample_rows']:,} rows of whole cities, "
        f"extrapolated (agrees with polars within {results['row_by_row_max_difference']:.1e})"
    )
    header = f"  {'':10s} {'seconds':>8s} {'rows/s':>12s} {'vs pandas':>10s}"
    memory_header = f" {'peak RSS MB':>12s} {'growth MB':>10s} {'input MB':>9s} {'peak/input':>11s}"
    for table, label in TABLES.items():
        print(f"  {label} (every row does this work):")
        print(header + (memory_header if table == "rolling" else ""))
        for name in IMPLEMENTATIONS:
            r = results[table][name]
            line = (
                f"  {name:10s} {r['seconds']:8.2f} {r['rows_per_second']:12,.0f}"
                f" {r['speedup_vs_pandas']:9.2f}x"
            )
            if table == "rolling":
                line += (
                    f" {r['peak_rss_mb']:12,.0f} {r['peak_growth_mb']:10,.0f}"
                    f" {r['input_mb']:9,.0f} {r['peak_over_input']:10.2f}x"
                )
            print(line)
    part = results["partition"]
    print("  whole asset path from the files (validate + quarantine + enrich + stage + publish):")
    print(
        f"  {'partition':10s} {part['seconds']:8.2f} {part['rows_per_second']:12,.0f}"
        f" {'':>10s} {part['peak_rss_mb']:12,.0f} {part['peak_growth_mb']:10,.0f}"
        f" {part['input_mb']:9,.0f} {part['peak_over_input']:10.2f}x"
        f"  ({part['blocks']} blocks, {part['rows_quarantined']:,} quarantined)"
    )
    runs = "; ".join(
        f"{table}/{name} " + ", ".join(f"{x:.2f}" for x in results[table][name]["runs"])
        for table in TABLES
        for name in IMPLEMENTATIONS
    )
    print(f"  all runs (s): {runs}; partition " + ", ".join(f"{x:.2f}" for x in part["runs"]))
    print(
        f"  targets: polars >= 4x pandas (formula + rolling mean): "
        f"{results['polars_vs_pandas']:.2f}x; partition peak <= 2x input: "
        f"{part['peak_over_input']:.2f}x"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cities", type=int, default=None, help="cities (default 15,000)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="alternating rounds, best taken (default 3)"
    )
    parser.add_argument("--memory", choices=MEMORY_VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory:
        print(json.dumps(_memory(args.memory, args.root)))
    else:
        run(full_scale=True, cities=args.cities, repeat=args.repeat)


if __name__ == "__main__":
    main()
