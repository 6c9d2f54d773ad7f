"""Sensors that start a daily family's run when the files of one of its days appear or change.

Each family's raw files live in day folders (`<prefix>/<YYYY-MM-DD>/...`), on the local
folder and on S3 alike. A day's fingerprint changes whenever one of its input files is
added, removed or rewritten (key, size, version); the cursor keeps the last fingerprint of
each day, and each new fingerprint is one run request, keyed by it, so a sensor tick that
is retried never starts a day twice.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable

import dagster as dg

from assets.partitions import daily_partitions
from resources.object_storage import ObjectStorage, StoredObject


def day_fingerprints(
    objects: list[StoredObject], prefix: str, is_input: Callable[[str], bool]
) -> dict[str, str]:
    """One fingerprint per day folder under `prefix`, over the objects `is_input` accepts."""
    by_day: dict[str, list[str]] = defaultdict(list)
    for obj in objects:
        parts = obj.key.removeprefix(f"{prefix}/").split("/")
        # What the run would ignore (markers, hidden files, other suffixes) starts nothing.
        if len(parts) < 2 or not is_input(obj.key):
            continue
        by_day[parts[0]].append(f"{obj.key}:{obj.size}:{obj.version}")
    return {
        day: hashlib.blake2b("\n".join(sorted(entries)).encode(), digest_size=12).hexdigest()
        for day, entries in by_day.items()
    }


def runs_for_changed_days(
    current: dict[str, str], cursor: str | None, partition_keys: set[str]
) -> tuple[list[dg.RunRequest], list[str], str]:
    """Run requests for days whose fingerprint changed since `cursor`; folders that are not
    days; the new cursor."""
    seen: dict[str, str] = json.loads(cursor) if cursor else {}
    requests, unknown = [], []
    for day, fingerprint in sorted(current.items()):
        if seen.get(day) == fingerprint:
            continue
        if day not in partition_keys:
            unknown.append(day)
            continue
        requests.append(dg.RunRequest(partition_key=day, run_key=f"{day}:{fingerprint}"))
    return requests, unknown, json.dumps(current, sort_keys=True)


def day_files_sensor(
    name: str, job_name: str, prefix: str, is_input: Callable[[str], bool], files: str
) -> dg.SensorDefinition:
    """A sensor starting `job_name` for a day when its input files under `prefix/YYYY-MM-DD/`
    (described as `files` in the UI) appear or change."""

    @dg.sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=60,
        description=f"Starts {job_name} for a day when {files} appear or change under "
        f"`{prefix}/YYYY-MM-DD/`.",
    )
    def _sensor(context: dg.SensorEvaluationContext, storage: ObjectStorage):
        current = day_fingerprints(storage.list_objects(f"{prefix}/"), prefix, is_input)
        partition_keys = set(daily_partitions.get_partition_keys())
        requests, unknown, cursor = runs_for_changed_days(current, context.cursor, partition_keys)
        for day in unknown:
            context.log.warning(f"{prefix}/{day}/ is not a day partition (YYYY-MM-DD); ignored")
        context.update_cursor(cursor)
        if not requests:
            return dg.SkipReason(f"no new or changed {files} under {prefix}/")
        return requests

    return _sensor
