"""The definition graph as a whole: a snapshot of every asset, check, job, sensor and
schedule key, so one cannot vanish unnoticed; loading it is cheap; the code location loads
in the webserver the way `make dev` loads it, shows no secret, and re-executes a run that
was launched the way `make demo` launches one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from definitions import defs
from scripts.webserver import graphql, wait_for_run
from scripts.webserver import webserver as serve_workspace
from tests.helpers import closed_port

ROOT = Path(__file__).resolve().parent.parent

ASSETS = {
    # postings
    "raw_job_postings",
    "augmented_job_postings",
    "job_postings_quarantine",
    "seniority_cache",
    "seniority_levels",
    "stg_postings__job_postings",
    "postings_by_company_seniority",
    # weather
    "weather_readings",
    "heat_index_readings",
    "weather_quarantine",
    "stg_weather__heat_index_readings",
    "city_day_heat_index",
    "heat_risk_by_region",
    # training
    "training_customers",
    "training_modules",
    "training_records",
    "tag_suggestions",
    "tag_review",
    "reviewed_tags",
    "applied_tags",
    "stg_training__customers",
    "stg_training__customer_flags",
    "stg_training__taxonomy",
    "stg_training__modules",
    "stg_training__module_tags",
    "stg_training__learners",
    "stg_training__completions",
    "stg_training__field_performance",
    "stg_training__tag_suggestions",
    "stg_training__tag_review",
    "stg_training__approved_tags",
    "module_catalog",
    "module_tags",
    "learners",
    "training_completions",
    "field_performance",
    "int_training__tag_first_completions",
    "int_training__impact_design",
    "int_training__impact_panels",
    "int_training__impact_regressors",
    "int_training__impact_gram",
    "int_training__impact_solution",
    "training_impact",
    # warehouse
    "customer_entitlements",
    "odata/TrainingModules",
    "odata/ModuleTags",
    "odata/Learners",
    "odata/TrainingCompletions",
    "odata/FieldPerformance",
    "odata/TrainingImpact",
    "odata/JobPostings",
    "odata/HeatIndex",
    "odata_grants",
}
PYTHON_CHECKS = {
    ("augmented_job_postings", "every_posting_has_a_level"),
    ("augmented_job_postings", "lines_reconcile"),
    ("augmented_job_postings", "model_calls_are_minimal"),
    ("heat_index_readings", "readings_reconcile"),
    ("heat_index_readings", "heat_index_is_sane"),
    ("tag_suggestions", "schema"),
    ("tag_suggestions", "taxonomy"),
    ("tag_suggestions", "confidence_range"),
    ("tag_suggestions", "duplicate_tags"),
    ("tag_suggestions", "tag_count"),
    ("tag_suggestions", "answered_modules"),
    ("tag_suggestions", "cut_short"),
    ("tag_suggestions", "suggestions_reconcile"),
    ("applied_tags", "approved_tags_applied"),
}
# dbt tests surface as checks too: how many each model has (with its freshness check, for
# the models the OData views read: assets/warehouse/freshness.py).
DBT_CHECKS_PER_MODEL = {
    "seniority_levels": 5,
    "stg_postings__job_postings": 10,
    "postings_by_company_seniority": 14,
    "stg_weather__heat_index_readings": 9,
    "city_day_heat_index": 10,
    "heat_risk_by_region": 5,
    "stg_training__customers": 4,
    "stg_training__customer_flags": 4,
    "stg_training__taxonomy": 6,
    "stg_training__modules": 7,
    "stg_training__module_tags": 6,
    "stg_training__learners": 4,
    "stg_training__completions": 9,
    "stg_training__field_performance": 7,
    "stg_training__tag_suggestions": 8,
    "stg_training__tag_review": 4,
    "stg_training__approved_tags": 7,
    "module_catalog": 10,
    "module_tags": 7,
    "learners": 4,
    "training_completions": 7,
    "field_performance": 7,
    "int_training__tag_first_completions": 3,
    "int_training__impact_design": 2,
    "int_training__impact_panels": 1,
    "int_training__impact_regressors": 1,
    "int_training__impact_gram": 2,
    "int_training__impact_solution": 2,
    "training_impact": 10,
}
JOBS = {
    "postings_daily",
    "weather_daily",
    "fieldwork_daily",
    "seniority_cache_warmup",
    "training",
    "training_replay",
    "warehouse",
}
SENSORS = {
    "raw_job_postings_sensor",
    "weather_readings_sensor",
    "training_customers_sensor",
    "tag_approval_sensor",
    "customer_entitlements_sensor",
    "freshness_checks_sensor",
}
SCHEDULES = {"fieldwork_daily_schedule"}
RESOURCES = {
    "storage",
    "warehouse",
    "seniority_model",
    "seniority_cache",
    "dbt",
    "training_catalog",
    "tagging_model",
    "suggestion_cache",
}
DAILY_FAMILIES = {"postings", "weather"}
FAMILIES = DAILY_FAMILIES | {"training", "warehouse"}


def test_the_definition_graph_is_exactly_the_snapshot():
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == ASSETS
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert {c for c in checks if c[0] not in DBT_CHECKS_PER_MODEL} == PYTHON_CHECKS
    dbt_counts = {model: 0 for model in DBT_CHECKS_PER_MODEL}
    for asset, _ in checks - PYTHON_CHECKS:
        dbt_counts[asset] += 1
    assert dbt_counts == DBT_CHECKS_PER_MODEL
    jobs = {job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    assert jobs == JOBS
    assert {sensor.name for sensor in defs.sensors or []} == SENSORS
    assert {schedule.name for schedule in defs.schedules or []} == SCHEDULES
    assert set(defs.resources or {}) == RESOURCES


def test_every_asset_says_what_it_is_and_which_family_it_belongs_to():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key.to_user_string()} has no description"
        assert node.group_name in FAMILIES, (key, node.group_name)


def test_the_daily_job_is_composed_of_its_families_by_name():
    """Each family's job is its group; the main job is their union, and an asset that is not
    day-partitioned (the cache warm-up) stays out of all of them."""
    graph = defs.resolve_asset_graph()
    jobs = {job.name: job for job in defs.resolve_all_job_defs()}

    def assets_of(job_name: str) -> set[str]:
        return {k.to_user_string() for k in jobs[job_name].asset_layer.executable_asset_keys}

    for family in DAILY_FAMILIES:
        in_group = {
            key.to_user_string()
            for key in graph.get_all_asset_keys()
            if graph.get(key).group_name == family
        }
        assert assets_of(f"{family}_daily") == in_group - {"seniority_cache"}
    assert assets_of("fieldwork_daily") == assets_of("postings_daily") | assets_of("weather_daily")
    assert jobs["fieldwork_daily"].partitions_def.get_first_partition_key() == "2026-07-01"


def test_loading_the_definitions_parses_nothing_and_writes_no_environment(tmp_path):
    """In a fresh process: the libraries imported first, then the definitions; the dbt
    manifest is read, never rewritten, and os.environ is what it was."""
    manifest = ROOT / "dbt_project" / "target" / "local" / "manifest.json"
    before = manifest.stat().st_mtime_ns
    probe = (
        "import os, json, dagster, dagster_dbt, polars, duckdb, grpc, redis\n"
        "env = dict(os.environ)\n"
        "import definitions\n"
        "names = set(env) | set(os.environ)\n"
        "changed = sorted(k for k in names if env.get(k) != os.environ.get(k))\n"
        "print(json.dumps(changed))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "FIELDWORK_DATA_DIR": str(tmp_path), "FIELDWORK_WAREHOUSE": "duckdb"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert manifest.stat().st_mtime_ns == before, "importing the definitions re-parsed dbt"


# --- The webserver, as `make dev` runs it ----------------------------------------------------

REDIS_SECRET = "s3cr3t-redis-pw-7f1c"
WEATHER_DAY = "2026-07-15"


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    """`dagster-webserver -w workspace.yaml` over a private instance and data folder, with a
    secret in the environment; yields (port, environment)."""
    home = tmp_path_factory.mktemp("dagster_home")
    # Runs launched from the UI start at once (no daemon in this test).
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "nux:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator\n"
        "  class: DefaultRunCoordinator\n"
    )
    data = tmp_path_factory.mktemp("data")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "FIELDWORK_DATA_DIR": str(data),
        "FIELDWORK_WAREHOUSE": "duckdb",
        "REDIS_URL": f"redis://:{REDIS_SECRET}@127.0.0.1:{closed_port()}/0",
    }
    env.pop("FIELDWORK_DUCKDB_PATH", None)
    with serve_workspace(env) as port:
        yield port, env


@pytest.mark.xdist_group("webserver")
def test_the_ui_loads_every_asset_from_workspace_yaml(webserver):
    port, _ = webserver
    body = graphql(
        port,
        "{ repositoriesOrError { ... on RepositoryConnection { nodes { name "
        "location { name } assetNodes { assetKey { path } } } } } }",
    )
    [repository] = body["data"]["repositoriesOrError"]["nodes"]
    assert repository["location"]["name"] == "fieldwork"
    assert {"/".join(node["assetKey"]["path"]) for node in repository["assetNodes"]} == ASSETS


@pytest.mark.xdist_group("webserver")
def test_no_secret_value_is_served_over_graphql(webserver):
    port, _ = webserver
    body = graphql(
        port,
        """{ allTopLevelResourceDetailsOrError(repositorySelector:
               {repositoryLocationName: "fieldwork", repositoryName: "__repository__"}) {
             ... on ResourceDetailsList { results { name
               configuredValues { key value type } } } } }""",
    )
    text = json.dumps(body)
    assert REDIS_SECRET not in text
    resources = {r["name"]: r for r in body["data"]["allTopLevelResourceDetailsOrError"]["results"]}
    redis_url = {v["key"]: v for v in resources["seniority_cache"]["configuredValues"]}["redis_url"]
    assert (redis_url["type"], redis_url["value"]) == ("ENV_VAR", "REDIS_URL")


@pytest.mark.slow
@pytest.mark.xdist_group("webserver")
def test_a_run_launched_like_the_demo_is_re_executed_from_the_ui(webserver, monkeypatch):
    import dagster as dg

    from scripts.launch import launch_and_wait
    from scripts.sample_weather import write_sample_day

    port, env = webserver
    for name in ("DAGSTER_HOME", "FIELDWORK_DATA_DIR", "FIELDWORK_WAREHOUSE", "REDIS_URL"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("FIELDWORK_DUCKDB_PATH", raising=False)
    from resources import build_storage

    write_sample_day(build_storage(), WEATHER_DAY, cities=40)
    with dg.DagsterInstance.get() as instance:
        launched = launch_and_wait(instance, "weather_daily", WEATHER_DAY)
    assert launched.success, launched.failures()

    body = graphql(
        port,
        """mutation($params: ReexecutionParams!) {
             launchPipelineReexecution(reexecutionParams: $params) {
             __typename ... on LaunchRunSuccess { run { runId } }
             ... on PythonError { message } ... on InvalidSubsetError { message } } }""",
        {"params": {"parentRunId": launched.run_id, "strategy": "ALL_STEPS"}},
    )
    outcome = body["data"]["launchPipelineReexecution"]
    assert outcome["__typename"] == "LaunchRunSuccess", outcome
    assert wait_for_run(port, outcome["run"]["runId"]) == "SUCCESS"


# --- A bad partition key: one line that names the form and the days ---------------------------

BAD_DAYS = {
    "2026-13-01": "is not a day written YYYY-MM-DD",
    "2026/11/01": "is not a day written YYYY-MM-DD",
    "2020-01-01": "is outside the days",
}


def test_every_bad_partition_key_is_refused_naming_the_form_and_the_days():
    from assets.partitions import UnknownDay, daily_partitions

    last_day = daily_partitions.get_last_partition_key()
    for key, problem in BAD_DAYS.items():
        with pytest.raises(UnknownDay) as refused:
            daily_partitions.check_day(key)
        assert refused.value.message == (
            f"partition {key!r} {problem}: the daily partitions run from 2026-07-01 "
            f"to {last_day} (YYYY-MM-DD; FIELDWORK_FIRST_DAY sets the first day)"
        )


# Through the CLI, one malformed key and one outside the days: each run of the CLI pays
# for importing the definitions, and the malformed keys take the same path.
@pytest.mark.parametrize("key", ["2026/11/01", "2020-01-01"])
def test_the_cli_refuses_a_bad_partition_key_in_one_line(key, tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "FIELDWORK_DATA_DIR": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "job", "execute", "-m", "definitions"]
        + ["-j", "weather_daily", "--tags", json.dumps({"dagster/partition": key})],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    last_day = defs.resolve_job_def("weather_daily").partitions_def.get_last_partition_key()
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: partition {key!r} {BAD_DAYS[key]}: the daily partitions run from 2026-07-01 "
        f"to {last_day} (YYYY-MM-DD; FIELDWORK_FIRST_DAY sets the first day)"
    )
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.parquet"))


LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
FAILURES = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
  __typename ... on RunFailureEvent { message }
  ... on ExecutionStepFailureEvent { error { message cause { message } } } } } } }"""


def _launch_weather_day(port: int, key: str) -> dict:
    params = {
        "selector": {
            "repositoryLocationName": "fieldwork",
            "repositoryName": "__repository__",
            "jobName": "weather_daily",
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": key}]},
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": LAUNCH, "variables": {"params": params}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["data"]["launchRun"]
    except urllib.error.HTTPError as error:  # the webserver answers a PythonError with a 500
        return json.load(error)["data"]["launchRun"]


@pytest.mark.xdist_group("webserver")
def test_the_ui_names_the_days_for_a_day_outside_them(webserver):
    """The run fails before any work, and its failure says which days exist."""
    port, _ = webserver
    launched = _launch_weather_day(port, "2020-01-01")
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert wait_for_run(port, run_id) == "FAILURE"
    events = graphql(port, FAILURES, {"id": run_id})["data"]["logsForRun"]["events"]
    said = json.dumps(events)
    assert (
        "partition '2020-01-01' is outside the days: the daily partitions run from 2026-07-01"
        in (said)
    ), said[-3000:]
    assert not any(e["__typename"] == "ExecutionStepSuccessEvent" for e in events)


@pytest.mark.xdist_group("webserver")
def test_the_ui_names_the_form_of_a_day_for_a_malformed_key(webserver):
    """The webserver refuses to create the run; the message (Dagster's own: the webserver
    never imports our code) names the form a day must have."""
    port, _ = webserver
    launched = _launch_weather_day(port, "2026-13-01")
    assert launched["__typename"] == "PythonError", launched
    assert "'2026-13-01' does not match format '%Y-%m-%d" in launched["message"]


# --- Real clients: Dagster's GraphQL Python client, and a browser --------------------------

CLIENT_DAY = "2026-07-16"
RUN_READBACK = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status
  assetMaterializations { assetKey { path } partition metadataEntries { label __typename
    ... on IntMetadataEntry { intValue } ... on MarkdownMetadataEntry { mdStr }
    ... on TableSchemaMetadataEntry { schema { columns { name type } } } } } } }
  logsForRun(runId: $id) { ... on EventConnection { events { __typename
    ... on AssetCheckEvaluationEvent { evaluation { checkName success } } } } } }"""


@pytest.mark.xdist_group("webserver")
def test_a_partition_launched_with_dagsters_graphql_client_reads_back_its_checks(
    webserver, monkeypatch
):
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    from scripts.sample_weather import write_sample_day

    port, env = webserver
    monkeypatch.setenv("FIELDWORK_DATA_DIR", env["FIELDWORK_DATA_DIR"])
    from resources import build_storage

    sample = write_sample_day(build_storage(), CLIENT_DAY, cities=30)
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    # The weather family's own assets: the warehouse models are not what this test is about.
    run_id = client.submit_job_execution(
        "weather_daily",
        tags={"dagster/partition": CLIENT_DAY},
        asset_selection=["weather_readings", "heat_index_readings", "weather_quarantine"],
    )
    assert wait_for_run(port, run_id) == "SUCCESS"
    assert client.get_run_status(run_id).value == "SUCCESS"

    body = graphql(port, RUN_READBACK, {"id": run_id})["data"]
    checks = {
        e["evaluation"]["checkName"]: e["evaluation"]["success"]
        for e in body["logsForRun"]["events"]
        if e["__typename"] == "AssetCheckEvaluationEvent"
    }
    assert checks == {"readings_reconcile": True, "heat_index_is_sane": True}
    materialized = {
        "/".join(m["assetKey"]["path"]): (
            m["partition"],
            {e["label"]: e for e in m["metadataEntries"]},
        )
        for m in body["runOrError"]["assetMaterializations"]
    }
    assert set(materialized) == {"weather_readings", "heat_index_readings", "weather_quarantine"}
    partition, heat = materialized["heat_index_readings"]
    assert partition == CLIENT_DAY
    valid, quarantined = heat["rows_valid"]["intValue"], heat["rows_quarantined"]["intValue"]
    assert valid + quarantined == sample.rows == heat["rows_in"]["intValue"]
    assert heat["dagster/row_count"]["intValue"] == valid
    assert "heat_index_f" in {c["name"] for c in heat["dagster/column_schema"]["schema"]["columns"]}
    assert heat["preview"]["mdStr"].startswith("| reading_date | city_id |")

    with pytest.raises(DagsterGraphQLClientError, match="not_a_job"):
        client.submit_job_execution("not_a_job", tags={"dagster/partition": CLIENT_DAY})


SCREENSHOTS = ROOT / "test-output" / "ui"
# What the UI shows instead of the page when something is wrong.
UI_ERRORS = (
    "Something went wrong",
    "An error occurred",
    "Unexpected error",
    "PythonError",
    "No assets were found",
)


def open_in_chromium(url: str, screenshot: Path) -> str:
    """The page's text once its scripts have run, in headless Chromium; a screenshot beside."""
    import re

    browser = shutil.which("chromium")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed: .ci/run installs it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; CI has it)")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        + ["--virtual-time-budget=30000", "--window-size=1400,900", "--dump-dom"]
        + [f"--screenshot={screenshot}", url],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0 and screenshot.is_file(), done.stderr[-2000:]
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", done.stdout, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


@pytest.mark.xdist_group("webserver")
def test_a_browser_opens_the_asset_graph_and_an_asset_page(webserver):
    port, _ = webserver
    graph = open_in_chromium(f"http://127.0.0.1:{port}/asset-groups", SCREENSHOTS / "graph.png")
    assert not [error for error in UI_ERRORS if error in graph], graph[:3000]
    assert all(group in graph for group in ("postings", "weather", "training", "warehouse"))

    asset = open_in_chromium(
        f"http://127.0.0.1:{port}/assets/heat_index_readings", SCREENSHOTS / "asset.png"
    )
    assert not [error for error in UI_ERRORS if error in asset], asset[:3000]
    # The description renders whole (a folder written `<date>` was eaten as an HTML tag).
    assert "under heat-index-readings/YYYY-MM-DD/ and in raw.heat_index_readings" in asset
    assert "data-platform" in asset and "weather_readings_sensor" in asset

    # The Automation page lists what starts runs without anyone clicking.
    automation = open_in_chromium(
        f"http://127.0.0.1:{port}/automation", SCREENSHOTS / "automation.png"
    )
    assert not [error for error in UI_ERRORS if error in automation], automation[:3000]
    for name in (
        "raw_job_postings_sensor",
        "weather_readings_sensor",
        "fieldwork_daily_schedule",
        "default_automation_condition_sensor",
    ):
        assert name in automation, automation[:3000]
