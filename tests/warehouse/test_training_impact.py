"""The training impact mart, built by dbt through Dagster on DuckDB from the reference
catalog's seeded data with the true tags, checked against an independent computation
(numpy least squares, polars means) and against the effects the seed was made with."""

from __future__ import annotations

import dagster as dg
import numpy as np
import polars as pl
import pytest

from model_servers.training_catalog.seed import KNOWN_EFFECTS
from resources.warehouse import DuckDBWarehouse
from tests.helpers import (
    IMPACT_KEY,
    dbt_check_results,
    expected_impact,
    load_raw_training_tables,
    materialize_warehouse,
    private_dbt_project,
    seeded_store,
)

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The seed with its true tags in the raw tables, and the training models built."""
    folder = tmp_path_factory.mktemp("impact")
    store = seeded_store(folder)
    warehouse = DuckDBWarehouse(path=str(folder / "warehouse.duckdb"))
    loaded = load_raw_training_tables(warehouse, store, true_tags=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
        result = materialize_warehouse(
            private_dbt_project(folder), warehouse, dg.AssetSelection.groups("training")
        )
    impact = warehouse.query("select * from analytics.training_impact")
    return result, impact, loaded


def test_the_mart_matches_an_independent_computation(built):
    result, impact, loaded = built
    expected = expected_impact(loaded)
    actual = impact.sort(IMPACT_KEY)

    assert actual.select(IMPACT_KEY).equals(expected.select(IMPACT_KEY))
    assert actual.height == sum(len(effects) for effects in KNOWN_EFFECTS.values())
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

    assert result.success
    checks = dbt_check_results(result)
    assert all(checks.values()), {name for name, passed in checks.items() if not passed}
    assert any(name.startswith("expression_is_true_training_impact") for name in checks)


def test_the_recovered_effects_track_the_known_effects(built):
    """With the true tags, each tag's effect is the one the seed added: positive tags
    positive, zero near zero, negative negative, each within three standard errors. The raw
    before/after difference cannot tell them apart: it also holds the other tags' effects."""
    _, impact, _ = built
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
