"""From the review file to the catalog, with real servers on loopback, DuckDB and local
storage: the customer approves in the file, the sensor starts one run per approval batch,
the approval is validated and published, and applied with idempotency keys; blocked edits
leave the published approval untouched; failed applications wait in the dead-letter store
until training_replay applies them, and a second replay changes nothing."""

from __future__ import annotations

import csv
import io
import json

import dagster as dg
import pytest

from assets.training.replay import training_replay
from assets.training.requests import RequestLog
from assets.training.review import APPROVED, approved_key, review_key
from assets.training.sensors import APPROVAL_ASSETS, tag_approval_sensor
from assets.training.tables import APPROVED_TAGS, TAG_REVIEW
from resources.training_catalog import TrainingCatalog
from tests.helpers import (  # noqa: F401  (fixtures, used by name)
    FAST_RETRIES,
    TRAINING_CUSTOMER,
    asset_check_results,
    customer_rows,
    materialization_metadata,
    materialize_training,
    shared_redis_url_fixture,
    small_catalog_fixture,
    start_tagger_fixture,
    step_failure_message,
    training_setup_fixture,
)

CUSTOMER = TRAINING_CUSTOMER
LAY_OUT = ("training_modules", "tag_suggestions", "tag_review", "reviewed_tags", "applied_tags")
APPROVE = tuple(key.to_user_string() for key in APPROVAL_ASSETS)


def read_review(storage) -> tuple[list[str], list[dict[str, str]]]:
    text = storage.read_bytes(review_key(CUSTOMER)).decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return list(reader.fieldnames or []), list(reader)


def save_review(storage, columns: list[str], rows: list[dict[str, str]]) -> None:
    """As a spreadsheet saves it: UTF-8 with a byte-order mark, CRLF."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    storage.write_bytes(review_key(CUSTOMER), out.getvalue().encode("utf-8-sig"))


def approve(storage, edits: dict[str, str]) -> dict[str, list[str]]:
    """Approve the modules of `edits` with the tags given (None: the suggestion as it is);
    returns module -> approved tags."""
    columns, rows = read_review(storage)
    approved = {}
    for row in rows:
        if row["module_id"] in edits:
            if edits[row["module_id"]] is not None:
                row["tags"] = edits[row["module_id"]]
            row["approved"] = APPROVED
            approved[row["module_id"]] = sorted(t for t in row["tags"].split("|") if t)
    save_review(storage, columns, rows)
    return approved


def suggested(storage, n: int) -> list[str]:
    """The first `n` modules of the review file that have a suggestion."""
    _, rows = read_review(storage)
    return [row["module_id"] for row in rows if row["suggested_tags"]][:n]


def sensor_requests(instance, storage, cursor: str | None = None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"storage": storage}
    )
    outcome = tag_approval_sensor(context)
    return (outcome if isinstance(outcome, list) else []), context.cursor


@pytest.fixture
def laid_out(training_setup):
    """The whole flow once, nothing approved yet: (resources, instance)."""
    resources, _, instance = training_setup()
    result = materialize_training(resources, instance, LAY_OUT)
    assert result.success, step_failure_message(result)
    assert materialization_metadata(result, "applied_tags")["modules_to_apply"] == 0
    return resources, instance


def test_an_approval_starts_one_run_that_applies_it_to_the_catalog(laid_out, catalog_store):
    resources, instance = laid_out
    storage = resources["storage"]
    first, second, third = suggested(storage, 3)
    approved = approve(storage, {first: None, second: "compliance|communication", third: None})

    [request], cursor = sensor_requests(instance, storage)
    assert request.partition_key == CUSTOMER
    assert request.run_key.startswith("approval-")
    assert request.asset_selection == APPROVAL_ASSETS

    result = materialize_training(resources, instance, APPROVE)
    assert result.success, step_failure_message(result)
    reviewed = materialization_metadata(result, "reviewed_tags")
    assert reviewed["approval_batch_id"] == request.run_key  # one run per approval batch
    assert (reviewed["modules_approved"], reviewed["published"]) == (3, True)
    applied = materialization_metadata(result, "applied_tags")
    assert (applied["modules_applied"], applied["dead_letters"]) == (3, 0)
    assert asset_check_results(result)["approved_tags_applied"]
    for module_id, tags in approved.items():
        assert list(catalog_store.module(CUSTOMER, module_id).tag_ids) == tags
    assert catalog_store.applied_key_count(CUSTOMER) == 3

    rows = customer_rows(resources["warehouse"], APPROVED_TAGS)
    assert {(m, t) for m, t in rows.select("module_id", "tag_id").rows()} == {
        (m, t) for m, tags in approved.items() for t in tags
    }
    assert set(rows["approval_batch_id"]) == {request.run_key}
    review = customer_rows(resources["warehouse"], TAG_REVIEW)
    assert review.filter(review["approved"] == APPROVED).height == 3

    # The same file again starts nothing: unchanged since the cursor, and already published.
    assert sensor_requests(instance, storage, cursor)[0] == []
    assert sensor_requests(instance, storage)[0] == []
    again = materialize_training(resources, instance, ("applied_tags",))
    assert materialization_metadata(again, "applied_tags")["modules_to_apply"] == 0
    assert catalog_store.applied_key_count(CUSTOMER) == 3

    # Applied modules carry tags now: the next suggestions leave them out.
    before = materialization_metadata(result, "tag_review")["rows"]
    rerun = materialize_training(resources, instance, ("training_modules", "tag_suggestions"))
    assert materialization_metadata(rerun, "tag_suggestions")["modules_considered"] == before - 3


BAD_EDITS = {
    "comunication": "did you mean 'communication'?",  # misspelt
    "demo-skills": "unknown tag 'demo-skills'",  # another customer's taxonomy
    "communication|": "empty tag",
}


def test_blocked_edits_name_the_nearest_tags_and_leave_the_approval_untouched(
    laid_out, catalog_store
):
    resources, instance = laid_out
    storage = resources["storage"]
    modules = suggested(storage, 4)
    approve(storage, {modules[0]: None})
    assert materialize_training(resources, instance, APPROVE).success
    published = storage.read_bytes(approved_key(CUSTOMER))
    keys = catalog_store.applied_key_count(CUSTOMER)

    approve(storage, dict(zip(modules[1:], BAD_EDITS, strict=True)))
    requests, _ = sensor_requests(instance, storage)
    assert requests == []  # a blocked approval starts nothing

    result = materialize_training(resources, instance, ("reviewed_tags", "applied_tags"))
    assert not result.success
    message = step_failure_message(result)
    assert "blocked by 3 problem(s) on approved rows" in message
    for module_id, reason in zip(modules[1:], BAD_EDITS.values(), strict=True):
        assert module_id in message and reason in message
    assert storage.read_bytes(approved_key(CUSTOMER)) == published
    assert catalog_store.applied_key_count(CUSTOMER) == keys


def test_failed_applications_are_replayed_once_and_each_tag_lands_once(
    laid_out, start_catalog, catalog_store
):
    resources, instance = laid_out
    storage = resources["storage"]
    modules = suggested(storage, 4)
    broken = modules[1:3]
    approved = approve(storage, dict.fromkeys(modules))
    flaky, flaky_target = start_catalog(fail_apply_modules=broken)
    resources["training_catalog"] = TrainingCatalog(endpoint=flaky_target, **FAST_RETRIES)

    result = materialize_training(resources, instance, APPROVE)
    assert result.success, step_failure_message(result)
    applied = materialization_metadata(result, "applied_tags")
    assert (applied["modules_applied"], applied["dead_letters"]) == (2, 2)
    assert asset_check_results(result)["approved_tags_applied"] is False
    log = RequestLog(storage)
    letters = log.dead_letters.list(CUSTOMER, "apply")
    assert sorted(m for letter in letters for m in letter.module_ids) == sorted(broken)
    assert all("--fail-apply-modules" in letter.reason for letter in letters)

    healthy, healthy_target = start_catalog()
    resources["training_catalog"] = TrainingCatalog(endpoint=healthy_target, **FAST_RETRIES)
    replay = training_replay.execute_in_process(
        partition_key=CUSTOMER, resources=resources, instance=instance
    )
    assert replay.success
    figures = _op_metadata(replay)
    assert (figures["apply_replayed"], figures["dead_letters_left"]) == (2, 0)
    assert healthy.servicer.calls["ApplyTags"] == 2
    for module_id, tags in approved.items():
        assert list(catalog_store.module(CUSTOMER, module_id).tag_ids) == tags
    assert catalog_store.applied_key_count(CUSTOMER) == 4

    second = training_replay.execute_in_process(
        partition_key=CUSTOMER, resources=resources, instance=instance
    )
    assert second.success and _op_metadata(second) == {"dead_letters_left": 0}
    assert healthy.servicer.calls["ApplyTags"] == 2  # nothing sent
    assert catalog_store.applied_key_count(CUSTOMER) == 4
    for module_id, tags in approved.items():
        assert list(catalog_store.module(CUSTOMER, module_id).tag_ids) == tags
    statuses = {r.module_ids[0]: r.status for r in log.requests(CUSTOMER, kind="apply")}
    assert statuses == dict.fromkeys(approved, "succeeded")


def _op_metadata(result) -> dict:
    [event] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return {k: v.value for k, v in event.event_specific_data.metadata.items()}


def test_the_sensor_skips_what_it_has_seen_and_what_is_not_approved(laid_out):
    resources, instance = laid_out
    storage = resources["storage"]
    requests, cursor = sensor_requests(instance, storage)
    assert requests == []  # laid out, nothing approved
    assert json.loads(cursor) == {CUSTOMER: storage.list_objects(review_key(CUSTOMER))[0].version}
