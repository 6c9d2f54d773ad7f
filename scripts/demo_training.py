"""The training family's part of `make demo`: every customer of the reference catalog tagged.

The customers become the `customers` partitions (as `training_customers_sensor` does), then
one run per customer of the training job's own assets (catalog, suggestions, review file,
approval, application) is launched through the instance like the other families' runs, a few
at a time; the family's dbt models, if the project has any, are built once after them (not
once per customer). Nothing is approved in the demo: the review files wait for a person.

On the local defaults every run would start its own reference catalog and tagger (the tagger
imports scikit-learn, about 5 s, before its first answer) and stop the embedded suggestion
cache when done (about 2 s here). The demo starts one of each for all its runs instead and
points the runs at them (TRAINING_CATALOG_ENDPOINT, TAGGING_MODEL_ENDPOINT, for the code
server it starts); the runs are the same runs, with the same answers.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from assets.training.partitions import CUSTOMERS_PARTITIONS, customers, partition_changes
from assets.training.review import review_key
from assets.training.tables import SCHEMAS
from resources import (
    build_storage,
    build_suggestion_cache,
    build_tagging_model,
    build_training_catalog,
    settings,
)
from resources.grpc_client import reference_server
from scripts.demo_weather import materialization_metadata
from scripts.launch import FINISHED, WORKSPACE, LaunchedRun

TRAINING_JOB = "training"
# The family's Python assets, run per customer (the registry too: it is cheap, and one
# selection for every run is one job subset to compute); the rest of the group (the dbt
# models) once, after them.
PER_CUSTOMER = (
    "training_customers",
    "training_modules",
    "training_records",
    "tag_suggestions",
    "tag_review",
    "reviewed_tags",
    "applied_tags",
)
# Runs at once: each run worker imports the libraries (about 7 s of CPU) and starts its own
# reference servers; two at a time keeps both cores busy without queueing on them.
CONCURRENT_RUNS = 2


@contextlib.contextmanager
def shared_reference_servers() -> Iterator[None]:
    """The reference catalog and tagger, started once for every run of the demo (only those
    that no endpoint replaces), and the suggestion cache held open so runs leave it up."""
    variables = {}
    with contextlib.ExitStack() as stack:
        for endpoint, variable, resource in (
            (
                settings.training_catalog_endpoint(),
                "TRAINING_CATALOG_ENDPOINT",
                build_training_catalog(),
            ),
            (settings.tagging_model_endpoint(), "TAGGING_MODEL_ENDPOINT", build_tagging_model()),
        ):
            if endpoint is None:
                variables[variable] = stack.enter_context(
                    reference_server(
                        resource.REFERENCE_SERVER_MODULE,
                        resource.connect_timeout_seconds,
                        resource.reference_server_args(),
                    )
                )
        stack.enter_context(build_suggestion_cache().connect())
        before = {name: os.environ.get(name) for name in variables}
        os.environ.update(variables)
        try:
            yield
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def sync_customers(instance: dg.DagsterInstance) -> list[str]:
    """The catalog's customers as the `customers` partitions (the sensor's job when the
    daemon runs; the demo has no daemon)."""
    with build_training_catalog().connect() as catalog:
        found = sorted(c.customer_id for c in catalog.list_customers())
    partition_changes(instance.get_dynamic_partitions(CUSTOMERS_PARTITIONS), found).apply(instance)
    return found


@dataclass
class _Launcher:
    """Creates runs of the training job's asset subsets from the workspace's code location
    (the origin a UI-launched run has) and starts them with the instance's run launcher."""

    instance: dg.DagsterInstance
    process: WorkspaceProcessContext
    location_name: str = "fieldwork"
    started: dict[str, float] = field(default_factory=dict)
    _subsets: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workspace = self.process.create_request_context()
        self.location = self.workspace.get_code_location(self.location_name)
        [self.repository] = self.location.get_repositories().values()

    def group_assets(self) -> set[dg.AssetKey]:
        graph = self.repository.asset_graph
        return {k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "training"}

    def subset(self, assets: frozenset[dg.AssetKey]):
        """The job's subset of `assets` and its execution plan, asked of the code server once
        per selection (several seconds each)."""
        if assets not in self._subsets:
            selector = JobSubsetSelector(
                location_name=self.location_name,
                repository_name=self.repository.name,
                job_name=TRAINING_JOB,
                op_selection=None,
                asset_selection=assets,
            )
            remote_job = self.location.get_job(selector)
            plan = self.location.get_execution_plan(
                remote_job, {}, step_keys_to_execute=None, known_state=None, instance=self.instance
            )
            self._subsets[assets] = (remote_job, plan)
        return self._subsets[assets]

    def launch(self, assets: set[dg.AssetKey], customer_id: str) -> str:
        remote_job, plan = self.subset(frozenset(assets))
        run = self.instance.create_run(
            job_name=TRAINING_JOB,
            run_id=None,
            run_config={},
            resolved_op_selection=None,
            step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags={**remote_job.tags, **customers.get_tags_for_partition_key(customer_id)},
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=frozenset(assets),
            asset_check_selection=None,
            asset_graph=self.repository.asset_graph,
        )
        self.instance.launch_run(run.run_id, self.workspace)
        self.started[run.run_id] = time.perf_counter()
        return run.run_id

    def finished(self, run_id: str) -> LaunchedRun | None:
        current = self.instance.get_run_by_id(run_id)
        if current is None or current.status not in FINISHED:
            return None
        events = [
            entry.dagster_event
            for entry in self.instance.all_logs(run_id)
            if entry.dagster_event is not None
        ]
        seconds = time.perf_counter() - self.started[run_id]
        return LaunchedRun(run_id, current.status, seconds, events)


@dataclass
class TrainingDemo:
    customers: list[str]
    runs: dict[str, LaunchedRun]  # by customer
    models_run: LaunchedRun | None
    models: int
    seconds: float

    @property
    def success(self) -> bool:
        runs = [*self.runs.values(), *([self.models_run] if self.models_run else [])]
        return all(run.success for run in runs)


def run_training_demo(
    instance: dg.DagsterInstance, concurrency: int = CONCURRENT_RUNS, poll_seconds: float = 0.5
) -> TrainingDemo:
    """Every customer's training assets, `concurrency` runs at a time, then the models."""
    started = time.perf_counter()
    runs: dict[str, LaunchedRun] = {}
    models_run, models = None, 0
    with (
        shared_reference_servers(),
        WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(WORKSPACE)])) as process,
    ):
        customer_ids = sync_customers(instance)
        launcher = _Launcher(instance, process)
        per_customer = {dg.AssetKey(name) for name in PER_CUSTOMER}
        pending, running = list(customer_ids), {}
        while pending or running:
            while pending and len(running) < concurrency:
                customer_id = pending.pop(0)
                running[launcher.launch(per_customer, customer_id)] = customer_id
            time.sleep(poll_seconds)
            for run_id in list(running):
                if (done := launcher.finished(run_id)) is not None:
                    runs[running.pop(run_id)] = done
        dbt_models = launcher.group_assets() - per_customer
        if dbt_models and customer_ids:
            models = len(dbt_models)
            run_id = launcher.launch(dbt_models, customer_ids[0])
            while (models_run := launcher.finished(run_id)) is None:
                time.sleep(poll_seconds)
    return TrainingDemo(customer_ids, runs, models_run, models, time.perf_counter() - started)


def training_summary(demo: TrainingDemo) -> list[str]:
    """What the training runs did, as lines for a person."""
    storage = build_storage()
    lines = [
        f"training: {len(demo.customers)} customers from the reference catalog, one run each "
        f"({CONCURRENT_RUNS} at a time), {demo.seconds:.0f} s in all"
    ]
    for customer_id, run in demo.runs.items():
        modules = materialization_metadata(run, "training_modules")
        tags = materialization_metadata(run, "tag_suggestions")
        checks = [e for e in run.get_asset_check_evaluations() if not e.passed]
        if not tags:
            lines.append(f"  {customer_id}: run {run.run_id[:8]} FAILED in {run.seconds:.0f} s")
            lines.extend(f"    {failure}" for failure in run.failures())
            continue
        lines.append(
            f"  {customer_id}: {modules['modules']:,} modules ({modules['modules_tagged']:,} "
            f"tagged); {tags['modules_considered']:,} need tags: {tags['modules_cached']:,} "
            f"cached, {tags['modules_sent']:,} sent in {tags['tagger_calls']} request(s), "
            f"{tags['tags_suggested']:,} tags suggested, {tags['abstentions']:,} abstentions, "
            f"{tags['dead_letters']} dead letters; model {tags['model_seconds']:.1f} s, "
            f"run {run.seconds:.0f} s"
            + (f"; checks failed: {[e.check_name for e in checks]}" if checks else "")
        )
    if demo.models_run is not None:
        status = "built" if demo.models_run.success else "FAILED"
        lines.append(f"  warehouse models of the family: {demo.models} {status} once")
        lines.extend(f"    {failure}" for failure in demo.models_run.failures())
    example = demo.customers[0] if demo.customers else "<customer>"
    lines += [
        f"  raw tables: {', '.join(sorted(SCHEMAS))}",
        f"  review files: {storage.uri(review_key(example))} (one per customer): write `yes` in "
        "`approved`; the README's 'Training tags' section says what happens next",
    ]
    return lines
