"""The dbt assets as Dagster defines them: a missing manifest says how to make it, a prepared
one gives every model its group, owner, table and family lineage."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.warehouse.assets import build_fieldwork_dbt_assets
from resources.dbt import ManifestMissing, build_dbt_project, build_dbt_resource, prepare_manifest
from resources.warehouse import DuckDBWarehouse

POSTINGS_MODELS = {
    "stg_postings__job_postings",
    "postings_by_company_seniority",
    "seniority_levels",
}


def test_a_missing_manifest_names_the_command_that_prepares_it(dbt_project_dir, monkeypatch):
    monkeypatch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
    project = build_dbt_project(dbt_project_dir)
    assert not project.manifest_path.exists()
    with pytest.raises(ManifestMissing, match="make setup"):
        build_fieldwork_dbt_assets(project)


def test_a_prepared_manifest_gives_groups_owners_tables_and_lineage(
    dbt_project_dir, monkeypatch, tmp_path
):
    monkeypatch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
    project = build_dbt_project(dbt_project_dir)
    prepare_manifest(project)

    defs = dg.Definitions(
        assets=build_fieldwork_dbt_assets(project),
        resources={
            "dbt": build_dbt_resource(project),
            "warehouse": DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb")),
        },
    )
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert POSTINGS_MODELS <= set(specs)
    assert {specs[name].group_name for name in POSTINGS_MODELS} == {"postings"}
    assert all(specs[name].owners for name in POSTINGS_MODELS)
    mart = specs["postings_by_company_seniority"].metadata
    assert "dbt_file" in mart
    assert mart["dagster/table_name"].endswith("analytics.postings_by_company_seniority")
    assert mart["fieldwork/partition_column"] == "posting_date"
    # The dbt source is the postings family's asset, so lineage runs through it.
    stg_deps = {dep.asset_key for dep in specs["stg_postings__job_postings"].deps}
    assert stg_deps == {dg.AssetKey("augmented_job_postings")}

    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert "assert_company_shares_sum_to_one" in checks
    assert any(name.startswith("unique_combination_of_columns_stg_postings") for name in checks)


def test_an_edited_model_makes_the_manifest_stale(dbt_project_dir, monkeypatch):
    """What `dagster dev` re-parses on, and what a warning names otherwise."""
    import os

    from resources.dbt import manifest_is_stale

    monkeypatch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
    project = build_dbt_project(dbt_project_dir)
    assert manifest_is_stale(project)  # none yet
    prepare_manifest(project)
    assert not manifest_is_stale(project)
    model = next((dbt_project_dir / "models").rglob("*.sql"))
    later = project.manifest_path.stat().st_mtime + 5
    os.utime(model, (later, later))
    assert manifest_is_stale(project)
