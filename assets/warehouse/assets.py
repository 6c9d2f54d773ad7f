"""The dbt models and seeds as Dagster assets; their dbt tests as asset checks.

One `@dbt_assets` set per family, so a failure in one family's inputs skips only that
family's models. Each asset sits in the group of its family (the folder under
`models/staging` or `models/marts`: `postings`, `weather`, `training`), next to the Python
assets that feed it, unless its dbt `meta.dagster.group` names another (the OData views,
`models/marts/odata`, sit in `warehouse` with the entitlements and grants).

The day-partitioned families' models (postings, weather) share the daily partitions: a run
for a day, or a backfill's range of days, passes its days to dbt as `min_date`/`max_date`
and the incremental marts rebuild those days only (dbt_project/macros/incremental_days.sql).
A run without a partition builds every day. The seeds are reference data, not daily: they
form their own unpartitioned set.

The training models are not partitioned themselves but run in the training job, whose runs
are a customer's: such a run passes its customer to dbt (`customer_id`, as the days are
passed) and the training marts replace that customer's rows only
(dbt_project/macros/incremental_customers.sql). A run without a customer builds every
customer.
"""

import datetime
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtCliRuntimeError,
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from pydantic import Field

from assets.partitions import daily_partitions
from assets.training.partitions import CUSTOMERS_PARTITIONS, check_customer_id
from resources.dbt import dbt_invocation, dbt_vars_args, fieldwork_dbt_project, manifest_path
from resources.warehouse import Warehouse

# The layers of the project; the folder below one of them names the family.
LAYERS = ("staging", "intermediate", "marts", "views")
DEFAULT_GROUP = "warehouse"
DEFAULT_OWNERS = ["team:analytics-engineering"]
# Families with dbt models; each tags its models, seeds and tests in dbt_project.yml.
DBT_FAMILIES = ("postings", "weather", "training", "odata")
# Families whose data is partitioned by day; their models take the daily partitions.
DAILY_DBT_FAMILIES = ("postings", "weather")
SEEDS = "resource_type:seed"
# How far back declarative automation follows a day's new data (older days: a backfill).
AUTOMATION_LOOKBACK = datetime.timedelta(days=7)
# The incremental strategy of the customer-partitioned marts (macros/incremental_customers.sql)
# and the column it replaces rows by.
CUSTOMER_STRATEGY = "customer_replace"
CUSTOMER_COLUMN = "customer_id"


class DbtBuildConfig(dg.Config):
    """Run configuration of a dbt build (the launchpad in the UI)."""

    full_refresh: bool = Field(
        default=False,
        description=(
            "Rebuild incremental marts from every day (`dbt build --full-refresh`): needed "
            "once after a change of their columns, which an incremental run refuses."
        ),
    )


class FieldworkDbtTranslator(DagsterDbtTranslator):
    """Groups dbt assets by family and describes them for the analytics engineers."""

    def __init__(self, project: DbtProject):
        super().__init__(
            settings=DagsterDbtTranslatorSettings(
                enable_asset_checks=True,
                enable_code_references=True,
                # One asset may load several raw tables (training_modules loads the
                # taxonomy, modules and module tags): each is a dbt source with its key.
                enable_duplicate_source_asset_keys=True,
            )
        )
        self._project_dir = project.project_dir

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # Seeds, snapshots and the OData views name their group in `meta.dagster.group`.
        if named := super().get_group_name(dbt_resource_props):
            return named
        parts = PurePosixPath(dbt_resource_props.get("path") or "").parts
        if dbt_resource_props["resource_type"] == "model" and len(parts) > 2 and parts[0] in LAYERS:
            return parts[1]
        return DEFAULT_GROUP

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        return list(super().get_owners(dbt_resource_props) or DEFAULT_OWNERS)

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        """Declarative automation: a model is requested when what it reads was updated by a
        run that did not build it too (a raw asset materialized alone, a customer's step
        re-run, a mart the OData views read), so the warehouse follows new data without a
        click. The default automation condition sensor evaluates it (the Automation page).

        `eager()`, adjusted where the stock condition would not follow our data:
        - a day-partitioned model follows the last week's days, not only the latest: a day
          reloaded late or re-run is rebuilt as well (its run passes that day to the
          incremental marts); older days are a backfill's, and a seed rebuilt alone must not
          request every day there is;
        - an unpartitioned model over partitioned inputs (the training models over the
          customers' partitions, the OData views over the daily marts) is not held back by a
          missing partition of an input: a customer not run yet or a day without files is
          the normal state, and stock eager would wait for it for ever.
        Seeds are reference data built by their family's job: no condition.
        """
        if declared := super().get_automation_condition(dbt_resource_props):
            return declared
        if dbt_resource_props["resource_type"] != "model":
            return None
        eager = dg.AutomationCondition.eager()
        if set(dbt_resource_props.get("tags") or ()) & set(DAILY_DBT_FAMILIES):
            return eager.replace(
                dg.AutomationCondition.in_latest_time_window(),
                dg.AutomationCondition.in_latest_time_window(lookback_delta=AUTOMATION_LOOKBACK),
            ).with_label(f"eager, the last {AUTOMATION_LOOKBACK.days} days")
        return eager.without(~dg.AutomationCondition.any_deps_missing()).with_label(
            "eager, inputs' missing partitions allowed"
        )

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        # The yml description is what an engineer reads in the UI; the SQL is one click away.
        description = (dbt_resource_props.get("description") or "").strip()
        return description or super().get_description(dbt_resource_props)

    def get_asset_check_spec(
        self,
        asset_spec: dg.AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> dg.AssetCheckSpec | None:
        """The dbt test as a check (blocking when its severity is error, as dagster-dbt sets
        it), with the test's own description or one that says what it tests."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=describe_dbt_test(manifest["nodes"][unique_id]))

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        metadata = dict(super().get_metadata(dbt_resource_props))
        if relation := dbt_resource_props.get("relation_name"):
            metadata["warehouse_relation"] = dg.MetadataValue.text(relation)
        meta = (dbt_resource_props.get("config") or {}).get("meta") or {}
        if partition_column := meta.get("partition_column"):
            metadata["fieldwork/partition_column"] = partition_column
        if original_file := dbt_resource_props.get("original_file_path"):
            metadata["dbt_file"] = dg.MetadataValue.path(str(self._project_dir / original_file))
        return metadata


def describe_dbt_test(test: Mapping[str, Any]) -> str:
    """One line for a dbt test that has no description: the test, its column and arguments,
    and whether a failure blocks what is downstream."""
    metadata = test.get("test_metadata") or {}
    kind = metadata.get("name") or test.get("name", "test")  # singular tests have none
    arguments = dict(metadata.get("kwargs") or {})
    arguments.pop("model", None)
    column = arguments.pop("column_name", None)
    target = f"column {column}" if column else "each row" if arguments else "the model"
    details = ", ".join(
        f"{name}={value}" for name, value in sorted(arguments.items()) if value is not None
    )
    severity = ((test.get("config") or {}).get("severity") or "error").lower()
    effect = "blocks downstream assets" if severity == "error" else "warns only"
    return (
        f"dbt test {kind} on {target}"
        + (f" ({details})" if details else "")
        + (f"; a failure {effect}.")
    )


def build_fieldwork_dbt_assets(project: DbtProject) -> list[dg.AssetsDefinition]:
    """One `@dbt_assets` per family (its models carry the family's dbt tag), the daily
    families' on the daily partitions, and one for the seeds. The manifest must be prepared."""
    return [
        *(build_family_dbt_assets(project, family) for family in DBT_FAMILIES),
        # Only the seeds' own tests: a test joining a model to a seed (relationships) runs
        # with the model, which may not be built yet when the seeds are.
        build_dbt_set(
            project, name="fieldwork_dbt_seeds", select=SEEDS, indirect_selection="cautious"
        ),
    ]


def build_family_dbt_assets(project: DbtProject, family: str) -> dg.AssetsDefinition:
    daily = family in DAILY_DBT_FAMILIES
    # The family's models; their tests follow them (dbt's indirect selection), a test that
    # joins a model to a seed included. (`--exclude` of the seeds would drop those tests.)
    return build_dbt_set(
        project,
        name=f"{family}_dbt_models",
        select=f"tag:{family},resource_type:model",
        partitions_def=daily_partitions if daily else None,
    )


def build_dbt_set(
    project: DbtProject,
    *,
    name: str,
    select: str,
    partitions_def: dg.PartitionsDefinition | None = None,
    indirect_selection: str | None = None,
) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=manifest_path(project),
        project=project,
        dagster_dbt_translator=FieldworkDbtTranslator(project),
        select=select,
        name=name,
        partitions_def=partitions_def,
    )
    def dbt_models(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: Warehouse,
        config: DbtBuildConfig,
    ):
        """`dbt build` of the selected models, seeds and tests, for the run's days or
        customer when it has some; row counts of what it built.

        The build holds the warehouse like any writer, so readers see its result whole,
        once it is done, and a concurrent load waits instead of failing on DuckDB's lock.
        """
        days = build_days(context)
        customer = build_customer(context)
        args = ["build", *dbt_vars_args(warehouse.dbt_vars())]
        if indirect_selection:
            args += ["--indirect-selection", indirect_selection]
        if config.full_refresh:
            args.append("--full-refresh")
        scope = (
            f"days {days['min_date']} to {days['max_date']}"
            if days
            else f"customer {customer['customer_id']}"
            if customer
            else "every day and customer"
        )
        refresh = " from scratch (--full-refresh)" if config.full_refresh else ""
        context.log.info(f"dbt build of {scope}{refresh}")
        # The days and customer reach dbt as environment variables, not --vars: a change of
        # vars would make dbt parse the whole project again at every run.
        run_values = {**days, **customer}
        with (
            warehouse.writing(),
            dbt_invocation(dbt, args, context=context, run_values=run_values) as invocation,
        ):
            # Tables are counted once dbt has let go of the warehouse (DuckDB admits one
            # writing process), so materializations wait for the end of the build; test
            # results stream as they come.
            built, failure = [], None
            try:
                for event in invocation.stream():
                    if isinstance(event, dg.Output | dg.AssetMaterialization):
                        built.append(event)
                    else:
                        yield event
            except DagsterDbtCliRuntimeError as error:
                failure = error
            for event in built:
                yield with_row_count(event, warehouse, context, days, customer, invocation.manifest)
            if failure is not None:
                raise failure

    return dbt_models


def build_days(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's days as the dbt vars the incremental marts read (`min_date`, `max_date`,
    both included), each checked to be one of the days. None for an unpartitioned set, even
    in a partitioned run (the training models run in a customer's run)."""
    if context.assets_def.partitions_def is None:
        return {}
    # A run for one day has a key and no range; a backfill's single run has a range.
    if not (context.has_partition_key or context.has_partition_key_range):
        return {}
    days = context.partition_key_range
    for day in (days.start, days.end):
        daily_partitions.check_day(day)
    return {"min_date": days.start, "max_date": days.end}


def build_customer(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's customer as the run value the customer-partitioned marts read (`customer_id`),
    checked to be a customer id, when the set is unpartitioned and runs in a job partitioned
    by customer (the training job). None otherwise: a partitioned set (its days), a run
    without a partition, a day's run, or a single run over a range of customers (which
    builds every customer)."""
    if context.assets_def.partitions_def is not None or not context.has_partition_key:
        return {}
    job_partitions = context.job_def.partitions_def
    if not (
        isinstance(job_partitions, dg.DynamicPartitionsDefinition)
        and job_partitions.name == CUSTOMERS_PARTITIONS
    ):
        return {}
    try:
        customer_id = check_customer_id(context.partition_key)
    except ValueError as error:
        raise dg.Failure(
            description=f"dbt build of {context.assets_def.node_def.name}: partition {error}"
        ) from None
    return {"customer_id": customer_id}


def with_row_count(
    event,
    warehouse: Warehouse,
    context: dg.AssetExecutionContext,
    days: Mapping[str, str],
    customer: Mapping[str, str] | None = None,
    manifest: Mapping[str, Any] | None = None,
):
    """The event with `dagster/row_count` added when it is a built table or view: the rows of
    the run's days when it has some and the model names its day column, the rows of the
    run's customer when it has one and the model replaces rows by customer, else all its
    rows.

    Counted through the warehouse resource rather than dagster-dbt's `fetch_row_counts`,
    which opens a dbt adapter inside this process and, on DuckDB, keeps the file open.
    """
    if isinstance(event, dg.Output):
        key = context.asset_key_for_output(event.output_name)
    elif isinstance(event, dg.AssetMaterialization):
        key = event.asset_key
    else:
        return event
    metadata = context.assets_def.specs_by_key[key].metadata
    relation = metadata.get("dagster/table_name")
    if relation is None:
        return event
    day_column = metadata.get("fieldwork/partition_column")
    where = (
        f"{day_column} between date '{days['min_date']}' and date '{days['max_date']}'"
        if days and day_column
        else None
    )
    if customer and manifest and where is None:
        unique_id = event.metadata.get("unique_id")
        node = manifest.get("nodes", {}).get(getattr(unique_id, "value", unique_id)) or {}
        if (node.get("config") or {}).get("incremental_strategy") == CUSTOMER_STRATEGY:
            # A checked slug (build_customer): no quote can reach the SQL.
            where = f"{CUSTOMER_COLUMN} = '{customer['customer_id']}'"
    try:
        count = warehouse.row_count(relation, where=where)
    except Exception as error:  # a count is a nicety: never fail a built model over it
        context.log.warning(f"no row count for {relation}: {error}")
        return event
    return event.with_metadata({**event.metadata, "dagster/row_count": count})


fieldwork_dbt_assets = build_fieldwork_dbt_assets(fieldwork_dbt_project)
