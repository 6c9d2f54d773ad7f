"""A daily run launched from the UI against the same run from `make demo` and in-process.

Three ways to run `fieldwork_daily` for one demo-sized day (warm cache, same data):
- in process: `execute_in_process` in this process (no process of its own to start);
- demo: what `make demo` does (`scripts.launch.launch_and_wait`: a run worker launched by
  the instance from workspace.yaml's code location);
- UI: a `launchRun` GraphQL mutation to `dagster-webserver -w workspace.yaml`, which is
  what the UI's Materialize button sends, timed until the run's status is SUCCESS.
Each is run `repeats` times, alternating, after one warm-up run that fills the cache.
Target (issue: UI-launched within 1.3x of the demo).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from scripts.webserver import graphql, wait_for_run, webserver

JOB = "fieldwork_daily"
DAY = "2026-11-20"


def _ui_run(port: int) -> float:
    """Seconds from the launch request to the run's end, as a person at the UI waits."""
    params = {
        "selector": {
            "repositoryLocationName": "fieldwork",
            "repositoryName": "__repository__",
            "jobName": JOB,
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": DAY}]},
    }
    started = time.perf_counter()
    body = graphql(
        port,
        """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
             __typename ... on LaunchRunSuccess { run { runId } }
             ... on PythonError { message } } }""",
        {"params": params},
    )
    outcome = body["data"]["launchRun"]
    if outcome["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launchRun: {outcome}")
    status = wait_for_run(port, outcome["run"]["runId"])
    if status != "SUCCESS":
        raise RuntimeError(f"UI-launched run ended {status}")
    return time.perf_counter() - started


def run(postings_lines: int = 200_000, cities: int = 500, repeats: int = 2) -> dict:
    with tempfile.TemporaryDirectory(prefix="fieldwork-bench-launch-") as tmp:
        home, data = Path(tmp) / "home", Path(tmp) / "data"
        home.mkdir()
        # Runs launched from the UI start at once (under `make dev` the daemon dequeues them).
        (home / "dagster.yaml").write_text(
            "telemetry:\n  enabled: false\nrun_coordinator:\n"
            "  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
        )
        os.environ.update({"DAGSTER_HOME": str(home), "FIELDWORK_DATA_DIR": str(data)})
        os.environ.pop("FIELDWORK_DUCKDB_PATH", None)

        import dagster as dg

        from definitions import defs
        from resources import build_storage
        from scripts.launch import launch_and_wait
        from scripts.sample_postings import write_sample_day
        from scripts.sample_weather import write_sample_day as write_weather_day

        storage = build_storage()
        write_sample_day(storage, DAY, lines=postings_lines, files=4)
        write_weather_day(storage, DAY, cities=cities)
        job = defs.resolve_job_def(JOB)
        times: dict[str, list[float]] = {"in process": [], "demo": [], "UI": []}
        with webserver(dict(os.environ)) as port:
            with dg.DagsterInstance.get() as instance:
                warm = launch_and_wait(instance, JOB, DAY)  # fills the cache; not timed
                if not warm.success:
                    raise RuntimeError(f"warm-up run failed: {warm.failures()}")
                for _ in range(repeats):
                    started = time.perf_counter()
                    result = job.execute_in_process(partition_key=DAY, instance=instance)
                    assert result.success
                    times["in process"].append(time.perf_counter() - started)
                    launched = launch_and_wait(instance, JOB, DAY)
                    assert launched.success, launched.failures()
                    times["demo"].append(launched.seconds)
                    times["UI"].append(_ui_run(port))

    best = {way: min(seconds) for way, seconds in times.items()}
    figures = {
        "postings_lines": postings_lines,
        "cities": cities,
        "seconds": {way: [round(s, 1) for s in seconds] for way, seconds in times.items()},
        "best_seconds": {way: round(s, 1) for way, s in best.items()},
        "median_seconds": {way: round(statistics.median(s), 1) for way, s in times.items()},
        "ui_over_demo": round(best["UI"] / best["demo"], 2),
        "ui_over_in_process": round(best["UI"] / best["in process"], 2),
    }
    print(
        f"daily run, {postings_lines:,} postings and {cities:,} cities, warm cache, "
        f"best of {repeats}: "
        f"in process {best['in process']:.1f} s, demo {best['demo']:.1f} s, UI {best['UI']:.1f} s; "
        f"UI / demo = {figures['ui_over_demo']}x (target <= 1.3x), "
        f"UI / in process = {figures['ui_over_in_process']}x"
    )
    return figures
