"""Start a day's postings run when its raw files appear or change (local folder and S3 alike)."""

import hashlib
import json
from collections import defaultdict

import dagster as dg

from assets.partitions import daily_partitions
from assets.postings.augment import RAW_PREFIX, why_not_a_posting_file
from resources.object_storage import ObjectStorage, StoredObject

# Defined with the other jobs, by group, in assets/jobs.py.
POSTINGS_JOB = "postings_daily"


def day_fingerprints(objects: list[StoredObject]) -> dict[str, str]:
    """One fingerprint per day folder, changing whenever a file is added, removed or rewritten."""
    by_day: dict[str, list[str]] = defaultdict(list)
    for obj in objects:
        parts = obj.key.split("/")
        # Plain and compressed posting files; what the run would ignore starts nothing.
        if len(parts) < 3 or why_not_a_posting_file(obj.key, f"{RAW_PREFIX}/{parts[1]}/"):
            continue
        by_day[parts[1]].append(f"{obj.key}:{obj.size}:{obj.version}")
    return {
        day: hashlib.blake2b("\n".join(sorted(entries)).encode(), digest_size=12).hexdigest()
        for day, entries in by_day.items()
    }


def runs_for_new_files(
    objects: list[StoredObject], cursor: str | None, partition_keys: set[str]
) -> tuple[list[dg.RunRequest], list[str], str]:
    """Run requests for days whose files changed since `cursor`; days that are not partitions."""
    seen: dict[str, str] = json.loads(cursor) if cursor else {}
    requests, unknown = [], []
    current = day_fingerprints(objects)
    for day, fingerprint in sorted(current.items()):
        if seen.get(day) == fingerprint:
            continue
        if day not in partition_keys:
            unknown.append(day)
            continue
        requests.append(dg.RunRequest(partition_key=day, run_key=f"{day}:{fingerprint}"))
    return requests, unknown, json.dumps(current, sort_keys=True)


@dg.sensor(
    job_name=POSTINGS_JOB,
    minimum_interval_seconds=60,
    description=(
        "Starts postings_daily for a day when files appear or change under "
        "job-postings-raw/<date>/."
    ),
)
def raw_job_postings_sensor(context: dg.SensorEvaluationContext, storage: ObjectStorage):
    objects = storage.list_objects(f"{RAW_PREFIX}/")
    partition_keys = set(daily_partitions.get_partition_keys())
    requests, unknown, cursor = runs_for_new_files(objects, context.cursor, partition_keys)
    for day in unknown:
        context.log.warning(f"{RAW_PREFIX}/{day}/ is not a day partition (YYYY-MM-DD); ignored")
    context.update_cursor(cursor)
    if not requests:
        return dg.SkipReason(f"no new or changed files under {RAW_PREFIX}/")
    return requests
