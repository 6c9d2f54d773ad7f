"""Weather benchmark: a full day (15,000 cities x 1,440 minutes) through the heat index.

Variants, each in its own subprocess so its peak RSS is its own:
- polars: read the day, heat index + risk + 60-minute rolling mean per city (the fast path);
- pandas: the same, written as a careful pandas user would (bench/weather_pandas.py);
- reference: the row-by-row textbook formula on a 200,000-row sample, extrapolated;
- partition: the whole asset path for one day (validate, quarantine, write Parquet, load DuckDB).

    python -m bench.weather              # full scale
    python -m bench.weather --cities 2000
"""

import argparse
import datetime as dt
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
    from bench.weather_pandas import heat_index_pandas
    from resources.object_storage import LocalObjectStorage
    from resources.warehouse import DuckDBWarehouse
    from tests.weather.reference_heat_index import heat_index_f, heat_risk

    files = f"{root}/weather-readings/{DAY}/readings-*.parquet"
    with PeakRss() as peak:
        started = time.perf_counter()
        if name == "polars":
            readings = pl.read_parquet(files).drop_nulls()
            rows, input_mb = readings.height, readings.estimated_size("mb")
            with_heat_index(readings.sort(["city_id", "reading_at"]), dt.date.fromisoformat(DAY))
        elif name == "pandas":
            readings = pl.read_parquet(files).drop_nulls().to_pandas()
            rows, input_mb = len(readings), readings.memory_usage().sum() / 2**20
            heat_index_pandas(readings)
        elif name == "reference":
            readings = pl.read_parquet(files).drop_nulls()
            rows, input_mb = readings.height, readings.estimated_size("mb")
            sample = readings.head(REFERENCE_SAMPLE)
            started = time.perf_counter()
            for c in sample.select(pl.col("temperature_c") * 1.8 + 32, "relative_humidity").iter_rows():
                heat_risk(heat_index_f(*c))
        else:
            result = compute_heat_index_day(LocalObjectStorage(root=root), DAY)
            DuckDBWarehouse(path=f"{root}/wh.duckdb").replace_partition(
                "raw.heat_index_readings", result.readings, "reading_date", dt.date.fromisoformat(DAY)
            )
            rows, input_mb = result.report.rows_in, result.report.input_mb
        seconds = time.perf_counter() - started
    if name == "reference":
        seconds *= rows / REFERENCE_SAMPLE
    return {"rows": rows, "seconds": seconds, "input_mb": input_mb,
            "peak_rss_mb": peak.mib, "peak_growth_mb": (peak.bytes - peak.start_bytes) / 2**20}


def run(full_scale: bool = True, cities: int | None = None) -> dict:
    from assets.weather.sample_day import FULL_SCALE_CITIES, write_sample_day
    from resources.object_storage import LocalObjectStorage

    cities = cities or (FULL_SCALE_CITIES if full_scale else 1_000)
    results: dict = {"cities": cities}
    with tempfile.TemporaryDirectory(prefix="bench-weather-") as root:
        sample = write_sample_day(LocalObjectStorage(root=root), DAY, cities=cities)
        results["rows"] = sample.rows
        for name in VARIANTS:
            out = subprocess.run(
                [sys.executable, "-m", "bench.weather", "--variant", name, "--root", root],
                check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
            )
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    pandas_seconds = results["pandas"]["seconds"]
    print(f"weather: {results['rows']:,} readings ({cities:,} cities x 1,440 minutes)")
    print(f"  {'variant':10s} {'seconds':>9s} {'rows/s':>12s} {'vs pandas':>10s} {'peak RSS MB':>12s} {'growth MB':>10s} {'input MB':>9s}")
    for name in VARIANTS:
        r = results[name]
        r["rows_per_second"] = r["rows"] / r["seconds"]
        r["speedup_vs_pandas"] = pandas_seconds / r["seconds"]
        print(f"  {name:10s} {r['seconds']:9.2f} {r['rows_per_second']:12,.0f} {r['speedup_vs_pandas']:9.1f}x "
              f"{r['peak_rss_mb']:12,.0f} {r['peak_growth_mb']:10,.0f} {r['input_mb']:9,.0f}")
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=None, help="cities (default 15,000: full scale)")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(_variant(args.variant, args.root)))
    else:
        run(full_scale=True, cities=args.cities)


if __name__ == "__main__":
    main()
