"""One prepared platform for every notebook and catalog test: made once, read by all.

Three days of postings and weather (the daily job's Python assets per day), one customer of
the training family (its assets, then a customer's edits and approval, applied back to the
catalog) and every dbt model built once after them (the days as one range), all with the
real components: the reference gRPC servers on loopback, embedded Redis, DuckDB, a storage
folder and a Dagster instance under tmp. The notebooks' kernels inherit the variables that
point there.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from assets.jobs import fieldwork_daily, training
from assets.training.review import APPROVED, NO_TAGS, TAG_SEPARATOR, review_key
from assets.warehouse.assets import fieldwork_dbt_assets
from scripts.demo_training import PER_CUSTOMER
from scripts.sample_postings import write_sample_day
from scripts.sample_weather import write_sample_day as write_weather_day
from tests.helpers import TRAINING_CUSTOMER, partition_range_tags, trim_catalog

DAYS = {"2026-11-19": 2_000, "2026-11-20": 2_000, "2026-11-21": 2_000}
# Lines on the second day that must land in the quarantine, not in the postings.
BAD_LINES = [b'{"company": "Acme", "title": "Cook", "desc": "cut', b'{"company": "Acme"}']
BAD_DAY = "2026-11-20"
# The customer's modules kept in the catalog: enough completions of tagged modules for
# training_impact to estimate most tags, few enough for a quick tagging run.
REVIEW_MODULES = 300
# Variables that would point the catalog somewhere else than the test's folder.
OTHER_PLACES = ("FIELDWORK_BUCKET", "FIELDWORK_WAREHOUSE", "FIELDWORK_DBT_TARGET", "REDIS_URL")


@dataclass
class Edits:
    """What the test's customer did to the review file, module by module."""

    added: dict[str, list[str]] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)
    approved: set[str] = field(default_factory=set)
    abstentions: set[str] = field(default_factory=set)
    modules: list[str] = field(default_factory=list)


@dataclass
class Platform:
    root: Path
    edits: Edits
    suggestion_figures: dict


def point_at(monkeypatch, root: Path) -> None:
    """Local defaults under `root`; a notebook kernel started now inherits them."""
    for name in OTHER_PLACES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FIELDWORK_DUCKDB_PATH", raising=False)
    monkeypatch.setenv("FIELDWORK_DATA_DIR", str(root / "data"))
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))


def edit_review(storage, taxonomy: list[str]) -> Edits:
    """Edit the customer's review file as a reviewer would: most modules approved as
    suggested; every tenth gets a tag added, one removed, or one replaced; abstentions get a
    tag or `(none)`; every tenth is left unapproved."""
    key = review_key(TRAINING_CUSTOMER)
    text = storage.read_bytes(key).decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns, rows = list(reader.fieldnames or []), list(reader)
    edits = Edits(modules=[row["module_id"] for row in rows])
    for number, row in enumerate(rows):
        module = row["module_id"]
        suggested = [t for t in row["suggested_tags"].split(TAG_SEPARATOR) if t]
        other = next(t for t in taxonomy if t not in suggested)
        tags = list(suggested)
        if not suggested:
            edits.abstentions.add(module)
            tags = [other] if number % 2 == 0 else []
        elif number % 10 == 1:
            tags.append(other)
        elif number % 10 == 2:
            tags = tags[1:]
        elif number % 10 == 3:
            tags = [other, *tags[1:]]
        added = [t for t in tags if t not in suggested]
        removed = [t for t in suggested if t not in tags]
        if added:
            edits.added[module] = added
        if removed:
            edits.removed[module] = removed
        row["tags"] = TAG_SEPARATOR.join(tags) if tags else NO_TAGS
        if number % 10 != 9:
            row["approved"] = APPROVED
            edits.approved.add(module)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    storage.write_bytes(key, out.getvalue().encode("utf-8-sig"))
    return edits


def _materialize(assets, selection, **kwargs) -> dg.ExecuteInProcessResult:
    from resources import build_resources

    result = dg.materialize(
        assets, selection=selection, resources=build_resources(), raise_on_error=False, **kwargs
    )
    if not result.success:
        failures = [e.message for e in result.all_events if e.is_step_failure]
        raise AssertionError(f"materializing {selection} failed: {failures}")
    return result


def _suggestion_figures(result) -> dict:
    [event] = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("tag_suggestions")
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture(scope="session")
def platform(tmp_path_factory) -> Platform:
    """The prepared platform (see the module's docstring); returns its folder and what the
    customer edited."""
    import sklearn.feature_extraction.text  # noqa: F401  (before any gRPC thread imports it)
    import sklearn.linear_model  # noqa: F401

    from model_servers.seniority.server import serve as serve_seniority
    from model_servers.tagging.server import serve as serve_tagger
    from model_servers.training_catalog.server import open_catalog
    from model_servers.training_catalog.server import serve as serve_catalog

    root = tmp_path_factory.mktemp("fieldwork")
    catalog_db = root / "training_catalog.sqlite"
    open_catalog(catalog_db)
    trim_catalog(catalog_db, keep=REVIEW_MODULES)
    servers = []
    with pytest.MonkeyPatch.context() as env:
        point_at(env, root)
        for variable, serve, options in (
            ("SENIORITY_MODEL_ENDPOINT", serve_seniority, {}),
            ("TRAINING_CATALOG_ENDPOINT", serve_catalog, {"db_path": catalog_db}),
            ("TAGGING_MODEL_ENDPOINT", serve_tagger, {}),
        ):
            server, port = serve("127.0.0.1", 0, **options)
            servers.append(server)
            env.setenv(variable, f"127.0.0.1:{port}")
        from definitions import defs
        from resources import build_storage, build_warehouse

        storage = build_storage()
        graph = defs.resolve_asset_graph()
        daily = fieldwork_daily.selection.resolve(graph)
        customer = training.selection.resolve(graph)
        dbt_models = {key for assets_def in fieldwork_dbt_assets for key in assets_def.keys}
        # Each day's Python assets (files and raw tables) run day by day; the dbt models are
        # built once after the last day and the customer, as a backfill's single run over the
        # days does: one build makes the same tables as one per run, for a fraction of the
        # time (each dbt build is a process: seconds before it does anything).
        by_day = [key for key in daily if graph.get(key).partitions_def is not None]
        python_by_day = [key for key in by_day if key not in dbt_models]
        upstream = dg.AssetSelection.assets(*python_by_day).upstream().resolve(graph)
        unpartitioned = {
            key
            for key in daily | customer
            if graph.get(key).partitions_def is None and key.to_user_string() not in PER_CUSTOMER
        }
        first = [key for key in unpartitioned if key in upstream]
        models = [key for key in unpartitioned if key not in upstream]
        models += [key for key in by_day if key in dbt_models]
        try:
            if first:
                _materialize(defs.assets, first)
            for seed, (day, lines) in enumerate(DAYS.items(), start=1):
                write_sample_day(storage, day, lines=lines, files=2, seed=seed)
                write_weather_day(storage, day, cities=30)
                if day == BAD_DAY:
                    storage.write_bytes(
                        f"job-postings-raw/{day}/bad.jsonl", b"\n".join(BAD_LINES) + b"\n"
                    )
                _materialize(defs.assets, python_by_day, partition_key=day)
            with dg.DagsterInstance.get() as instance:
                _materialize(defs.assets, ["training_customers"], instance=instance)
                tagged = _materialize(
                    defs.assets,
                    [name for name in PER_CUSTOMER if name != "training_customers"],
                    partition_key=TRAINING_CUSTOMER,
                    instance=instance,
                )
                taxonomy = build_warehouse().query(
                    "select tag_id from raw.training_taxonomy "
                    f"where customer_id = '{TRAINING_CUSTOMER}' order by tag_id"
                )["tag_id"]
                edits = edit_review(storage, taxonomy.to_list())
                for step in (["tag_review", "reviewed_tags", "applied_tags"], ["training_modules"]):
                    _materialize(
                        defs.assets, step, partition_key=TRAINING_CUSTOMER, instance=instance
                    )
            _materialize(defs.assets, models, tags=partition_range_tags(min(DAYS), max(DAYS)))
        finally:
            for server in servers:
                server.stop(grace=None)
    return Platform(root, edits, _suggestion_figures(tagged))


@pytest.fixture
def local(platform, monkeypatch) -> Platform:
    point_at(monkeypatch, platform.root)
    return platform


@pytest.fixture
def empty(tmp_path, monkeypatch) -> Path:
    point_at(monkeypatch, tmp_path)
    return tmp_path
