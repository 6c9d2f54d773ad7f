"""The dbt models and seeds as Dagster assets; their dbt tests as asset checks.

One `@dbt_assets` set for the whole project: every model is a table or view built by
`dbt build`, so they share one materialization style. Each asset sits in the group of its
family (the folder under `models/staging` or `models/marts`: `postings`, `weather`, ...),
next to the Python assets that feed it.
"""

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from assets.warehouse.project import fieldwork_dbt_project

# The layers of the project; the folder below one of them names the family.
LAYERS = ("staging", "intermediate", "marts", "views")
DEFAULT_GROUP = "warehouse"
DEFAULT_OWNERS = ["team:analytics-engineering"]


class FieldworkDbtTranslator(DagsterDbtTranslator):
    """Groups dbt assets by family and describes them for the analytics engineers."""

    def __init__(self, project: DbtProject):
        super().__init__(
            settings=DagsterDbtTranslatorSettings(
                enable_asset_checks=True, enable_code_references=True
            )
        )
        self._project_dir = project.project_dir

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        parts = PurePosixPath(dbt_resource_props.get("path") or "").parts
        if dbt_resource_props["resource_type"] == "model" and len(parts) > 2 and parts[0] in LAYERS:
            return parts[1]
        # Seeds and snapshots name their family in `meta: {dagster: {group: ...}}`.
        return super().get_group_name(dbt_resource_props) or DEFAULT_GROUP

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        return list(super().get_owners(dbt_resource_props) or DEFAULT_OWNERS)

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        # The yml description is what an engineer reads in the UI; the SQL is one click away.
        description = (dbt_resource_props.get("description") or "").strip()
        return description or super().get_description(dbt_resource_props)

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        metadata = dict(super().get_metadata(dbt_resource_props))
        if relation := dbt_resource_props.get("relation_name"):
            metadata["warehouse_relation"] = dg.MetadataValue.text(relation)
        if original_file := dbt_resource_props.get("original_file_path"):
            metadata["dbt_file"] = dg.MetadataValue.path(
                str(self._project_dir / original_file)
            )
        return metadata


def build_fieldwork_dbt_assets(project: DbtProject) -> dg.AssetsDefinition:
    """The `@dbt_assets` of `project`; its manifest must exist (see `project.prepare_manifest`)."""

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=FieldworkDbtTranslator(project),
        name="fieldwork_dbt_assets",
    )
    def fieldwork_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        """`dbt build` of the selected models, seeds and tests; row counts of the tables built."""
        invocation = dbt.cli(["build"], context=context)
        try:
            yield from invocation.stream().fetch_row_counts()
        finally:
            release_warehouse(invocation)

    return fieldwork_dbt_assets


def release_warehouse(invocation) -> None:
    """Close the connection dagster-dbt opened in this process to count rows.

    dbt-duckdb keeps its database open in a class attribute for the life of the process, and
    DuckDB admits one writer per file: left open, it would block the next load into the
    warehouse from this process (a notebook, an in-process run). Snowflake needs only the
    connection cleanup.
    """
    adapter = invocation.adapter
    if adapter is None:
        return
    adapter.cleanup_connections()
    manager = type(adapter.connections)
    environment = getattr(manager, "_ENV", None)  # dbt-duckdb's process-wide database handle
    if environment is not None:
        environment.close()
        manager._ENV = None


fieldwork_dbt_assets = build_fieldwork_dbt_assets(fieldwork_dbt_project)
