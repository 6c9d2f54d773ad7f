"""`make demo`: the whole platform on the local defaults, from a fresh clone.

Generates a sample day of job postings and weather readings, materializes the postings
and weather assets and the dbt warehouse through Dagster (runs recorded under
DAGSTER_HOME, so `make dev` shows them), and prints what it did and where results are.
"""

import argparse
import datetime as dt
import sys
import time

import dagster as dg

from assets.postings.augment import output_prefix
from assets.postings.sample import write_sample_day
from resources import build_resources, environment


def metadata_of(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey(asset):
            return {k: v.value for k, v in event.materialization.metadata.items()}
    return {}


def run_postings(defs: dg.Definitions, day: str, lines: int, instance: dg.DagsterInstance) -> list[str]:
    storage = build_resources()["storage"]
    sample = write_sample_day(storage, day, lines=lines, files=4)
    job = defs.resolve_job_def("postings_daily")
    result = job.execute_in_process(partition_key=day, instance=instance)
    meta = metadata_of(result, "augmented_job_postings")
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    return [
        f"postings {day}: {sample.lines:,} sample lines ({sample.bytes / 1e6:.0f} MB) in {len(sample.keys)} files",
        f"  lines in {meta['lines_in']:,}, out {meta['lines_out']:,}, quarantined {meta['lines_quarantined']:,}",
        f"  distinct pairs {meta['distinct_pairs']:,}, cache hits {meta['cache_hits']:,}, "
        f"model calls {meta['model_calls']:,} ({meta['items_sent']:,} items), {meta['seconds']:.1f} s",
        f"  cache: {meta['cache_status']}; model {meta['model_version']}",
        f"  checks: " + ", ".join(f"{name} {'passed' if ok else 'FAILED'}" for name, ok in checks.items()),
        f"  output: {storage.uri(output_prefix(day))}",
    ]


def run_warehouse(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    from assets.warehouse.assets import fieldwork_dbt_assets

    started = time.perf_counter()
    result = dg.materialize(
        [fieldwork_dbt_assets], resources={"dbt": build_resources()["dbt"]}, instance=instance
    )
    checks = result.get_asset_check_evaluations()
    failed = [e.check_name for e in checks if not e.passed]
    models = len(result.get_asset_materialization_events())
    return [
        f"warehouse: dbt built {models} models, {len(checks)} dbt tests as asset checks, "
        f"{len(failed)} failed, in {time.perf_counter() - started:.1f} s",
        f"  DuckDB file: {environment.duckdb_path()}",
    ] + ([f"  failed checks: {failed}"] if failed else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="the day to run (YYYY-MM-DD)")
    parser.add_argument("--postings", type=int, default=200_000, help="sample posting lines")
    parser.add_argument("--full-scale", action="store_true", help="8M postings, 15,000 cities")
    args = parser.parse_args(argv)
    lines = 8_000_000 if args.full_scale else args.postings

    from assets.weather.demo import run_weather_demo
    from definitions import defs

    instance = dg.DagsterInstance.get()
    report: list[str] = []
    started = time.perf_counter()
    report += run_postings(defs, args.date, lines, instance)
    report += run_weather_demo(args.date, args.full_scale, instance)
    report += run_warehouse(defs, instance)
    report += [
        f"done in {time.perf_counter() - started:.0f} s. Data under {environment.data_dir()}; "
        "`make dev` opens the Dagster UI with these runs.",
    ]
    print("\n".join(["", "fieldwork demo", "=" * 14, *report]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
