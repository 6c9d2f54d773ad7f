"""Weather benchmark: a full day (15,000 cities x 1,440 minutes) through the heat index.

Variants, each in its own subprocess so its peak RSS is its own:
- polars: read the day's files, drop incomplete rows, sort by (city, time) only if they are
  not already, heat index + risk + 60-minute rolling mean per city (`with_heat_index`);
- pandas: the same work as a careful pandas user writes it (bench/weather_pandas.py):
  pandas' own Parquet reader, the same sortedness check, numpy + np.where, groupby().rolling();
- reference: the row-by-row textbook formula on a 200,000-row sample, extrapolated;
- partition: the whole asset path for one day (validate, quarantine, enrich, write Parquet
  block by block, then DuckDB loads the written parts itself).

"compute" is the work after the read (for partition: validate + enrich + write); "total"
includes reading (for partition: also the warehouse load). Peak RSS is the subprocess's
peak over the variant; "x input" divides it by the day's readings in memory (the target
for a partition is <= 2x).

    python -m bench.weather              # full scale
    python -m bench.weather --cities 2000
"""

import argparse
import datetime as dt
import glob
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY = "2026-07-15"
VARIANTS = ["polars", "pandas", "reference", "partition"]
REFERENCE_SAMPLE = 200_000


def _variant(name: str, root: str) -> dict:
    import polars as pl

    # Imports first (dagster comes with assets.*): the timings are the work, not the imports.
    from assets.weather.enrich import compute_heat_index_day, with_heat_index
    from assets.weather.memory import PeakRss
    from assets.weather.quarantine import _sorted
    from bench.weather_pandas import heat_index_pandas, read_readings_pandas
    from resources.object_storage import LocalObjectStorage
    from resources.warehouse import DuckDBWarehouse
    from tests.weather.reference_heat_index import heat_index_f, heat_risk

    files = sorted(glob.glob(f"{root}/weather-readings/{DAY}/readings-*.parquet"))
    extra = {}
    with PeakRss() as peak:
        started = time.perf_counter()
        if name == "polars":
            readings = pl.read_parquet(files).drop_nulls()
            rows, input_mb = readings.height, readings.estimated_size("mb")
            computing = time.perf_counter()
            out = with_heat_index(_sorted(readings), dt.date.fromisoformat(DAY))
            assert out.height == rows
        elif name == "pandas":
            readings = read_readings_pandas(files)
            rows, input_mb = len(readings), readings.memory_usage(deep=True).sum() / 2**20
            computing = time.perf_counter()
            out = heat_index_pandas(readings)
            assert len(out) == rows
        elif name == "reference":
            readings = pl.read_parquet(files).drop_nulls()
            rows, input_mb = readings.height, readings.estimated_size("mb")
            sample = readings.head(REFERENCE_SAMPLE)
            started = computing = time.perf_counter()
            for c in sample.select(pl.col("temperature_c") * 1.8 + 32, "relative_humidity").iter_rows():
                heat_risk(heat_index_f(*c))
        else:
            storage = LocalObjectStorage(root=root)
            computing = started
            result = compute_heat_index_day(storage, DAY)
            loading = time.perf_counter()
            parts = [storage.uri(k) for k in result.report.output_keys]
            DuckDBWarehouse(path=f"{root}/wh.duckdb").replace_partition_from_parquet(
                "raw.heat_index_readings", parts, "reading_date", dt.date.fromisoformat(DAY)
            )
            extra = {"load_seconds": time.perf_counter() - loading, "blocks": result.report.blocks,
                     "compute_peak_rss_mb": result.report.peak_rss_mb}
            rows, input_mb = result.report.rows_in, result.report.input_mb
        ended = time.perf_counter()
    seconds, compute = ended - started, ended - computing
    if name == "partition":
        compute = seconds - extra["load_seconds"]
    if name == "reference":
        seconds = compute = seconds * rows / REFERENCE_SAMPLE
    return {"rows": rows, "seconds": seconds, "compute_seconds": compute, "input_mb": input_mb,
            "peak_rss_mb": peak.mib, "peak_growth_mb": (peak.bytes - peak.start_bytes) / 2**20, **extra}


def run(full_scale: bool = True, cities: int | None = None, repeat: int = 1) -> dict:
    from assets.weather.sample_day import FULL_SCALE_CITIES, write_sample_day
    from resources.object_storage import LocalObjectStorage

    cities = cities or (FULL_SCALE_CITIES if full_scale else 1_000)
    results: dict = {"cities": cities}
    with tempfile.TemporaryDirectory(prefix="bench-weather-") as root:
        sample = write_sample_day(LocalObjectStorage(root=root), DAY, cities=cities)
        results["rows"] = sample.rows
        for name in VARIANTS:
            runs = []
            for _ in range(1 if name == "reference" else repeat):
                out = subprocess.run(
                    [sys.executable, "-m", "bench.weather", "--variant", name, "--root", root],
                    check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
                )
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            # Shared, noisy machine: the best of the repeats (time and memory each).
            best = min(runs, key=lambda r: r["seconds"])
            best["compute_seconds"] = min(r["compute_seconds"] for r in runs)
            best["peak_rss_mb"] = min(r["peak_rss_mb"] for r in runs)
            results[name] = best
    pandas = results["pandas"]
    print(f"weather: {results['rows']:,} readings ({cities:,} cities x 1,440 minutes), best of {repeat}")
    print(f"  {'variant':10s} {'compute s':>9s} {'total s':>8s} {'vs pandas':>15s} {'peak RSS MB':>12s}"
          f" {'growth MB':>10s} {'input MB':>9s} {'x input':>8s}")
    for name in VARIANTS:
        r = results[name]
        r["rows_per_second"] = r["rows"] / r["seconds"]
        r["speedup_vs_pandas"] = pandas["seconds"] / r["seconds"]
        r["compute_speedup_vs_pandas"] = pandas["compute_seconds"] / r["compute_seconds"]
        r["peak_over_input"] = r["peak_rss_mb"] / r["input_mb"]
        # Only polars does the same work as pandas; the others are shown for scale.
        ratio = (f"{r['compute_speedup_vs_pandas']:5.1f}x / {r['speedup_vs_pandas']:4.1f}x"
                 if name in ("polars", "pandas", "reference") else "")
        print(f"  {name:10s} {r['compute_seconds']:9.2f} {r['seconds']:8.2f} {ratio:>15s} {r['peak_rss_mb']:12,.0f}"
              f" {r['peak_growth_mb']:10,.0f} {r['input_mb']:9,.0f} {r['peak_over_input']:7.1f}x")
    part = results["partition"]
    print(f"  partition: {part['blocks']} blocks, validate+enrich+write {part['compute_seconds']:.2f} s"
          f" (peak {part['compute_peak_rss_mb']:,.0f} MB), DuckDB load from Parquet {part['load_seconds']:.2f} s")
    print(f"  targets: polars >= 4x pandas (compute / total): {results['polars']['compute_speedup_vs_pandas']:.1f}x"
          f" / {results['polars']['speedup_vs_pandas']:.1f}x; partition peak <= 2x input: {part['peak_over_input']:.2f}x")
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=None, help="cities (default 15,000: full scale)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant, best taken (default 1)")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(_variant(args.variant, args.root)))
    else:
        run(full_scale=True, cities=args.cities, repeat=args.repeat)


if __name__ == "__main__":
    main()
