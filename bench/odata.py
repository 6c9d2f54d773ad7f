"""OData views benchmark: what the views (casts to the contract's types, the tenant's row filter
joined to the entitlements) cost a BI tool, against the same query on the tables they read.

The warehouse: 50 customers (tiers in turn basic, pro, enterprise) and a year of training
data in the raw tables, generated here (default per customer: 2,500 modules, 400 learners,
60 completions per learner over 2026, two field metrics per learner and month), loaded per
customer through `DuckDBWarehouse.load_partitions`, the entitlements written by
`write_entitlements`, then `dbt run` of the two views measured and everything under them.
The queries read the published snapshot, as BI tools do locally.

The queries are BI-shaped: one customer, one entity set, a filter and a top-N, through the
view in a session acting for the customer (`SET VARIABLE fieldwork_session =
tenancy.customer_session(role)`), and the same question on the mart the view reads (its own
column names, no cast, no tenant filter):
- TrainingCompletions: the customer's 50 best scores of the last quarter;
- FieldPerformance: its 50 best learners on one metric in one month.
Two more variants say where the view's cost is: the base query with the views' local tenant
check added (a constant from the session, which DuckDB folds into the scan's filter), and the
base query with the check Snowflake's views run instead, a semi-join to
tenancy.customer_entitlements per query (about 1 ms of planning and a pipeline in DuckDB,
why the local views do not join). The answers are checked to be the same rows. Each query
runs `--repeat` rounds, the variants alternating (the machine is shared and drifts), and the
ratios compare their best and their median rounds.

`--warehouse PATH` measures a warehouse kept by an earlier run (`--keep`; its readers/
snapshot), without building one.

    python -m bench.odata                     # 50 customers, a year
    python -m bench.odata --customers 10 --repeat 50
"""

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from assets.warehouse.entitlements import (
    SET_SESSION_SQL,
    entitlement_frame,
    read_customers,
    write_entitlements,
)
from assets.warehouse.tenancy import customer_role
from protos.contract import CUSTOMER_TIERS
from resources.dbt import DBT_EXECUTABLE
from resources.settings import DBT_PROJECT_DIR
from resources.warehouse import DuckDBWarehouse, PartitionLoad

YEAR = 2026
METRICS = ("quota_attainment", "win_rate")
TAGS = 12
VIEWS = ("odata_training_completions", "odata_field_performance")
TARGET_RATIO = 1.2

QUERIES = {
    "TrainingCompletions": (
        "select CompletionId, LearnerId, ModuleId, CompletedOn, Score "
        'from odata."TrainingCompletions" '
        "where CustomerId = $customer and CompletedOn >= DATE '2026-10-01' and Score >= 80 "
        "order by Score desc, CompletedOn desc, CompletionId limit 50",
        "select completion_id, learner_id, module_id, completed_on, score "
        "from analytics.training_completions "
        "where customer_id = $customer and completed_on >= DATE '2026-10-01' and score >= 80 "
        "{tenant_check}"
        "order by score desc, completed_on desc, completion_id limit 50",
    ),
    "FieldPerformance": (
        'select LearnerId, Month, Value from odata."FieldPerformance" '
        "where CustomerId = $customer and Metric = 'win_rate' and Month = DATE '2026-06-01' "
        "order by Value desc, LearnerId limit 50",
        "select learner_id, performance_month, metric_value from analytics.field_performance "
        "where customer_id = $customer and metric = 'win_rate' "
        "and performance_month = DATE '2026-06-01' "
        "{tenant_check}"
        "order by metric_value desc, learner_id limit 50",
    ),
}
# The views' row filter on DuckDB (macros/odata/odata_tenancy.sql), for the third variant.
TENANT_CHECK = "and customer_id = getvariable('fieldwork_session')['{entity_set}'] "
# The row filter of the Snowflake views, a semi-join to the entitlements, for the fourth.
TENANT_JOIN = (
    "and customer_id in (select customer_id from tenancy.customer_entitlements "
    "where entity_set = '{entity_set}' and role_name = $role) "
)


def variants(entity_set: str) -> dict[str, str]:
    """The view query, the base query, and the base query with each tenant check."""
    view_sql, base_sql = QUERIES[entity_set]
    return {
        "view": view_sql,
        "base": base_sql.format(tenant_check=""),
        "base_checked": base_sql.format(tenant_check=TENANT_CHECK.format(entity_set=entity_set)),
        "base_joined": base_sql.format(tenant_check=TENANT_JOIN.format(entity_set=entity_set)),
    }


# --- the warehouse ------------------------------------------------------------------------


def customer_ids(customers: int) -> list[str]:
    return [f"customer-{n:03d}" for n in range(1, customers + 1)]


def customer_tables(
    customer_id: str, tier: str, rng: np.random.Generator, modules: int, learners: int, per: int
) -> dict[str, pl.DataFrame]:
    """A year of one customer's raw training tables, typed as the contract says."""
    module_ids = [f"{customer_id}-m{n:05d}" for n in range(modules)]
    learner_ids = [f"{customer_id}-l{n:04d}" for n in range(learners)]
    tag_ids = [f"tag-{n:02d}" for n in range(TAGS)]
    stamp = dt.datetime(YEAR, 1, 2, 8, 0)
    completions = learners * per
    days = rng.integers(0, 365, completions)
    first_day = dt.date(YEAR, 1, 1)
    module_tags = pl.DataFrame(
        {"module_id": module_ids, "tag_id": [tag_ids[n % TAGS] for n in range(modules)]}
    )
    months = pl.DataFrame({"month": [dt.date(YEAR, m, 1) for m in range(1, 13)]})
    performance = (
        pl.DataFrame({"learner_id": learner_ids})
        .join(months, how="cross")
        .join(pl.DataFrame({"metric": METRICS}), how="cross")
    )
    performance = performance.with_columns(
        pl.Series("value", rng.normal(60.0, 15.0, performance.height).round(2))
    )

    def tagged(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select(pl.lit(customer_id).alias("customer_id"), pl.all())

    return {
        "raw.training_customers": pl.DataFrame(
            {
                "customer_id": [customer_id],
                "name": [customer_id.title()],
                "tier": [tier],
                "loaded_at": [stamp],
            }
        ),
        "raw.training_customer_flags": pl.DataFrame(
            schema={"customer_id": pl.String, "feature_flag": pl.String}
        ),
        "raw.training_taxonomy": tagged(
            pl.DataFrame(
                {
                    "tag_id": tag_ids,
                    "label": [t.title() for t in tag_ids],
                    "description": [f"About {t}" for t in tag_ids],
                    "aliases": [""] * TAGS,
                    "taxonomy_version": ["v1"] * TAGS,
                }
            )
        ),
        "raw.training_modules": tagged(
            pl.DataFrame(
                {
                    "module_id": module_ids,
                    "title": [f"Module {n}" for n in range(modules)],
                    "description": ["A module."] * modules,
                    "content_hash": [f"{n:064x}" for n in range(modules)],
                    "last_modified": [stamp] * modules,
                }
            )
        ),
        "raw.training_module_tags": tagged(module_tags),
        "raw.training_learners": tagged(
            pl.DataFrame(
                {
                    "learner_id": learner_ids,
                    "region": [f"Region {n % 5}" for n in range(learners)],
                    "role": ["Representative"] * learners,
                    "hired_on": [dt.date(2020, 1, 1)] * learners,
                }
            )
        ),
        "raw.training_completions": tagged(
            pl.DataFrame(
                {
                    "completion_id": [f"{customer_id}-c{n:07d}" for n in range(completions)],
                    "learner_id": np.repeat(learner_ids, per),
                    "module_id": rng.choice(module_ids, completions),
                    "completed_on": [first_day + dt.timedelta(days=int(d)) for d in days],
                    "score": rng.uniform(40.0, 100.0, completions).round(1),
                }
            )
        ),
        "raw.training_field_performance": tagged(performance),
    }


def build(folder: Path, customers: int, modules: int, learners: int, per: int) -> dict:
    """The warehouse with the two views built; returns what it holds."""
    warehouse = DuckDBWarehouse(path=str(folder / "warehouse.duckdb"))
    rng = np.random.default_rng(20261123)
    rows = {"completions": 0, "field_performance": 0}
    for n, customer_id in enumerate(customer_ids(customers)):
        tier = CUSTOMER_TIERS[n % len(CUSTOMER_TIERS)]
        tables = customer_tables(customer_id, tier, rng, modules, learners, per)
        warehouse.load_partitions(
            [PartitionLoad(t, "customer_id", customer_id, frame=f) for t, f in tables.items()]
        )
        rows["completions"] += tables["raw.training_completions"].height
        rows["field_performance"] += tables["raw.training_field_performance"].height
    write_entitlements(warehouse, entitlement_frame(read_customers(warehouse.query)))

    project = folder / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    command = [DBT_EXECUTABLE, "run", "--select", *(f"+{view}" for view in VIEWS)]
    command += ["--project-dir", str(project), "--profiles-dir", str(project)]
    command += ["--target", "local", "--vars", json.dumps(warehouse.dbt_vars())]
    with warehouse.writing():  # as a Dagster build: readers get the result as a snapshot
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"dbt run failed:\n{done.stdout[-3000:]}")
    return {"path": str(warehouse.reader_path()), **rows}


# --- the queries --------------------------------------------------------------------------


def measure(path: str, customer_id: str, repeat: int) -> dict:
    """Seconds per round of each query through the view and on the base table."""
    con = duckdb.connect(path, read_only=True)
    given = {"customer": customer_id, "role": customer_role(customer_id)}
    con.execute(SET_SESSION_SQL, [given["role"]])

    def params(sql: str) -> dict[str, str]:
        return {name: value for name, value in given.items() if f"${name}" in sql}

    figures = {}
    for name in QUERIES:
        sqls = variants(name)
        bound = {variant: params(sql) for variant, sql in sqls.items()}
        answers = {
            variant: [
                tuple(_plain(v) for v in row) for row in con.execute(sql, bound[variant]).fetchall()
            ]
            for variant, sql in sqls.items()
        }
        if not answers["view"] or any(rows != answers["view"] for rows in answers.values()):
            raise AssertionError(
                f"{name}: the view and the base table answer differently: "
                + ", ".join(f"{variant} {len(rows)} rows" for variant, rows in answers.items())
            )
        rounds = {variant: [] for variant in sqls}
        order = list(sqls)
        for n in range(repeat):
            # Each round starts with the next variant, so none always follows another.
            for variant in order[n % len(order) :] + order[: n % len(order)]:
                sql = sqls[variant]
                start = time.perf_counter()
                con.execute(sql, bound[variant]).fetchall()
                rounds[variant].append(time.perf_counter() - start)
        best = {v: min(s) for v, s in rounds.items()}
        median = {v: statistics.median(s) for v, s in rounds.items()}
        figures[name] = {
            "rows": len(answers["view"]),
            **{f"{v}_best_ms": round(best[v] * 1e3, 3) for v in sqls},
            **{f"{v}_median_ms": round(median[v] * 1e3, 3) for v in sqls},
            "ratio_best": round(best["view"] / best["base"], 3),
            "ratio_median": round(median["view"] / median["base"], 3),
            # The view against the base query doing the same tenant check: the view's own cost.
            "ratio_to_checked_best": round(best["view"] / best["base_checked"], 3),
            "ratio_to_checked_median": round(median["view"] / median["base_checked"], 3),
            "tenant_check_median_ms": round((median["base_checked"] - median["base"]) * 1e3, 3),
            "tenant_join_median_ms": round((median["base_joined"] - median["base"]) * 1e3, 3),
            "within_target": median["view"] / median["base"] <= TARGET_RATIO,
        }
    con.close()
    return figures


def _plain(value):
    """A value as every variant spells it (the view's Decimal, the mart's double or Decimal)."""
    if isinstance(value, float):
        return round(value, 2)
    try:
        return round(float(value), 2) if type(value).__name__ == "Decimal" else value
    except (TypeError, ValueError):
        return value


def run(
    customers: int = 50,
    modules: int = 2_500,
    learners: int = 400,
    completions_per_learner: int = 60,
    repeat: int = 200,
    keep: bool = False,
    warehouse: Path | None = None,
) -> dict:
    if warehouse is not None:  # a kept warehouse: measured as it is
        folder = Path(warehouse).parent
        keep = True
        path = Path(warehouse).parent / "readers" / Path(warehouse).name
        if not path.exists():
            raise FileNotFoundError(f"--warehouse {warehouse}: no reader snapshot at {path}")
        print(f"odata benchmark: the kept warehouse {warehouse}", flush=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="fieldwork-bench-odata-"))
        print(f"odata benchmark: {customers} customers, a year, under {folder}", flush=True)
    try:
        start = time.perf_counter()
        if warehouse is None:
            built = build(folder, customers, modules, learners, completions_per_learner)
        else:
            with duckdb.connect(str(path), read_only=True) as con:
                [(completions, performance, customers)] = con.execute(
                    "select (select count(*) from analytics.training_completions), "
                    "(select count(*) from analytics.field_performance), "
                    "(select count(distinct customer_id) from analytics.field_performance)"
                ).fetchall()
            built = {
                "path": str(path),
                "completions": completions,
                "field_performance": performance,
            }
        results = {
            "customers": customers,
            "completions": built["completions"],
            "field_performance_rows": built["field_performance"],
            "build_seconds": round(time.perf_counter() - start, 1),
        }
        # An enterprise customer in the middle of the table, so neither end is favoured.
        ids = customer_ids(customers)
        enterprise = [c for n, c in enumerate(ids) if CUSTOMER_TIERS[n % 3] == "enterprise"]
        customer_id = enterprise[len(enterprise) // 2]
        results["customer"] = customer_id
        results["queries"] = measure(built["path"], customer_id, repeat)
        for name, figures in results["queries"].items():
            print(
                f"  {name:<20} view {figures['view_median_ms']:8.2f} ms  "
                f"base {figures['base_median_ms']:8.2f} ms  "
                f"base+tenant check {figures['base_checked_median_ms']:8.2f} ms  "
                f"base+entitlements join {figures['base_joined_median_ms']:8.2f} ms  "
                f"ratio {figures['ratio_median']:.2f} (best {figures['ratio_best']:.2f}; "
                f"target <= {TARGET_RATIO}); to the checked base "
                f"{figures['ratio_to_checked_median']:.2f} (best "
                f"{figures['ratio_to_checked_best']:.2f})",
                flush=True,
            )
        return results
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--modules", type=int, default=2_500)
    parser.add_argument("--learners", type=int, default=400)
    parser.add_argument("--completions-per-learner", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the warehouse folder")
    parser.add_argument(
        "--warehouse", type=Path, default=None, help="measure this kept warehouse.duckdb"
    )
    args = parser.parse_args()
    results = run(
        args.customers,
        args.modules,
        args.learners,
        args.completions_per_learner,
        args.repeat,
        args.keep,
        args.warehouse,
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
