"""Production-shaped runs: postings on S3, and the cache warm-up after a model upgrade."""

import dagster as dg
import pytest

from assets.postings.assets import augmented_job_postings, raw_job_postings
from assets.postings.augment import output_key, quarantine_key
from assets.postings.sample import write_sample_day
from assets.postings.warmup import seniority_cache
from resources.seniority_cache import SeniorityCache
from tests.postings.conftest import DAY
from tests.postings.test_augmented_postings import augmented_metadata, materialize


@pytest.mark.xdist_group("moto")
def test_postings_on_s3_end_to_end(resources, s3_storage):
    day = write_sample_day(s3_storage, DAY, lines=1_500, files=2, seed=8)
    meta = augmented_metadata(materialize({**resources, "storage": s3_storage}))

    assert meta["lines_out"] == 1_500
    assert str(meta["quarantine"]).startswith(f"s3://{s3_storage.bucket}/job-postings-mod/{DAY}/")
    keys = s3_storage.list_keys(f"job-postings-mod/{DAY}/")
    assert sorted(keys) == sorted([output_key(k, DAY) for k in day.keys] + [quarantine_key(DAY)])
    assert sum(len(s3_storage.read_bytes(k).splitlines()) for k in keys) == 1_500


def test_warmup_precomputes_popular_pairs_for_a_fresh_cache(resources, storage, tmp_path):
    write_sample_day(storage, DAY, lines=4_000, files=2, seed=9)
    first = augmented_metadata(materialize(resources))

    # A new, empty cache (say, after a model upgrade), warmed from the day's history.
    fresh = SeniorityCache(embedded_db_path=str(tmp_path / "fresh" / "cache.rdb"))
    warm = dg.materialize(
        [seniority_cache],
        resources={**resources, "seniority_cache": fresh},
        run_config={"ops": {"seniority_cache": {"config": {"as_of": DAY, "days": 7, "top_pairs": 50}}}},
    )
    [event] = warm.get_asset_materialization_events()
    warm_meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert warm_meta["pairs_considered"] == 50
    assert warm_meta["computed"] == 50
    assert warm_meta["model_calls"] == 1  # batch size 100

    second = augmented_metadata(materialize({**resources, "seniority_cache": fresh}))
    assert second["cache_hits"] == 50
    assert second["items_sent"] == first["distinct_pairs"] - 50


def test_warmup_without_history_says_what_to_do(resources):
    result = dg.materialize(
        [seniority_cache], resources=resources, raise_on_error=False,
    )
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "raw.job_postings" in message and "augmented_job_postings" in message
