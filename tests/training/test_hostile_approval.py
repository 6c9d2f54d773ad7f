"""Hostile use of the approval flow, against the real catalog and tagger on loopback, DuckDB
and local storage: a customer who reverts an approval, a review file as a spreadsheet
really saves it, platform columns a customer deleted, a module whose text changes after it
was approved, and an apply step killed halfway."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.training.replay import training_replay
from assets.training.requests import RequestLog
from assets.training.review import APPROVED, review_key
from assets.training.sensors import APPROVAL_ASSETS, tag_approval_sensor
from assets.training.snapshot import read_taxonomy
from resources.training_catalog import TrainingCatalog
from tests.helpers import (  # noqa: F401  (fixtures, used by name)
    FAST_RETRIES,
    TRAINING_CUSTOMER,
    asset_check_results,
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


def save_review(
    storage,
    columns: list[str],
    rows: list[dict[str, str]],
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
) -> None:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(
        out, columns, delimiter=delimiter, lineterminator="\r\n", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(rows)
    storage.write_bytes(review_key(CUSTOMER), out.getvalue().encode(encoding))


def set_rows(storage, edits: dict[str, dict[str, str]], **save) -> None:
    columns, rows = read_review(storage)
    for row in rows:
        row.update(edits.get(row["module_id"], {}))
    save_review(storage, columns, rows, **save)


def sensor_requests(instance, storage) -> list[dg.RunRequest]:
    context = dg.build_sensor_context(instance=instance, resources={"storage": storage})
    outcome = tag_approval_sensor(context)
    return outcome if isinstance(outcome, list) else []


@pytest.fixture
def laid_out(training_setup):
    """The whole flow once, nothing approved yet: (resources, instance, a suggested module,
    its suggested tags, another tag of the customer's taxonomy)."""
    resources, _, instance = training_setup()
    result = materialize_training(resources, instance, LAY_OUT)
    assert result.success, step_failure_message(result)
    _, rows = read_review(resources["storage"])
    row = next(r for r in rows if r["suggested_tags"])
    tags = row["suggested_tags"].split("|")
    taxonomy = read_taxonomy(resources["storage"], CUSTOMER)
    other = next(t for t in taxonomy.tag_ids if t not in tags)
    return resources, instance, row["module_id"], tags, other


def test_an_approval_reverted_to_an_earlier_one_is_applied_again(laid_out, catalog_store):
    """Approve tags A, then B, then A again: each is a new approval batch (a new run key for
    the sensor, new idempotency keys for the catalog), and the catalog ends with A."""
    resources, instance, module, tags_a, other = laid_out
    storage = resources["storage"]
    tags_b = sorted({*tags_a[:1], other})
    run_keys = []
    for tags in (tags_a, tags_b, tags_a):
        set_rows(storage, {module: {"tags": "|".join(tags), "approved": APPROVED}})
        [request] = sensor_requests(instance, storage)
        run_keys.append(request.run_key)
        result = materialize_training(resources, instance, APPROVE)
        assert result.success, step_failure_message(result)
        assert materialization_metadata(result, "reviewed_tags")["approval_batch_id"] == (
            request.run_key
        )
        assert materialization_metadata(result, "applied_tags")["modules_applied"] == 1
        assert list(catalog_store.module(CUSTOMER, module).tag_ids) == sorted(tags)
    assert len(set(run_keys)) == 3  # the daemon would skip a run key it has seen
    assert catalog_store.applied_key_count(CUSTOMER) == 3


def test_a_file_saved_with_semicolons_and_platform_columns_deleted_keeps_the_approval(
    laid_out, catalog_store
):
    """A spreadsheet in a ';' locale, where the customer deleted the columns they do not
    need (content_hash among them): the approval run merges the suggestions again and must
    not take the missing hash for a changed module and clear the approval."""
    resources, instance, module, tags, _ = laid_out
    storage = resources["storage"]
    columns, rows = read_review(storage)
    for row in rows:
        if row["module_id"] == module:
            row["approved"] = "Yes "
    kept = ["module_id", "title", "tags", "approved", "reviewer_note"]
    save_review(storage, kept, rows, delimiter=";")
    [request] = sensor_requests(instance, storage)
    result = materialize_training(resources, instance, APPROVE)
    assert result.success, step_failure_message(result)
    assert materialization_metadata(result, "tag_review")["approvals_cleared"] == 0
    assert materialization_metadata(result, "reviewed_tags")["approval_batch_id"] == (
        request.run_key
    )
    assert materialization_metadata(result, "applied_tags")["modules_applied"] == 1
    assert list(catalog_store.module(CUSTOMER, module).tag_ids) == sorted(tags)


def test_a_module_rewritten_after_its_approval_is_not_tagged_with_it(laid_out, catalog_store):
    """The customer approved tags for the text they read; the module's text changes in the
    catalog before the apply step runs: those tags are not applied to the new text, the
    check names the module, and once the new text is suggested, reviewed and approved
    again, it is applied."""
    resources, instance, module, tags, _ = laid_out
    storage = resources["storage"]
    set_rows(storage, {module: {"approved": APPROVED}})
    before = catalog_store.module(CUSTOMER, module).tag_ids
    catalog_store.update_module_text(CUSTOMER, module, description="Rewritten: pricing basics.")

    result = materialize_training(resources, instance, APPROVE)
    assert result.success, step_failure_message(result)
    applied = materialization_metadata(result, "applied_tags")
    assert (applied["modules_applied"], applied["modules_changed_since_approval"]) == (0, 1)
    assert asset_check_results(result)["approved_tags_applied"] is False
    assert catalog_store.module(CUSTOMER, module).tag_ids == before

    # The new text is suggested and laid out: the approval is cleared; approved again, applied.
    result = materialize_training(resources, instance, LAY_OUT[:3])
    assert result.success, step_failure_message(result)
    assert materialization_metadata(result, "tag_review")["approvals_cleared"] == 1
    set_rows(storage, {module: {"tags": "|".join(tags), "approved": APPROVED}})
    result = materialize_training(resources, instance, APPROVE)
    assert result.success, step_failure_message(result)
    assert materialization_metadata(result, "applied_tags")["modules_applied"] == 1
    assert list(catalog_store.module(CUSTOMER, module).tag_ids) == sorted(tags)


def test_a_dead_letter_of_a_module_rewritten_since_is_not_replayed(
    laid_out, start_catalog, catalog_store
):
    resources, instance, module, _, _ = laid_out
    storage = resources["storage"]
    set_rows(storage, {module: {"approved": APPROVED}})
    before = catalog_store.module(CUSTOMER, module).tag_ids
    _, flaky = start_catalog(fail_apply_modules=[module])
    resources["training_catalog"] = TrainingCatalog(endpoint=flaky, **FAST_RETRIES)
    result = materialize_training(resources, instance, APPROVE)
    assert materialization_metadata(result, "applied_tags")["dead_letters"] == 1

    catalog_store.update_module_text(CUSTOMER, module, description="Rewritten: pricing basics.")
    healthy, target = start_catalog()
    resources["training_catalog"] = TrainingCatalog(endpoint=target, **FAST_RETRIES)
    replay = training_replay.execute_in_process(
        partition_key=CUSTOMER, resources=resources, instance=instance
    )
    assert replay.success
    assert healthy.servicer.calls["ApplyTags"] == 0
    assert catalog_store.module(CUSTOMER, module).tag_ids == before
    assert RequestLog(storage).dead_letters.list(CUSTOMER) == []


KILLED_APPLY = """
import sys
from assets.training.apply import apply_approval
from assets.training.requests import RequestLog
from assets.training.review import read_published_approval
from resources.object_storage import LocalObjectStorage
from resources.training_catalog import TrainingCatalog

storage = LocalObjectStorage(root=sys.argv[1])
with TrainingCatalog(endpoint=sys.argv[2]).connect() as catalog:
    approval = read_published_approval(storage, sys.argv[3])
    apply_approval(approval, catalog, RequestLog(storage), say=print)
"""


def test_an_apply_killed_halfway_then_rerun_lands_every_tag_once(
    laid_out, start_catalog, catalog_store
):
    """kill -9 of the apply step while the catalog answers slowly, the call in flight landing
    at the catalog, then the step again: each approved module carries its approved tags,
    each applied by one key, and no request is left running in the log."""
    resources, instance, _, _, _ = laid_out
    storage = resources["storage"]
    _, rows = read_review(storage)
    approved = {r["module_id"]: sorted(r["tags"].split("|")) for r in rows if r["tags"]}
    set_rows(storage, {m: {"approved": APPROVED} for m in approved})
    result = materialize_training(resources, instance, ("tag_review", "reviewed_tags"))
    assert result.success, step_failure_message(result)

    slow, slow_target = start_catalog(delay_seconds=0.3)
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_APPLY, storage.root, slow_target, CUSTOMER],
        cwd=Path(__file__).parents[2],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):  # until the third ApplyTags reached the catalog (at most ~60 s)
            if slow.servicer.calls["ApplyTags"] >= 3 or process.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert slow.servicer.calls["ApplyTags"] >= 3 and process.returncode == -signal.SIGKILL
    slow.stop(grace=1).wait()  # what it was answering lands or not; nothing after it
    # The call in flight when the client died lands at the catalog (its reply is lost).
    log = RequestLog(storage)
    [in_flight] = log.requests(CUSTOMER, status="running", kind="apply")
    payload = in_flight.payload
    catalog_store.apply_tags(
        CUSTOMER, payload["module_id"], payload["tag_ids"], in_flight.idempotency_key
    )

    result = materialize_training(resources, instance, ("applied_tags",))
    assert result.success, step_failure_message(result)
    assert asset_check_results(result)["approved_tags_applied"]
    for module_id, tags in approved.items():
        assert list(catalog_store.module(CUSTOMER, module_id).tag_ids) == tags
    assert catalog_store.applied_key_count(CUSTOMER) == len(approved)
    statuses = {
        r.module_ids[0]: r.status for r in RequestLog(storage).requests(CUSTOMER, kind="apply")
    }
    assert statuses == dict.fromkeys(approved, "succeeded")
