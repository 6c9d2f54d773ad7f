"""Applying a customer's published approval to the training catalog, and replaying what failed.

Which modules: those of the published approval whose tags in the catalog differ from the
approved ones (the catalog read now, so a rerun applies nothing twice and a module a
previous batch failed to apply is applied with the current one). A module whose text in the
catalog is no longer the text its tags were approved for (content hash) is not applied: the
customer approved tags for other words; its next suggestion clears the approval in review.
Each application is a request in the request log keyed by (customer, module, tags, approval
batch) and sent with that key as the catalog's idempotency key: a retry after a lost reply
changes nothing twice.

The catalog client retries with gRPC's policy within each call; a call that still fails is
`failed`, then `dead`, with a dead letter holding what a replay needs. A replay re-sends
exactly that (same key), unless the module's approval has changed since: then the letter is
superseded and nothing is sent (the newer approval's own apply sets the module's tags).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from assets.training.requests import (
    RequestLog,
    RequestRecord,
    apply_request,
    count_by_status,
    replay_dead_letters,
)
from assets.training.review import PublishedApproval
from resources.grpc_client import ModelServiceError, ModelUnavailable
from resources.training_catalog import TrainingCatalogClient

PROGRESS_EVERY_MODULES = 500


@dataclass
class ApplyRun:
    """What applying one approval batch did."""

    customer_id: str
    approval_batch_id: str
    modules_approved: int = 0
    modules_to_apply: int = 0
    applied: list[str] = field(default_factory=list)
    # The catalog had seen the key: applied before (a lost reply, an earlier run).
    replayed: list[str] = field(default_factory=list)
    # Logged as succeeded under this batch already, yet the catalog differs now: someone
    # changed the module's tags in the platform since; not overwritten.
    changed_since: list[str] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)
    missing_in_catalog: list[str] = field(default_factory=list)
    # The module's text changed in the catalog since its tags were approved: not applied.
    content_changed: list[str] = field(default_factory=list)
    records: dict[str, RequestRecord] = field(default_factory=dict)
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        return {
            "approval_batch_id": self.approval_batch_id,
            "modules_approved": self.modules_approved,
            "modules_to_apply": self.modules_to_apply,
            "modules_applied": len(self.applied),
            "modules_already_applied": len(self.replayed),
            "modules_changed_since": len(self.changed_since),
            "dead_letters": len(self.dead_lettered),
            "modules_missing_in_catalog": len(self.missing_in_catalog),
            "modules_changed_since_approval": len(self.content_changed),
            "requests": count_by_status(self.records.values()),
            "seconds": round(self.seconds, 3),
        }


def modules_to_apply(
    approved: pl.DataFrame,
    catalog_modules: pl.DataFrame,
    approved_hashes: dict[str, str] | None = None,
) -> pl.DataFrame:
    """Approved modules (module_id, tag_ids) whose catalog tags differ, with `in_catalog` and
    `content_changed` (the catalog's content hash is not the one in `approved_hashes`)."""
    current = catalog_modules.select(
        "module_id",
        pl.col("tag_ids").list.sort().alias("catalog_tags"),
        "content_hash",
        in_catalog=pl.lit(True),
    )
    hashes = pl.DataFrame(
        list((approved_hashes or {}).items()),
        schema={"module_id": pl.String, "approved_hash": pl.String},
        orient="row",
    )
    joined = (
        approved.select("module_id", pl.col("tag_ids").list.sort())
        .join(current, on="module_id", how="left")
        .join(hashes, on="module_id", how="left")
    )
    return joined.filter(
        pl.col("in_catalog").is_null() | (pl.col("tag_ids") != pl.col("catalog_tags"))
    ).select(
        "module_id",
        "tag_ids",
        pl.col("in_catalog").fill_null(False),
        (pl.col("approved_hash") != pl.col("content_hash"))
        .fill_null(False)
        .alias("content_changed"),
    )


def apply_approval(
    approval: PublishedApproval,
    catalog: TrainingCatalogClient,
    log: RequestLog,
    say: Callable[[str], None] = lambda message: None,
) -> ApplyRun:
    """Set the catalog's tags of every approved module that differs, one logged request each."""
    started = time.perf_counter()
    customer_id = approval.customer_id
    run = ApplyRun(customer_id, approval.approval_batch_id, approval.modules.height)
    todo = modules_to_apply(approval.modules, catalog.modules(customer_id), approval.content_hashes)
    _finish_interrupted(approval, set(todo["module_id"]), catalog, log, run)
    run.missing_in_catalog = todo.filter(~pl.col("in_catalog"))["module_id"].to_list()
    run.content_changed = todo.filter(pl.col("content_changed"))["module_id"].to_list()
    if run.content_changed:
        say(
            f"{customer_id}: {len(run.content_changed)} approved module(s) changed in the "
            f"catalog since their tags were approved, not applied: {run.content_changed[:20]}"
        )
    todo = todo.filter(pl.col("in_catalog") & ~pl.col("content_changed"))
    run.modules_to_apply = todo.height
    if todo.height:
        say(f"{customer_id}: applying {todo.height:,} approved module(s) to the catalog")
    for number, (module_id, tag_ids, _, _) in enumerate(todo.rows(), start=1):
        record = log.open(
            apply_request(customer_id, module_id, tag_ids, approval.approval_batch_id)
        )
        if record.status == "succeeded":
            run.changed_since.append(module_id)
        elif record.status == "dead":
            # Waiting for the replay job: re-sent by it, not by every run.
            run.dead_lettered.append(module_id)
        else:
            record = _apply_one(catalog, log, record, run)
        run.records[record.idempotency_key] = record
        if number % PROGRESS_EVERY_MODULES == 0:
            say(f"{customer_id}: {number:,} of {todo.height:,} modules applied")
    run.seconds = time.perf_counter() - started
    return run


def _finish_interrupted(
    approval: PublishedApproval,
    differing: set[str],
    catalog: TrainingCatalogClient,
    log: RequestLog,
    run: ApplyRun,
) -> None:
    """Requests of this batch that a killed run left open (pending, running, failed) for
    modules whose catalog tags are already the approved ones (not in `differing`): the lost
    call had landed. Re-sent with their own key, so the catalog answers `replayed` and the
    log says how they ended instead of `running` for ever."""
    logged = log.logged_keys(approval.customer_id)
    if not logged:
        return
    for module_id, tag_ids in approval.modules.rows():
        if module_id in differing:
            continue
        request = apply_request(
            approval.customer_id, module_id, tag_ids, approval.approval_batch_id
        )
        if request.idempotency_key not in logged:
            continue
        record = log.open(request)
        if record.status in ("pending", "running", "failed"):
            run.records[record.idempotency_key] = _apply_one(catalog, log, record, run)


def _apply_one(
    catalog: TrainingCatalogClient, log: RequestLog, record: RequestRecord, run: ApplyRun
) -> RequestRecord:
    payload = record.payload
    if record.status == "running":  # a run that died mid-call left it so
        record = log.fail(record, "interrupted: found running by a later run")
    record = log.start(record)
    began = time.perf_counter()
    try:
        applied = catalog.apply_tags(
            record.customer_id, payload["module_id"], payload["tag_ids"], record.idempotency_key
        )
    except ModelServiceError as error:
        # gRPC's policy retried an unavailable catalog within the call; a refusal, never.
        tries = catalog.config.retry_attempts() if isinstance(error, ModelUnavailable) else 1
        attempts = record.attempts - 1 + tries
        record = log.fail(
            record, str(error), latency_seconds=time.perf_counter() - began, attempts=attempts
        )
        record = log.mark_dead(record, f"apply failed after its retries: {error}")
        run.dead_lettered.append(payload["module_id"])
        return record
    record = log.succeed(record, latency_seconds=time.perf_counter() - began)
    (run.replayed if applied.replayed else run.applied).append(payload["module_id"])
    return record


@dataclass(frozen=True)
class ApplyReplay:
    replayed: list[str]
    still_dead: list[str]
    cleared: list[str]
    superseded: list[str]


def replay_applications(
    customer_id: str,
    approval: PublishedApproval | None,
    catalog: TrainingCatalogClient,
    log: RequestLog,
) -> ApplyReplay:
    """Re-send the customer's apply dead letters with their own keys. A letter whose module
    is no longer approved with the same tags, or whose text changed in the catalog since it
    was approved, is superseded: not sent."""
    approved = {} if approval is None else dict(approval.modules.rows())
    approved_hashes = {} if approval is None else approval.content_hashes
    superseded: list[str] = []
    current_hashes: dict[str, str] = {}
    if approved_hashes and log.dead_letters.list(customer_id, "apply"):
        current_hashes = dict(
            catalog.modules(customer_id).select("module_id", "content_hash").rows()
        )

    def replay(record: RequestRecord) -> None:
        payload = record.payload
        module_id = payload["module_id"]
        if (
            module_id not in approved
            or sorted(approved[module_id]) != sorted(payload["tag_ids"])
            or approved_hashes.get(module_id, current_hashes.get(module_id))
            != current_hashes.get(module_id)
        ):
            superseded.append(record.idempotency_key)
            return
        catalog.apply_tags(
            customer_id, payload["module_id"], payload["tag_ids"], record.idempotency_key
        )

    report = replay_dead_letters(log, customer_id, replay, kind="apply")
    return ApplyReplay(report.replayed, report.still_dead, report.cleared, superseded)
