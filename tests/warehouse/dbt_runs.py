"""Helpers the dbt tests share: build the Dagster assets for a copy of the project and run them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from assets.warehouse.assets import build_fieldwork_dbt_assets
from assets.warehouse.project import build_dbt_project, build_dbt_resource, prepare_manifest


def materialize_postings_models(project_dir: Path, *, raise_on_error: bool = True):
    """`dbt build` of the postings family through Dagster, on the target the environment picks."""
    project = build_dbt_project(project_dir)
    prepare_manifest(project)
    return dg.materialize(
        [build_fieldwork_dbt_assets(project)],
        resources={"dbt": build_dbt_resource(project)},
        selection=dg.AssetSelection.groups("postings"),
        raise_on_error=raise_on_error,
    )


def check_results(result) -> dict[str, bool]:
    """Asset-check name -> passed, for every dbt test Dagster recorded."""
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def row_counts(result) -> dict[str, int | None]:
    """Asset key -> row count streamed from dbt (None for views and when it was not fetched)."""
    counts = {}
    for event in result.get_asset_materialization_events():
        value = event.materialization.metadata.get("dagster/row_count")
        counts[event.asset_key.to_user_string()] = value.value if value is not None else None
    return counts
