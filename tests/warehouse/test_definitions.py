"""The warehouse definitions load on a fresh clone (no dbt manifest yet), cheaply after that."""

from __future__ import annotations

import time

import dagster as dg
import pytest

from assets.warehouse.assets import build_fieldwork_dbt_assets
from assets.warehouse.project import build_dbt_project, build_dbt_resource, prepare_manifest

POSTINGS_MODELS = {"stg_postings__job_postings", "postings_by_company_seniority", "seniority_levels"}


def test_definitions_load_without_a_manifest(dbt_project_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
    monkeypatch.setenv("FIELDWORK_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    project = build_dbt_project(dbt_project_dir)
    assert not project.manifest_path.exists()

    prepare_manifest(project)
    assert project.manifest_path.exists()
    started = time.perf_counter()
    prepare_manifest(project)  # present now: nothing to do
    assert time.perf_counter() - started < 0.5

    defs = dg.Definitions(
        assets=[build_fieldwork_dbt_assets(project)], resources={"dbt": build_dbt_resource(project)}
    )
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert POSTINGS_MODELS <= set(specs)
    assert {specs[name].group_name for name in POSTINGS_MODELS} == {"postings"}
    assert all(specs[name].owners for name in POSTINGS_MODELS)
    assert "dbt_file" in specs["postings_by_company_seniority"].metadata
    # The dbt source is the postings family's asset, so lineage runs through it.
    stg_deps = {dep.asset_key for dep in specs["stg_postings__job_postings"].deps}
    assert stg_deps == {dg.AssetKey("augmented_job_postings")}

    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert "assert_company_shares_sum_to_one" in checks
    assert any(name.startswith("unique_combination_of_columns_stg_postings") for name in checks)


@pytest.mark.slow
def test_the_platform_definitions_include_the_dbt_assets():
    import definitions

    keys = {spec.key.to_user_string() for spec in definitions.defs.resolve_all_asset_specs()}
    assert POSTINGS_MODELS <= keys
    assert "augmented_job_postings" in keys
