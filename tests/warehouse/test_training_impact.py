"""The training impact mart, built by dbt through Dagster on DuckDB from the reference
catalog's seeded data with the true tags, checked against an independent computation
(numpy least squares, polars means) and against the effects the seed was made with; and the
training marts rebuilt customer by customer (incremental, `customer_replace`)."""

from __future__ import annotations

import shutil

import dagster as dg
import numpy as np
import polars as pl
import pytest

from model_servers.training_catalog.seed import KNOWN_EFFECTS
from resources.warehouse import DuckDBWarehouse, PartitionLoad
from tests.helpers import (
    IMPACT_KEY,
    dbt_check_results,
    expected_impact,
    row_counts,
    training_instance,
)

pytestmark = [pytest.mark.slow]

# The training marts, each replaced customer by customer.
TRAINING_MARTS = (
    "module_catalog",
    "module_tags",
    "learners",
    "training_completions",
    "field_performance",
    "training_impact",
    "int_training__tag_first_completions",
    "int_training__impact_design",
    "int_training__impact_panels",
    "int_training__impact_regressors",
    "int_training__impact_gram",
    "int_training__impact_solution",
)


@pytest.fixture(scope="module")
def built(warehouse_build, tmp_path_factory):
    """The shared build (`warehouse_build`: the seed with its true tags in the raw tables,
    every customer built, as a run without a customer does), copied."""
    warehouse, _, project_dir = warehouse_build.copy(tmp_path_factory.mktemp("impact") / "build")
    impact = warehouse.query("select * from analytics.training_impact")
    return warehouse_build.result, impact, warehouse_build.loaded, warehouse, project_dir


def assert_impact_matches(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    """training_impact's rows against `expected_impact`'s, figure by figure."""
    actual = actual.sort(IMPACT_KEY)
    assert actual.select(IMPACT_KEY).equals(expected.select(IMPACT_KEY))
    assert actual["learners_trained"].to_list() == expected["learners_trained"].to_list()
    assert actual["sample_size"].to_list() == expected["n"].to_list()
    pairs = {
        "performance_before": "before",
        "performance_after": "after",
        "performance_difference": "effect",
        "standard_error": "se",
        "correlation_coefficient": "r",
    }
    for column, reference in pairs.items():
        np.testing.assert_allclose(
            actual[column].to_numpy(), expected[reference].to_numpy(), rtol=1e-7, err_msg=column
        )
    np.testing.assert_allclose(
        actual["raw_difference"].to_numpy(),
        (expected["after"] - expected["before"]).to_numpy(),
        rtol=1e-7,
    )
    np.testing.assert_allclose(
        actual["confidence_interval_low"].to_numpy(),
        (expected["effect"] - 1.96 * expected["se"]).to_numpy(),
        rtol=1e-7,
    )
    assert actual["solver_relative_residual"].max() < 1e-12


def test_the_mart_matches_an_independent_computation(built):
    result, impact, loaded, _, _ = built
    expected = expected_impact(loaded)
    actual = impact.sort(IMPACT_KEY)

    assert actual.height == sum(len(effects) for effects in KNOWN_EFFECTS.values())
    assert_impact_matches(actual, expected)

    assert result.success
    checks = dbt_check_results(result)
    assert all(checks.values()), {name for name, passed in checks.items() if not passed}
    assert any(name.startswith("expression_is_true_training_impact") for name in checks)


def test_the_recovered_effects_track_the_known_effects(built):
    """With the true tags, each tag's effect is the one the seed added: positive tags
    positive, zero near zero, negative negative, each within three standard errors. The raw
    before/after difference cannot tell them apart: it also holds the other tags' effects."""
    _, impact, _, _, _ = built
    rows = impact.with_columns(
        pl.struct("customer_id", "tag_id")
        .map_elements(
            lambda key: KNOWN_EFFECTS[key["customer_id"]][key["tag_id"]], return_dtype=pl.Float64
        )
        .alias("known")
    )
    for row in rows.iter_rows(named=True):
        where = f"{row['customer_id']}/{row['tag_id']}: {row}"
        effect, known, se = row["performance_difference"], row["known"], row["standard_error"]
        assert abs(effect - known) < 3 * se, where
        if known > 0:
            assert row["confidence_interval_low"] > 0 and row["correlation_coefficient"] > 0, where
        elif known < 0:
            assert row["confidence_interval_high"] < 0 and row["correlation_coefficient"] < 0, where
        else:
            assert abs(effect) < 0.5 and abs(row["correlation_coefficient"]) < 0.05, where
    # The effects' order is the known effects' order, per customer.
    for customer_id in KNOWN_EFFECTS:
        ranked = rows.filter(pl.col("customer_id") == customer_id)
        rank = np.corrcoef(
            ranked["known"].rank().to_numpy(), ranked["performance_difference"].rank().to_numpy()
        )[0, 1]
        assert rank > 0.9, (customer_id, rank)
    zero = rows.filter(pl.col("known") == 0)
    assert zero["raw_difference"].min() > 2.5  # what a naive before/after would report


# --- A customer's run: the training marts replace that customer's rows only ---------------


def materialize_customer(project_dir, warehouse, customer_id: str, customers=tuple(KNOWN_EFFECTS)):
    """The training job (assets/jobs.py) for one customer's partition, with its dbt models and
    a stand-in for the catalog's customer-partitioned assets (not what this is about); a
    failure is returned, not raised."""
    from assets.jobs import training
    from assets.training.partitions import customers as customer_partitions
    from assets.warehouse.assets import build_fieldwork_dbt_assets
    from resources.dbt import build_dbt_project, build_dbt_resource

    @dg.asset(partitions_def=customer_partitions, group_name="training")
    def catalog_stand_in() -> None:
        """The training family's Python assets, partitioned by customer as they are."""

    project = build_dbt_project(project_dir)  # its manifest prepared by the module's build
    defs = dg.Definitions(
        assets=[catalog_stand_in, *build_fieldwork_dbt_assets(project)],
        jobs=[training],
        resources={"dbt": build_dbt_resource(project), "warehouse": warehouse},
    )
    return defs.resolve_job_def("training").execute_in_process(
        partition_key=customer_id, instance=training_instance(customers), raise_on_error=False
    )


def mart_rows(warehouse, mart: str, customer_id: str) -> pl.DataFrame:
    return warehouse.query(
        f"select * from analytics.{mart} where customer_id = '{customer_id}' order by all"
    )


def test_a_customer_run_rebuilds_that_customer_only(built, tmp_path, monkeypatch):
    """Customer B's run leaves every other customer's mart rows as they were, even A's once
    A's raw rows changed; B's rows follow B's new input, a module whose tags are gone
    included."""
    _, _, loaded, shared, project_dir = built
    a, b = "acme-pharma", "northwind-software"
    # A copy of the built warehouse (same file name: the views name the database by it).
    (tmp_path / "copy").mkdir()
    shutil.copyfile(shared.path, tmp_path / "copy" / "warehouse.duckdb")
    warehouse = DuckDBWarehouse(path=str(tmp_path / "copy" / "warehouse.duckdb"))
    before = {
        (mart, customer): mart_rows(warehouse, mart, customer)
        for mart in TRAINING_MARTS
        for customer in loaded
    }

    assert all(before[mart, a].height for mart in TRAINING_MARTS)

    # A reloaded: every metric 10 points up, every learner in another region.
    changed_a = {
        "raw.training_field_performance": loaded[a]["raw.training_field_performance"].with_columns(
            pl.col("value") + 10
        ),
        "raw.training_learners": loaded[a]["raw.training_learners"].with_columns(
            region=pl.lit("Elsewhere")
        ),
    }
    # B reloaded: every metric doubled, its first module's tags gone, its learners moved.
    tags = loaded[b]["raw.training_module_tags"]
    untagged = tags["module_id"].min()
    changed_b = {
        "raw.training_field_performance": loaded[b]["raw.training_field_performance"].with_columns(
            pl.col("value") * 2
        ),
        "raw.training_module_tags": tags.filter(pl.col("module_id") != untagged),
        "raw.training_learners": loaded[b]["raw.training_learners"].with_columns(
            region=pl.lit("Moved")
        ),
    }
    for customer, tables in ((a, changed_a), (b, changed_b)):
        warehouse.load_partitions(
            [PartitionLoad(t, "customer_id", customer, frame=f) for t, f in tables.items()]
        )

    monkeypatch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
    result = materialize_customer(project_dir, warehouse, b)

    assert result.success
    checks = dbt_check_results(result)
    assert checks and all(checks.values()), {n for n, passed in checks.items() if not passed}
    moved = [
        (mart, customer)
        for mart in TRAINING_MARTS
        for customer in loaded.keys() - {b}
        if not mart_rows(warehouse, mart, customer).equals(before[mart, customer])
    ]
    assert not moved

    new_b = {**loaded[b], **changed_b}
    assert_impact_matches(mart_rows(warehouse, "training_impact", b), expected_impact({b: new_b}))
    learners = mart_rows(warehouse, "learners", b)
    assert learners.height == loaded[b]["raw.training_learners"].height
    assert set(learners["region"]) == {"Moved"}
    module_tags = mart_rows(warehouse, "module_tags", b)
    assert module_tags.height == changed_b["raw.training_module_tags"].height
    assert untagged not in module_tags["module_id"].to_list()
    catalog = mart_rows(warehouse, "module_catalog", b)
    assert catalog.filter(pl.col("module_id") == untagged)["tag_count"].to_list() == [0]
    assert sorted(mart_rows(warehouse, "field_performance", b)["metric_value"]) == sorted(
        changed_b["raw.training_field_performance"]["value"]
    )
    # The run reports its customer's rows, not the whole table's.
    counts = row_counts(result)
    assert counts["learners"] == learners.height
    assert counts["field_performance"] == changed_b["raw.training_field_performance"].height


@pytest.mark.parametrize("bad", ["acme' or '1'='1", "acme-pharma\n"])
def test_a_partition_that_cannot_be_a_customer_is_refused_naming_it(built, monkeypatch, bad):
    """A run whose partition key is no customer id fails before dbt runs, naming the key (a
    trailing newline too: it would match nobody's rows and succeed having done nothing)."""
    _, _, _, warehouse, project_dir = built
    monkeypatch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
    result = materialize_customer(project_dir, warehouse, bad, customers=(bad,))

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(failure.step_failure_data.error or failure.step_failure_data.user_failure_data)
    assert repr(bad) in message and "not a slug" in message
