"""Launch a job's partition through the Dagster instance, the way the UI does, and wait for it.

The run is created against the code location of `workspace.yaml` (so it carries the same
origin as a UI-launched run: it shows in the UI's timeline and can be re-executed from
there) and started by the instance's run launcher, in a run worker process of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.remote_representation.external import RemoteJob
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from assets.partitions import daily_partitions

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = ROOT / "workspace.yaml"
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


@dataclass
class LaunchedRun:
    """A finished run, read back from the instance: what `execute_in_process` would return."""

    run_id: str
    status: DagsterRunStatus
    seconds: float
    events: list = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.status == DagsterRunStatus.SUCCESS

    def get_asset_materialization_events(self) -> list:
        return [e for e in self.events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]

    def get_asset_check_evaluations(self) -> list:
        return [
            e.event_specific_data
            for e in self.events
            if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
        ]

    def failures(self) -> list[str]:
        """Why the run failed, for a person: each failed step's error down to its root cause,
        and the run's own failure message (a run worker that died has no failed step)."""
        found = []
        for e in self.events:
            if e.event_type == DagsterEventType.STEP_FAILURE and e.event_specific_data.error:
                error = e.event_specific_data.error
                while error.cause is not None:  # Dagster wraps the user's error
                    error = error.cause
                found.append(f"{e.step_key}: {error.message.strip()}")
            elif e.event_type == DagsterEventType.RUN_FAILURE and not found:
                found.append(f"run: {e.message}")
        return found


def launch_and_wait(
    instance: dg.DagsterInstance,
    job_name: str,
    partition_key: str,
    location_name: str = "fieldwork",
    poll_seconds: float = 0.5,
) -> LaunchedRun:
    """Create a daily job's run from the workspace's code location, launch it, wait for the
    end."""
    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(WORKSPACE)])) as process:
        workspace = process.create_request_context()
        location = workspace.get_code_location(location_name)
        [repository] = location.get_repositories().values()
        remote_job = cast(RemoteJob, repository.get_full_job(job_name))
        # The daily jobs' partitions, without loading the definitions a second time in this
        # process (the code server has them).
        if not daily_partitions.has_partition_key(partition_key):
            raise ValueError(f"{job_name}: {partition_key!r} is not a day partition")
        tags = {**remote_job.tags, **daily_partitions.get_tags_for_partition_key(partition_key)}
        plan = location.get_execution_plan(
            remote_job, {}, step_keys_to_execute=None, known_state=None, instance=instance
        )
        run = instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config={},
            resolved_op_selection=None,
            step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags=tags,
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=repository.asset_graph,
        )
        started = time.perf_counter()
        instance.launch_run(run.run_id, workspace)
        while (current := instance.get_run_by_id(run.run_id)).status not in FINISHED:
            time.sleep(poll_seconds)
        seconds = time.perf_counter() - started
    events = [
        entry.dagster_event
        for entry in instance.all_logs(run.run_id)
        if entry.dagster_event is not None
    ]
    return LaunchedRun(run.run_id, current.status, seconds, events)
