"""Weather benchmark: a full day (15,000 cities x 1,440 minutes) through the heat index.

Timing follows the project standard (ratios against a baseline run in the same process):
the day is generated once and loaded once into memory, as a polars frame and as a pandas
frame (pandas from the polars one; neither load nor conversion is timed). Then, in this one
process, rounds alternate:
- polars: sortedness check (sorts only if needed), heat index with every NWS branch, risk
  category, 60-minute time-based rolling mean per city (`with_heat_index`);
- pandas: the same work as a careful pandas user writes it (bench/weather_pandas.py):
  the same sortedness check, numpy + np.where, pd.cut, groupby().rolling("60min");
- partition: the whole asset path for one day from the readings files (validate,
  quarantine, enrich, stage Parquet block by block, publish: `stage_heat_index_day`);
best of 3 each. The row-by-row reference runs once on a 200,000-row sample, extrapolated.

Peak memory is measured apart, one subprocess per variant (the only way to get each its
own peak): read the day the variant's own way, then compute; "peak/input" divides the peak
RSS by that variant's in-memory input (the day's readings; for partition the sum of its
blocks, whose target is <= 2x).

    python -m bench.weather              # full scale
    python -m bench.weather --cities 2000
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
from pathlib import Path

DAY = "2026-07-15"
VARIANTS = ["polars", "pandas", "partition", "reference"]
REFERENCE_SAMPLE = 200_000


def _files(root: str) -> list[str]:
    return sorted(glob.glob(f"{root}/weather-readings/{DAY}/readings-*.parquet"))


def _partition(storage):
    """The asset's path without the warehouse: stage the day, then publish it."""
    from assets.weather.enrich import stage_heat_index_day

    with stage_heat_index_day(storage, DAY) as staged:
        staged.publish(storage)
    return staged.report


def _memory(name: str, root: str) -> dict:
    """One variant's peak RSS, in a process of its own (run with --memory)."""
    import polars as pl

    from assets.weather.enrich import with_heat_index
    from assets.weather.memory import PeakRss
    from assets.weather.quarantine import _sorted
    from bench.weather_pandas import heat_index_pandas, read_readings_pandas
    from resources.object_storage import LocalObjectStorage
    from tests.weather.reference_heat_index import heat_index_f, heat_risk

    files = _files(root)
    with PeakRss() as peak:
        if name == "polars":
            readings = pl.read_parquet(files).drop_nulls()
            input_mb = readings.estimated_size("mb")
            out = with_heat_index(_sorted(readings), dt.date.fromisoformat(DAY))
        elif name == "pandas":
            readings = read_readings_pandas(files)
            input_mb = readings.memory_usage(deep=True).sum() / 2**20
            out = heat_index_pandas(readings)
        elif name == "reference":  # the whole day in memory, then plain Python over the sample
            readings = pl.read_parquet(files).drop_nulls()
            input_mb = readings.estimated_size("mb")
            sample = readings.head(REFERENCE_SAMPLE)
            out = [heat_risk(heat_index_f(*c)) for c in
                   sample.select(pl.col("temperature_c") * 1.8 + 32, "relative_humidity").iter_rows()]
        else:
            out = _partition(LocalObjectStorage(root=root))
            input_mb = out.input_mb
    return {"peak_rss_mb": peak.mib, "start_rss_mb": peak.start_bytes / 2**20, "input_mb": input_mb}


def _best_of(fn, repeat: int) -> tuple[float, list[float], object]:
    times, out = [], None
    for _ in range(repeat):
        out = None
        gc.collect()
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), times, out


def run(full_scale: bool = True, cities: int | None = None, repeat: int = 3) -> dict:
    import polars as pl

    from assets.weather.enrich import with_heat_index
    from assets.weather.quarantine import _sorted
    from bench.weather_pandas import heat_index_pandas
    from resources.object_storage import LocalObjectStorage
    from scripts.sample_weather import FULL_SCALE_CITIES, write_sample_day
    from tests.weather.reference_heat_index import heat_index_f, heat_risk

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
        results["rows"] = rows
        results["input_mb"] = {"polars": readings.estimated_size("mb"),
                               "pandas": readings_pd.memory_usage(deep=True).sum() / 2**20}
        runs: dict[str, list[float]] = {"polars": [], "pandas": [], "partition": []}
        partition_report = None
        for _ in range(repeat):
            gc.collect()
            started = time.perf_counter()
            out = with_heat_index(_sorted(readings), date)
            runs["polars"].append(time.perf_counter() - started)
            assert out.height == rows
            del out
            gc.collect()
            started = time.perf_counter()
            out = heat_index_pandas(readings_pd)
            runs["pandas"].append(time.perf_counter() - started)
            assert len(out) == rows
            del out
            gc.collect()
            started = time.perf_counter()
            partition_report = _partition(storage)
            runs["partition"].append(time.perf_counter() - started)
        sample_rows = readings.head(REFERENCE_SAMPLE).select(
            pl.col("temperature_c") * 1.8 + 32, "relative_humidity").rows()
        started = time.perf_counter()
        for t, rh in sample_rows:
            heat_risk(heat_index_f(t, rh))
        runs["reference"] = [(time.perf_counter() - started) * rows / len(sample_rows)]
        del readings, readings_pd, sample_rows
        gc.collect()

        # --- memory: one subprocess per variant --------------------------------------------
        memory = {}
        for name in VARIANTS:
            done = subprocess.run(
                [sys.executable, "-m", "bench.weather", "--memory", name, "--root", root],
                check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
            )
            memory[name] = json.loads(done.stdout.strip().splitlines()[-1])

    pandas_s = min(runs["pandas"])
    for name in VARIANTS:
        best = min(runs[name])
        r = {"seconds": best, "runs": runs[name], "rows_per_second": rows / best,
             "speedup_vs_pandas": pandas_s / best, **memory[name]}
        r["peak_over_input"] = r["peak_rss_mb"] / r["input_mb"]
        r["peak_growth_mb"] = r["peak_rss_mb"] - r["start_rss_mb"]  # above the process's imports
        results[name] = r
    results["reference"]["extrapolated_from_rows"] = REFERENCE_SAMPLE
    results["partition"].update(blocks=partition_report.blocks, rows_valid=partition_report.rows_valid,
                                rows_quarantined=partition_report.rows_quarantined,
                                rows_in=partition_report.rows_in)
    results["polars_vs_pandas"] = results["polars"]["speedup_vs_pandas"]

    print(f"weather: {rows:,} readings in memory ({cities:,} cities x 1,440 minutes, {sample.rows:,} generated);"
          f" seconds are the best of {repeat} alternating runs in one process")
    print(f"  {'variant':10s} {'seconds':>8s} {'rows/s':>12s} {'vs pandas':>10s} {'peak RSS MB':>12s}"
          f" {'growth MB':>10s} {'input MB':>9s} {'peak/input':>11s}")
    notes = {"partition": "  (validate + quarantine + enrich + write Parquet, from the files)",
             "reference": f"  (row by row, {REFERENCE_SAMPLE:,}-row sample extrapolated)"}
    for name in VARIANTS:
        r = results[name]
        print(f"  {name:10s} {r['seconds']:8.2f} {r['rows_per_second']:12,.0f} {r['speedup_vs_pandas']:9.2f}x"
              f" {r['peak_rss_mb']:12,.0f} {r['peak_growth_mb']:10,.0f} {r['input_mb']:9,.0f} {r['peak_over_input']:10.2f}x{notes.get(name, '')}")
    print(f"  all runs (s): " + "; ".join(f"{n} " + ", ".join(f"{x:.2f}" for x in runs[n]) for n in VARIANTS))
    part = results["partition"]
    print(f"  targets: polars >= 4x pandas: {results['polars_vs_pandas']:.2f}x;"
          f" partition peak <= 2x input: {part['peak_over_input']:.2f}x ({part['blocks']} blocks,"
          f" {part['rows_quarantined']:,} quarantined)")
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=None, help="cities (default 15,000: full scale)")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds, best taken (default 3)")
    parser.add_argument("--memory", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory:
        print(json.dumps(_memory(args.memory, args.root)))
    else:
        run(full_scale=True, cities=args.cities, repeat=args.repeat)


if __name__ == "__main__":
    main()
