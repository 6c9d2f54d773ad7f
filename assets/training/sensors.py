"""The training family's sensors: the customer partitions kept equal to the catalog's
customers, and the apply step started when a customer approves."""

import hashlib
import json

import dagster as dg

from assets.training.partitions import CUSTOMERS_PARTITIONS, partition_changes
from assets.training.review import (
    ReviewFileError,
    read_published_approval,
    read_review_edits,
    review_key,
    validate_edits,
)
from assets.training.snapshot import SnapshotMissing, read_taxonomy
from resources.object_storage import ObjectStorage
from resources.training_catalog import Customer, TrainingCatalog

# Defined with the other jobs, by group, in assets/jobs.py.
TRAINING_JOB = "training"
# What an approval run materializes: the review file as the customer left it (into
# raw.tag_review), the approval, and its application to the catalog.
APPROVAL_ASSETS = [dg.AssetKey(k) for k in ("tag_review", "reviewed_tags", "applied_tags")]


def customers_fingerprint(found: list[Customer]) -> str:
    """Changes whenever a customer comes, goes, or changes name, tier or flags."""
    canonical = sorted([c.customer_id, c.name, c.tier, sorted(c.feature_flags)] for c in found)
    return hashlib.blake2b(json.dumps(canonical).encode(), digest_size=12).hexdigest()


@dg.sensor(
    asset_selection=["training_customers"],
    minimum_interval_seconds=300,
    description=(
        "Keeps the customer partitions equal to the training catalog's customers, and "
        "materializes training_customers when a customer comes, goes or changes."
    ),
)
def training_customers_sensor(
    context: dg.SensorEvaluationContext, training_catalog: TrainingCatalog
) -> dg.SensorResult:
    with training_catalog.connect() as catalog:
        found = catalog.list_customers()
    held = context.instance.get_dynamic_partitions(CUSTOMERS_PARTITIONS)
    changes = partition_changes(held, [c.customer_id for c in found])
    for customer_id, reason in changes.refused.items():
        context.log.warning(
            f"catalog customer {customer_id!r} left out of the partitions: {reason}"
        )
    fingerprint = customers_fingerprint(found)
    runs = []
    if fingerprint != context.cursor:
        runs.append(dg.RunRequest(run_key=f"customers-{fingerprint}"))
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=changes.requests(),
        cursor=fingerprint,
        skip_reason=None if runs or changes.any else "the catalog's customers are unchanged",
    )


def approval_run_requests(
    storage: ObjectStorage,
    customer_ids: list[str],
    seen: dict[str, str],
    log=None,
) -> tuple[list[dg.RunRequest], dict[str, str]]:
    """Run requests for customers whose review file changed since `seen` (customer -> file
    version) and now holds a valid approval that is not the published one; the new cursor.

    A blocked approval starts nothing (the reasons go to `log`); the customer's next save is
    looked at again. One run per approval batch: the batch id is the run key.
    """
    requests, cursor = [], {}
    for customer_id in customer_ids:
        found = storage.list_objects(review_key(customer_id))
        if not found:
            continue
        cursor[customer_id] = found[0].version
        if seen.get(customer_id) == found[0].version:
            continue
        try:
            edits = read_review_edits(storage, customer_id)
            taxonomy = read_taxonomy(storage, customer_id)
        except (FileNotFoundError, ReviewFileError, SnapshotMissing) as error:
            if log is not None:
                log.warning(f"{customer_id}: review file not read: {error}")
            continue
        published = read_published_approval(storage, customer_id)
        validation = validate_edits(
            customer_id, edits.rows, taxonomy.tags, edits.review_set, published
        )
        if validation.blocked:
            if log is not None:
                problems = "; ".join(p.describe() for p in validation.blocking_problems[:10])
                log.warning(f"{customer_id}: approval blocked, nothing started: {problems}")
            continue
        if not validation.approved.height:
            continue
        if published is not None and published.approval_batch_id == validation.approval_batch_id:
            continue
        requests.append(
            dg.RunRequest(
                run_key=validation.approval_batch_id,
                partition_key=customer_id,
                asset_selection=APPROVAL_ASSETS,
                tags={"fieldwork/approval_batch_id": validation.approval_batch_id},
            )
        )
    return requests, cursor


@dg.sensor(
    job_name=TRAINING_JOB,
    minimum_interval_seconds=60,
    description=(
        "Starts the approval and apply steps for a customer when their review file holds a "
        "new valid approval (one run per approval batch)."
    ),
)
def tag_approval_sensor(context: dg.SensorEvaluationContext, storage: ObjectStorage):
    seen = json.loads(context.cursor) if context.cursor else {}
    customer_ids = context.instance.get_dynamic_partitions(CUSTOMERS_PARTITIONS)
    requests, cursor = approval_run_requests(storage, customer_ids, seen, context.log)
    context.update_cursor(json.dumps(cursor, sort_keys=True))
    if not requests:
        return dg.SkipReason("no review file holds a new valid approval")
    return requests
