"""The warehouse tests' training data and builds: the raw training tables (the contract
between the training assets and dbt) read from the reference catalog's seeded store, the
other families' raw tables the OData views read (a few postings and heat-index readings),
and the dbt build of the training models and OData views through Dagster.

The training family's own assets load these tables through the gRPC catalog; the warehouse
tests do not wait for them: they read the seeded SQLite store directly and load each
customer's rows through `Warehouse.load_partitions`, partition column `customer_id`, as the
assets do. `true_tags=True` puts the seed's true tags on every module (what the catalog holds
once every suggestion is approved), so the training impact can be checked against
`KNOWN_EFFECTS`.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import polars as pl

from model_servers.training_catalog.seed import ensure_seeded
from model_servers.training_catalog.store import CatalogStore
from resources.settings import DBT_PROJECT_DIR
from resources.warehouse import PartitionLoad, Warehouse

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
    store: CatalogStore, customer_id: str, *, true_tags: bool = False
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
        module_tags = rows(
            f"select t.module_id, t.tag_id from {tag_table} t join modules m using (module_id) "
            "where m.customer_id = ? order by t.module_id, t.tag_id"
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
    warehouse: Warehouse, store: CatalogStore, *, true_tags: bool = False
) -> dict[str, dict[str, pl.DataFrame]]:
    """Every customer's rows of every raw training table, loaded per customer (one
    transaction each, as the assets load them); returns customer -> table -> rows."""
    loaded = {}
    for customer in store.customers():
        frames = raw_training_frames(store, customer.customer_id, true_tags=true_tags)
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
    """Two days of augmented postings and of heat-index readings (JobPostings, HeatIndex)."""
    from tests.helpers import POSTINGS_TABLE, raw_postings_two_days

    for (day,), rows in raw_postings_two_days().partition_by("posting_date", as_dict=True).items():
        warehouse.replace_partition(POSTINGS_TABLE, rows, "posting_date", day)
    for (day,), rows in heat_index_readings().partition_by("reading_date", as_dict=True).items():
        warehouse.replace_partition(HEAT_INDEX_TABLE, rows, "reading_date", day)


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
    entitlements and grants assets, through Dagster, on the target the environment picks."""
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
        **kwargs,
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
