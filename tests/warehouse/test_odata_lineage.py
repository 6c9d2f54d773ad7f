"""The OData views in the platform's definition graph: lineage without a gap from the assets
that read raw files and the catalog to every view, a freshness check on every relation a view
reads, the grants step after the views, and dbt tests as described, blocking checks."""

from __future__ import annotations

import dagster as dg

from assets.warehouse.freshness import VIEW_INPUTS
from assets.warehouse.odata_contract import load_contract
from definitions import defs

CONTRACT = load_contract()
VIEWS = [dg.AssetKey(["odata", name]) for name in CONTRACT.names]
# Where each view's rows come from: the assets that read files or the training catalog.
SOURCES = {
    "TrainingModules": {"training_modules"},
    "ModuleTags": {"training_modules"},
    "Learners": {"training_records"},
    "TrainingCompletions": {"training_records"},
    "FieldPerformance": {"training_records"},
    "TrainingImpact": {"training_records", "training_modules"},
    "JobPostings": {"raw_job_postings", "augmented_job_postings"},
    "HeatIndex": {"weather_readings", "heat_index_readings"},
}


def test_every_view_descends_from_the_assets_that_read_its_sources():
    graph = defs.resolve_asset_graph()
    for view in VIEWS:
        ancestors = {key.to_user_string() for key in graph.upstream_key_iterator(view)}
        name = view.path[-1]
        assert SOURCES[name] <= ancestors, (name, SOURCES[name] - ancestors)
        # Every view is filtered through the entitlements, which follow the customers table.
        assert {"customer_entitlements", "training_customers"} <= ancestors, name
        # No gap: every ancestor is an asset the platform materializes, none a bare key.
        for key in graph.upstream_key_iterator(view):
            assert graph.get(key).is_materializable, (name, key.to_user_string())


def test_every_relation_a_view_reads_has_a_freshness_check():
    graph = defs.resolve_asset_graph()
    parents = set()
    for view in VIEWS:
        parents |= {key.to_user_string() for key in graph.get(view).parent_keys}
    # The seed (seven fixed levels) and the entitlements (they follow the customers table)
    # have no age to check.
    assert parents - {"seniority_levels", "customer_entitlements"} == set(VIEW_INPUTS)
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    for name in VIEW_INPUTS:
        assert (name, "freshness_check") in checks, name


def test_the_grants_step_follows_the_views_and_the_entitlements():
    graph = defs.resolve_asset_graph()
    parents = {key.to_user_string() for key in graph.get(dg.AssetKey("odata_grants")).parent_keys}
    assert parents == {"customer_entitlements", *(view.to_user_string() for view in VIEWS)}


def test_dbt_tests_are_described_checks_blocking_at_error_severity():
    graph = defs.resolve_asset_graph()
    training = [
        key
        for key in graph.asset_check_keys
        if key.asset_key.to_user_string() in {"training_impact", "stg_training__completions"}
    ]
    assert len(training) >= 10
    for key in training:
        spec = graph.get_check_spec(key)
        assert spec.description, key
        if key.name != "freshness_check":
            assert spec.blocking, key
    impact = {key.name: graph.get_check_spec(key) for key in training}
    converged = next(spec for name, spec in impact.items() if "solver_relative_residual" in name)
    assert "solver converged" in converged.description
    not_null = impact["not_null_stg_training__completions_learner_id"]
    assert not_null.description == (
        "dbt test not_null on column learner_id; a failure blocks downstream assets."
    )
