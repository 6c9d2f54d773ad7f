"""`make demo`: the whole platform on the local defaults, from a fresh clone.

Generates a sample day of job postings and of weather readings, then launches the
platform's main job (`fieldwork_daily`: postings, weather, then the dbt warehouse) through
the Dagster instance under DAGSTER_HOME exactly as the UI does (so `make dev` shows the run
and can re-execute it), waits for it, and prints what it did and where the results are.
While runs go, the terminal shows one line per step of the demo; the runs' full output
(Dagster's event log, dbt's console) goes to `demo.log` under the data folder, dbt's own
log to dbt_project/logs/dbt.log, and every run is in the Dagster UI (`make dev`).
The days before it come first, smaller (`--earlier-days`, `--earlier-postings`), each its own
run of the same job: trends over days (the seniority mix, the heat index) need several.
Then the training family: one run per customer of the reference catalog
(scripts/demo_training.py; `--no-training` skips it).
"""

import argparse
import contextlib
import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg

from assets.partitions import daily_partitions
from assets.postings.augment import output_prefix
from resources import build_storage, build_warehouse, settings
from resources.dbt import dbt_log_path
from scripts.demo_training import run_training_demo, training_summary
from scripts.demo_weather import materialization_metadata, weather_summary, write_demo_day
from scripts.launch import launch_and_wait
from scripts.sample_postings import write_sample_day


def postings_summary(result, storage, day: str, sample) -> list[str]:
    meta = materialization_metadata(result, "augmented_job_postings")
    if not meta:
        return [f"postings {day}: not materialized in this run"]
    checks = {
        e.check_name: e.passed
        for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey("augmented_job_postings")
    }
    return [
        f"postings {day}: {sample.lines:,} sample lines ({sample.bytes / 1e6:.0f} MB) "
        f"in {len(sample.keys)} files",
        f"  lines in {meta['lines_in']:,}, out {meta['lines_out']:,}, "
        f"quarantined {meta['lines_quarantined']:,}",
        f"  distinct pairs {meta['distinct_pairs']:,}, cache hits {meta['cache_hits']:,}, "
        f"model calls {meta['model_calls']:,} ({meta['items_sent']:,} items), "
        f"{meta['seconds']:.1f} s",
        f"  cache: {meta['cache_status']}; model {meta['model_version']}",
        "  checks: "
        + ", ".join(f"{name} {'passed' if ok else 'FAILED'}" for name, ok in checks.items()),
        f"  output: {storage.uri(output_prefix(day))} and raw.job_postings",
    ]


def warehouse_summary(result) -> list[str]:
    dbt_checks = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string()
        not in ("augmented_job_postings", "heat_index_readings", "weather_quarantine")
    ]
    failed = sorted(e.check_name for e in dbt_checks if not e.passed)
    python_assets = {
        "raw_job_postings",
        "augmented_job_postings",
        "job_postings_quarantine",
        "weather_readings",
        "heat_index_readings",
        "weather_quarantine",
    }
    models = [
        e.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() not in python_assets
    ]
    lines = [
        f"warehouse: dbt built {len(models)} models and seeds; "
        f"{len(dbt_checks)} dbt tests ran as asset checks, "
        f"{len(failed)} failed",
        f"  warehouse for readers: {build_warehouse().reader_location()} "
        "(schema analytics; raw tables in schema raw)",
    ]
    return lines + ([f"  failed: {failed}"] if failed else [])


def earlier_days(day: str, count: int) -> list[str]:
    """The `count` days before `day`, oldest first, that are day partitions too."""
    start = dt.date.fromisoformat(day)
    days = [(start - dt.timedelta(days=n)).isoformat() for n in range(count, 0, -1)]
    return [d for d in days if daily_partitions.has_partition_key(d)]


def earlier_day_summary(result, day: str, sample, cities: int) -> str:
    """One line per earlier day: what it loaded and how its run went."""
    postings = materialization_metadata(result, "augmented_job_postings")
    weather = materialization_metadata(result, "heat_index_readings")
    status = "succeeded" if result.success else "FAILED (see the run in `make dev`)"
    return (
        f"earlier day {day}: {sample.lines:,} posting lines "
        f"({postings.get('lines_out', 0):,} out, {postings.get('model_calls', 0):,} model calls), "
        f"{cities:,} cities ({weather.get('rows_valid', 0):,} valid readings); "
        f"run {result.run_id[:8]} {status} in {result.seconds:.0f} s"
    )


def refusal(day: str) -> str | None:
    """Why the demo must not run, checked before it writes anything (None: it may)."""
    if settings.storage_bucket() or settings.warehouse_kind() == "snowflake":
        return (
            "the demo writes sample data and runs on the local defaults only; unset "
            "FIELDWORK_BUCKET and FIELDWORK_WAREHOUSE (production is never fed sample data)"
        )
    if not daily_partitions.has_partition_key(day):
        first, last = (
            daily_partitions.get_first_partition_key(),
            daily_partitions.get_last_partition_key(),
        )
        return f"--date must be a day as YYYY-MM-DD from {first} to {last}, got {day!r}"
    try:
        dg.DagsterInstance.get().dispose()
    except Exception as error:  # Dagster says which variable or file is wrong
        reason = str(error).strip().splitlines()[0]
        return f"no Dagster instance ({reason}); run it with `make demo`, which sets DAGSTER_HOME"
    return None


def demo_log_path() -> Path:
    """Where the runs' full output goes: one file, written anew by each demo."""
    return settings.data_dir() / "demo.log"


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[Callable[[str], None]]:
    """Everything written to stdout and stderr in the block, by this process and by the
    processes it starts (the code server, the run workers, dbt), goes to `path`; yields a
    `say` that still prints to the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(1), "w", buffering=1)
    with open(path, "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield lambda line: print(line, file=terminal, flush=True)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--date", default=dt.date.today().isoformat(), help="the day to run (YYYY-MM-DD)"
    )
    parser.add_argument("--postings", type=int, default=200_000, help="sample posting lines")
    parser.add_argument(
        "--earlier-days", type=int, default=2, help="days run before --date (default 2)"
    )
    parser.add_argument(
        "--earlier-postings", type=int, default=20_000, help="sample posting lines of each"
    )
    parser.add_argument("--full-scale", action="store_true", help="8M postings, 15,000 cities")
    parser.add_argument(
        "--no-training", action="store_true", help="skip the training family's runs"
    )
    args = parser.parse_args(argv)
    lines = 8_000_000 if args.full_scale else args.postings
    if problem := refusal(args.date):
        print(f"make demo: {problem}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    log_path = demo_log_path()
    print(f"fieldwork demo: the runs' full output goes to {log_path}")
    try:
        with output_to(log_path) as say:
            success, report = run_demo(args, lines, say)
    except BaseException:
        print(f"make demo: stopped; the runs' output so far is in {log_path}", file=sys.stderr)
        raise
    report += [
        f"logs: the runs' output in {log_path}; dbt's log in {dbt_log_path()}",
        f"demo {'succeeded' if success else 'FAILED'} in {time.perf_counter() - started:.0f} s. "
        f"Data under {settings.data_dir()}; `make dev` opens the Dagster UI with these runs.",
    ]
    print("\n".join(["", "fieldwork demo", "==============", *report]))
    return 0 if success else 1


def run_demo(args, lines: int, say: Callable[[str], None]) -> tuple[bool, list[str]]:
    """The demo's data and runs; whether all succeeded, and the summary's lines."""
    storage = build_storage()
    report = []
    success = True
    # Oldest first, the main day last: its run's warehouse build then holds every day. The
    # earlier days stay small at full scale too: they exist for the trend, not the load.
    for seed, day in enumerate(earlier_days(args.date, args.earlier_days), start=11):
        say(f"{day}: generating {args.earlier_postings:,} postings and the weather, then a run")
        earlier = write_sample_day(storage, day, lines=args.earlier_postings, files=2, seed=seed)
        day_cities, _ = write_demo_day(storage, day, full_scale=False)
        result = launch_and_wait(dg.DagsterInstance.get(), "fieldwork_daily", day)
        report.append(earlier_day_summary(result, day, earlier, day_cities))
        say(f"  {report[-1]}")
        report.extend(f"  failed step {failure}" for failure in result.failures())
        success = success and result.success
    say(f"{args.date}: generating {lines:,} postings and the weather, then a run")
    sample = write_sample_day(storage, args.date, lines=lines, files=4)
    cities, weather_seconds = write_demo_day(storage, args.date, args.full_scale)

    result = launch_and_wait(dg.DagsterInstance.get(), "fieldwork_daily", args.date)
    report += (
        postings_summary(result, storage, args.date, sample)
        + weather_summary(result, storage, args.date, cities, weather_seconds)
        + warehouse_summary(result)
    )
    status = "succeeded" if result.success else "FAILED (see the run in `make dev`)"
    report.extend(f"  failed step {failure}" for failure in result.failures())
    report.append(f"run {result.run_id[:8]} {status} in {result.seconds:.0f} s")
    say(f"  {report[-1]}")
    success = success and result.success
    if not args.no_training:
        say("training: tagging every customer of the reference catalog")
        training = run_training_demo(dg.DagsterInstance.get())
        report.extend(training_summary(training))
        say(f"  {'succeeded' if training.success else 'FAILED'} in {training.seconds:.0f} s")
        success = success and training.success
    return success, report


if __name__ == "__main__":
    sys.exit(main())
