"""Production-shaped runs: postings on S3, and the cache warm-up after a model upgrade."""

import dagster as dg
import pytest

from assets.postings.augment import output_key, quarantine_key
from assets.postings.warmup import seniority_cache
from resources.seniority_cache import SeniorityCache
from scripts.sample_postings import write_sample_day
from tests.helpers import (
    POSTINGS_DAY,
    materialization_metadata,
    materialize_postings,
    step_failure_message,
)

DAY = POSTINGS_DAY


@pytest.mark.xdist_group("moto")
def test_postings_on_s3_end_to_end(resources, s3_storage):
    day = write_sample_day(s3_storage, DAY, lines=1_500, files=2, seed=8)
    meta = materialization_metadata(materialize_postings({**resources, "storage": s3_storage}))

    assert meta["lines_out"] == 1_500
    assert str(meta["quarantine"]).startswith(f"s3://{s3_storage.bucket}/job-postings-mod/{DAY}/")
    keys = s3_storage.list_keys(f"job-postings-mod/{DAY}/")
    assert sorted(keys) == sorted([output_key(k, DAY) for k in day.keys] + [quarantine_key(DAY)])
    assert sum(len(s3_storage.read_bytes(k).splitlines()) for k in keys) == 1_500


def test_warmup_precomputes_popular_pairs_for_a_fresh_cache(resources, storage, tmp_path):
    write_sample_day(storage, DAY, lines=4_000, files=2, seed=9)
    first = materialization_metadata(materialize_postings(resources))

    # A new, empty cache (say, after a model upgrade), warmed from the day's history.
    fresh = SeniorityCache(embedded_db_path=str(tmp_path / "fresh" / "cache.rdb"))
    warm = dg.materialize(
        [seniority_cache],
        resources={**resources, "seniority_cache": fresh},
        run_config={
            "ops": {"seniority_cache": {"config": {"as_of": DAY, "days": 7, "top_pairs": 50}}}
        },
    )
    [event] = warm.get_asset_materialization_events()
    warm_meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert warm_meta["pairs_considered"] == 50
    assert warm_meta["computed"] == 50
    assert warm_meta["model_calls"] == 1  # batch size 100

    second = materialization_metadata(materialize_postings({**resources, "seniority_cache": fresh}))
    assert second["cache_hits"] == 50
    assert second["items_sent"] == first["distinct_pairs"] - 50


def test_warmup_without_history_says_what_to_do(resources):
    result = dg.materialize(
        [seniority_cache],
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    message = step_failure_message(result)
    assert "raw.job_postings" in message and "augmented_job_postings" in message
