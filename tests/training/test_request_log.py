"""The request log and dead-letter store: deterministic keys, validated status changes,
dead letters replayed until none are left, and a replay with nothing to do that writes
nothing. On the local folder and on moto's S3 server; two writers at once."""

import datetime as dt
import multiprocessing
import threading
import uuid

import polars as pl
import pytest

from assets.training.requests import (
    DEAD_LETTERS_PREFIX,
    REQUESTS_PREFIX,
    InvalidTransition,
    RequestLog,
    StaleRequest,
    apply_key,
    apply_request,
    replay_dead_letters,
    suggest_key,
    suggest_request,
)
from resources.object_storage import LocalObjectStorage

CUSTOMER = "acme-pharma"
OTHER = "northwind-software"


class TickingClock:
    """A clock that moves one second each time it is read: timestamps differ and order."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


@pytest.fixture
def local(tmp_path):
    return LocalObjectStorage(root=str(tmp_path / "data"))


@pytest.fixture
def fresh_s3(moto_endpoint, monkeypatch):
    """A bucket of its own on moto's S3 server (the shared fixture names buckets by test)."""
    import boto3
    from dagster_aws.s3 import S3Resource

    from resources.object_storage import S3ObjectStorage

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"training-requests-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    return S3ObjectStorage(
        bucket=bucket, s3=S3Resource(endpoint_url=moto_endpoint, region_name="us-east-1")
    )


@pytest.fixture(params=["local", pytest.param("fresh_s3", marks=pytest.mark.xdist_group("moto"))])
def storage(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def log(storage):
    return RequestLog(storage, clock=TickingClock())


def everything(storage) -> dict[str, tuple[bytes, str]]:
    """Every object of the log and the dead letters: bytes and version."""
    objects = storage.list_objects(REQUESTS_PREFIX) + storage.list_objects(DEAD_LETTERS_PREFIX)
    return {o.key: (storage.read_bytes(o.key), o.version) for o in objects}


def test_keys_are_deterministic_and_say_what_they_ask():
    modules = [("m1", "h1"), ("m2", "h2")]
    key = suggest_key(CUSTOMER, modules, "tax-3", "tfidf-1")
    assert key == suggest_key(CUSTOMER, list(reversed(modules)), "tax-3", "tfidf-1")
    assert key.startswith("suggest-") and len(key) == len("suggest-") + 32
    for changed in (
        suggest_key(OTHER, modules, "tax-3", "tfidf-1"),
        suggest_key(CUSTOMER, [("m1", "h1"), ("m2", "h2-edited")], "tax-3", "tfidf-1"),
        suggest_key(CUSTOMER, modules, "tax-4", "tfidf-1"),
        suggest_key(CUSTOMER, modules, "tax-3", "tfidf-2"),
    ):
        assert changed != key
    frame = pl.DataFrame({"module_id": ["m2", "m1"], "content_hash": ["h2", "h1"]})
    assert suggest_request(CUSTOMER, frame, "tax-3", "tfidf-1").idempotency_key == key

    # Tags A, then B, then A again: three approvals, three keys; a retry of one is one key.
    first = apply_key(CUSTOMER, "m1", ["b", "a"], "approval-1")
    assert first == apply_key(CUSTOMER, "m1", ["a", "b"], "approval-1")
    assert apply_key(CUSTOMER, "m1", ["c"], "approval-2") != first
    assert apply_key(CUSTOMER, "m1", ["a", "b"], "approval-3") != first


def test_a_request_that_succeeds_on_its_third_attempt(storage, log):
    request = suggest_request(CUSTOMER, [("m1", "h1"), ("m2", "h2")], "tax-3", "tfidf-1")
    record = log.open(request)
    assert (record.status, record.attempts, record.module_count) == ("pending", 0, 2)
    # The same key twice is the same record, from another log object too.
    assert RequestLog(storage).open(request) == record
    assert len(storage.list_objects(REQUESTS_PREFIX)) == 1

    record = log.start(record)
    assert (record.status, record.attempts, record.finished_at) == ("running", 1, None)
    # The client's retry policy made three attempts within this one call.
    record = log.succeed(record, latency_seconds=0.25, model_version="tfidf-1", attempts=3)
    stored = log.get(CUSTOMER, request.idempotency_key)
    assert stored == record
    assert (stored.status, stored.attempts, stored.latency_seconds) == ("succeeded", 3, 0.25)
    assert stored.created_at == "2026-11-23T09:00:01+00:00"
    assert stored.finished_at == stored.updated_at == "2026-11-23T09:00:03+00:00"
    assert [h["status"] for h in stored.history] == ["pending", "running", "succeeded"]
    assert stored.payload == {
        "modules": [["m1", "h1"], ["m2", "h2"]],
        "taxonomy_version": "tax-3",
        "model_version": "tfidf-1",
    }
    with pytest.raises(InvalidTransition, match="cannot go from succeeded to running"):
        log.start(stored)
    assert log.summary(CUSTOMER)["succeeded"] == 1


def test_status_changes_are_validated(log):
    record = log.open(apply_request(CUSTOMER, "m1", ["compliance"], "approval-1"))
    with pytest.raises(InvalidTransition, match="only a failed request goes dead"):
        log.mark_dead(record, "gave up")
    with pytest.raises(InvalidTransition, match="from pending to succeeded"):
        log.succeed(record, latency_seconds=0.1)
    running = log.start(record)
    with pytest.raises(StaleRequest, match="changed since it was read"):
        log.start(record)  # a copy from before the start
    with pytest.raises(InvalidTransition, match="only a failed request goes dead"):
        log.mark_dead(running, "gave up")
    failed = log.fail(running, "UNAVAILABLE: catalog restarting", latency_seconds=2.0)
    assert failed.error == "UNAVAILABLE: catalog restarting" and failed.finished_at
    retried = log.start(failed)
    assert (retried.attempts, retried.finished_at) == (2, None)
    with pytest.raises(ValueError, match="attempts cannot go down"):
        log.fail(retried, "again", attempts=1)
    dead = log.mark_dead(
        log.fail(retried, "DEADLINE_EXCEEDED"), "out of retries: DEADLINE_EXCEEDED"
    )
    assert [h["status"] for h in dead.history] == [
        "pending", "running", "failed", "running", "failed", "dead",
    ]  # fmt: skip


def test_a_key_reused_for_another_payload_is_refused(log):
    request = apply_request(CUSTOMER, "m1", ["compliance"], "approval-1")
    log.open(request)
    forged = apply_request(CUSTOMER, "m1", ["leadership"], "approval-1")
    with pytest.raises(ValueError, match="logged with another payload"):
        log.open(type(request)(**{**forged.__dict__, "idempotency_key": request.idempotency_key}))
    with pytest.raises(ValueError, match="cannot name a storage object"):
        log.get("../acme", request.idempotency_key)


def dead_apply(log, customer, module_id, tags, reason="UNAVAILABLE after 5 attempts"):
    record = log.open(apply_request(customer, module_id, tags, "approval-7"))
    for _ in range(2):
        record = log.fail(log.start(record), reason)
    return log.mark_dead(record, reason)


def test_dead_letters_are_replayed_until_none_are_left(storage, log):
    """ApplyTags failed for three modules; the replay applies them (one only on the second
    replay); the catalog ends with each module's tags applied exactly once; a replay with
    nothing to do makes no call and writes nothing."""
    dead = {m: dead_apply(log, CUSTOMER, m, [f"tag-{m}"]) for m in ("m1", "m2", "m3")}
    dead_apply(log, OTHER, "n1", ["discovery"])
    letters = log.dead_letters.list(CUSTOMER)
    assert sorted(letter.module_ids[0] for letter in letters) == ["m1", "m2", "m3"]
    assert {letter.reason for letter in letters} == {"UNAVAILABLE after 5 attempts"}
    assert letters[0].payload["approval_batch_id"] == "approval-7"
    assert log.summary(CUSTOMER) == {
        "pending": 0,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "dead": 3,
        "requests": 3,
        "dead_letters": 3,
    }

    applied: dict[str, list[str]] = {}  # the catalog: module -> tags, one entry per apply
    calls = []

    def apply_tags(record):
        calls.append(record.idempotency_key)
        module_id = record.payload["module_id"]
        if module_id == "m2" and calls.count(record.idempotency_key) == 1:
            raise ConnectionError("catalog still down")
        assert module_id not in applied, f"{module_id} applied twice"
        applied[module_id] = record.payload["tag_ids"]

    first = replay_dead_letters(log, CUSTOMER, apply_tags)
    assert sorted(first.replayed) == sorted(dead[m].idempotency_key for m in ("m1", "m3"))
    assert first.still_dead == [dead["m2"].idempotency_key]
    [letter] = log.dead_letters.list(CUSTOMER)
    assert letter.reason == "replay failed: ConnectionError: catalog still down"
    assert letter.replays_failed == 1
    m1 = log.get(CUSTOMER, dead["m1"].idempotency_key)
    assert (m1.status, m1.attempts, m1.error) == ("succeeded", 3, None)

    second = replay_dead_letters(log, CUSTOMER, apply_tags)
    assert second.replayed == [dead["m2"].idempotency_key]
    assert applied == {"m1": ["tag-m1"], "m2": ["tag-m2"], "m3": ["tag-m3"]}
    assert log.dead_letters.list(CUSTOMER) == []
    assert log.summary(CUSTOMER)["succeeded"] == 3

    before, calls_before = everything(storage), len(calls)
    third = replay_dead_letters(log, CUSTOMER, apply_tags)
    assert not third.changed_anything
    assert len(calls) == calls_before
    assert everything(storage) == before
    # The other customer's dead letter was never touched.
    assert len(log.dead_letters.list(OTHER)) == 1


def test_a_dead_letter_left_by_a_crash_after_success_is_cleared_without_a_call(log):
    record = dead_apply(log, CUSTOMER, "m1", ["compliance"])
    letter = log.dead_letters.get(CUSTOMER, record.idempotency_key)
    # A replay that recorded its success, then died before removing the dead letter.
    log.succeed(log.start(record), latency_seconds=0.1)
    assert log.dead_letters.get(CUSTOMER, record.idempotency_key) == letter

    def must_not_be_called(record):
        raise AssertionError("replayed a request that had succeeded")

    report = replay_dead_letters(log, CUSTOMER, must_not_be_called)
    assert report.cleared == [record.idempotency_key] and not report.replayed
    assert log.dead_letters.list(CUSTOMER) == []


def write_requests(log, prefix: str, count: int) -> None:
    for i in range(count):
        record = log.open(apply_request(CUSTOMER, f"{prefix}{i}", ["compliance"], "approval-1"))
        log.succeed(log.start(record), latency_seconds=0.01)


def test_two_writers_at_once_never_clash(storage):
    logs = [RequestLog(storage), RequestLog(storage)]
    threads = [
        threading.Thread(target=write_requests, args=(logs[n], f"t{n}-", 15)) for n in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = logs[0].requests(CUSTOMER)
    assert len(records) == 30
    assert {r.status for r in records} == {"succeeded"}
    assert {r.revision for r in records} == {3}


def _write_in_child(root: str, go, prefix: str, count: int) -> None:
    go.wait(timeout=30)
    write_requests(RequestLog(LocalObjectStorage(root=root)), prefix, count)


def test_two_processes_writing_different_requests_never_clash(tmp_path):
    """A forked process (it inherits the imports: a fresh interpreter would spend 10-20 s
    importing Dagster) and this one write 40 requests each into one folder, at once."""
    root = str(tmp_path / "data")
    context = multiprocessing.get_context("fork")
    go = context.Event()
    other = context.Process(target=_write_in_child, args=(root, go, "p-", 40))
    other.start()
    try:
        log = RequestLog(LocalObjectStorage(root=root))
        go.set()
        write_requests(log, "q-", 40)
        other.join(timeout=60)
        assert other.exitcode == 0
    finally:
        if other.is_alive():
            other.kill()
    records = log.requests(CUSTOMER)
    assert len(records) == 80
    assert {r.status for r in records} == {"succeeded"}
    assert sorted(r.module_ids[0][:2] for r in records) == ["p-"] * 40 + ["q-"] * 40
    # No staging file left behind by either writer.
    assert len(LocalObjectStorage(root=root).list_objects("", include_hidden=True)) == 80
