"""The postings family end to end: real gRPC model, embedded Redis, DuckDB, local storage."""

import base64
import json
import math

import orjson
import pytest

from assets.postings.augment import output_key, quarantine_key
from assets.postings.normalize import normalize_values
from assets.postings.parse import parse_postings_file, read_valid_lines
from model_servers.seniority.classifier import classify
from model_servers.seniority.server import serve
from resources.seniority_cache import SeniorityCache
from resources.seniority_model import SeniorityModel
from scripts.sample_postings import write_sample_day
from tests.helpers import (
    POSTINGS_DAY,
    asset_check_results,
    closed_port,
    materialization_metadata,
    materialize_postings,
    step_failure_message,
)

DAY = POSTINGS_DAY


def jsonl(records) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def test_every_line_gets_its_level_and_nothing_else_changes(resources, storage, warehouse):
    day = write_sample_day(storage, DAY, lines=6_000, files=3, seed=1)
    result = materialize_postings(resources)
    meta = materialization_metadata(result)

    assert meta["lines_in"] == meta["lines_out"] == 6_000
    assert meta["lines_quarantined"] == 0
    # What the UI shows: the rows, the columns as loaded, a preview of the first rows, and
    # the raw day's line count (observed by the run that read it).
    assert meta["dagster/row_count"] == 6_000
    columns = [c.name for c in meta["dagster/column_schema"].columns]
    assert columns[:3] == ["posting_date", "source_key", "line_number"] and "seniority" in columns
    assert meta["preview"].count("\n|") == 1 + 5 and "The first 5 of 6,000 rows" in meta["preview"]
    quarantine = materialization_metadata(result, "job_postings_quarantine")
    assert quarantine["dagster/row_count"] == 0 and "reason" in quarantine["preview"]
    [observed] = [
        e.event_specific_data.asset_observation
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    assert observed.asset_key.to_user_string() == "raw_job_postings"
    assert (observed.partition, observed.metadata["dagster/row_count"].value) == (DAY, 6_000)
    assert asset_check_results(result) == {
        "every_posting_has_a_level": True,
        "lines_reconcile": True,
        "model_calls_are_minimal": True,
    }
    for key in day.keys:
        raw_lines = storage.read_bytes(key).decode().splitlines()
        out_lines = storage.read_bytes(output_key(key, DAY)).decode().splitlines()
        assert len(out_lines) == len(raw_lines)
        for raw, out in zip(raw_lines, out_lines, strict=True):
            # Byte for byte the same line, plus the level before the closing brace.
            assert out.startswith(raw[:-1] + ',"seniority":')
            record = orjson.loads(out)
            expected = {**orjson.loads(raw), "seniority": record["seniority"]}
            assert record == expected
            assert 1 <= record["seniority"] <= 7

    # Every level is the model's answer for that line's normalized pair.
    written = [
        orjson.loads(line)
        for key in day.keys
        for line in storage.read_bytes(output_key(key, DAY)).splitlines()
    ]
    expected, _ = classify(normalize_values([record["title"] for record in written]))
    assert [record["seniority"] for record in written] == expected

    loaded = warehouse.query(
        "select count(*) as n, count(distinct seniority) as levels from raw.job_postings"
    )
    assert loaded["n"][0] == 6_000
    assert loaded["levels"][0] >= 3


def test_one_model_call_per_batch_of_distinct_misses(resources, storage):
    day = write_sample_day(storage, DAY, lines=5_000, files=2, seed=2)
    meta = materialization_metadata(materialize_postings(resources))

    # Heavy repetition: far fewer distinct pairs than lines, and only those are sent.
    records = [
        orjson.loads(line) for key in day.keys for line in storage.read_bytes(key).splitlines()
    ]
    distinct = set(
        zip(
            normalize_values([r["company"] for r in records]),
            normalize_values([r["title"] for r in records]),
            strict=True,
        )
    )
    assert meta["distinct_pairs"] == len(distinct) < 5_000 / 2
    assert meta["cache_hits"] == 0
    assert meta["items_sent"] == meta["cache_misses"] == meta["distinct_pairs"]
    assert meta["model_calls"] == math.ceil(meta["distinct_pairs"] / 100)


def test_rerun_is_byte_identical_and_asks_the_model_nothing(resources, storage, warehouse):
    day = write_sample_day(storage, DAY, lines=3_000, files=2, seed=3)
    first = materialization_metadata(materialize_postings(resources))
    outputs = {key: storage.read_bytes(output_key(key, DAY)) for key in day.keys}

    second = materialization_metadata(materialize_postings(resources))

    assert first["model_calls"] > 0
    assert second["model_calls"] == 0
    assert second["items_sent"] == 0
    assert second["cache_hits"] == second["distinct_pairs"] == first["distinct_pairs"]
    # Every file's pairs were cached, so each was written in the first pass, read once.
    assert (first["files_written_from_cache"], second["files_written_from_cache"]) == (0, 2)
    assert {key: storage.read_bytes(output_key(key, DAY)) for key in day.keys} == outputs
    # The warehouse partition is replaced, not appended to.
    assert warehouse.query("select count(*) as n from raw.job_postings")["n"][0] == 3_000


def test_a_server_that_caps_batches_keeps_model_calls_minimal(resources, storage):
    """The client sends at most the server's max_batch_size (40), not the configured 100;
    the check expects calls for the size really sent."""
    server, port = serve("127.0.0.1", 0, max_batch_size=40)
    try:
        capped = SeniorityModel(endpoint=f"127.0.0.1:{port}", batch_size=100, deadline_seconds=10)
        write_sample_day(storage, DAY, lines=2_000, files=2, seed=14)
        result = materialize_postings({**resources, "seniority_model": capped})
    finally:
        server.stop(grace=None)

    meta = materialization_metadata(result)
    assert meta["batch_size"] == 40
    assert meta["cache_misses"] > 100  # enough misses for 40 and 100 to call differently
    assert meta["model_calls"] == math.ceil(meta["cache_misses"] / 40)
    assert asset_check_results(result)["model_calls_are_minimal"] is True


def test_spellings_of_a_pair_share_one_model_call(resources, storage):
    lines = [
        {"company": "Société Générale", "title": "Senior Data Engineer"},
        {"company": "SOCIETE GENERALE", "title": "senior  data engineer"},
        {"company": "societe generale,", "title": "Senior Data-Engineer!"},
    ]
    storage.write_bytes(f"job-postings-raw/{DAY}/a.jsonl", jsonl(lines))
    meta = materialization_metadata(materialize_postings(resources))
    assert meta["distinct_pairs"] == 1
    assert meta["items_sent"] == 1


MALFORMED = {
    2: (b'{"company": "Acme", "title": "Data Engineer", "desc": "cut', "invalid JSON"),
    3: (b"[1, 2, 3]", "not a JSON object"),
    4: (b'{"title": "Barista"}', "missing company"),
    5: (b'{"company": "Acme"}', "missing title"),
    6: (b'{"company": "Acme", "title": "Nurse \xff\xfe"}', "invalid UTF-8"),
    7: (
        b'{"company": "Acme", "title": "Clerk", "notes": "' + b"x" * (1024 * 1024) + b'"}',
        "longer than 1 MiB",
    ),
    8: (b'{"company": 42, "title": "Cook"}', "company is not a string"),
    9: (b'{"company": "...", "title": "Cook"}', "company is empty after normalization"),
}


def test_malformed_lines_are_quarantined_with_line_number_and_reason(resources, storage):
    good = b'{"company": "Acme", "title": "Senior Data Engineer"}'
    body = [good] + [MALFORMED[n][0] for n in sorted(MALFORMED)] + [good]
    storage.write_bytes(f"job-postings-raw/{DAY}/mixed.jsonl", b"\n".join(body) + b"\n")
    storage.write_bytes(f"job-postings-raw/{DAY}/empty.jsonl", b"")

    result = materialize_postings(resources)
    meta = materialization_metadata(result)

    assert meta["lines_in"] == len(body)
    assert meta["lines_out"] == 2
    assert meta["lines_quarantined"] == len(MALFORMED)
    assert asset_check_results(result)["lines_reconcile"] is True
    quarantined = [
        json.loads(line) for line in storage.read_bytes(quarantine_key(DAY)).decode().splitlines()
    ]
    by_line = {q["line_number"]: q for q in quarantined}
    assert set(by_line) == set(MALFORMED)
    for number, (raw, reason) in MALFORMED.items():
        entry = by_line[number]
        assert entry["source_key"] == f"job-postings-raw/{DAY}/mixed.jsonl"
        assert reason in entry["reason"], (number, entry["reason"])
        # Nothing is lost: the original bytes can be recovered from the quarantine.
        if entry["line_base64"] is not None:
            assert base64.b64decode(entry["line_base64"]) == raw
        else:
            assert entry["line"].encode() == raw
    # The good lines around the bad ones are written, in order, as they were plus a level.
    written = storage.read_bytes(f"job-postings-mod/{DAY}/mixed.jsonl").splitlines()
    assert [line[: len(good) - 1] for line in written] == [good[:-1]] * 2
    [level], _ = classify(normalize_values(["Senior Data Engineer"]))
    assert [orjson.loads(line)["seniority"] for line in written] == [level, level]
    # The empty file is fine and yields an empty output.
    assert storage.read_bytes(f"job-postings-mod/{DAY}/empty.jsonl") == b""


def test_a_file_that_changes_between_the_two_reads_is_refused(tmp_path):
    path = tmp_path / "part-000.jsonl"
    path.write_bytes(b'{"company": "Acme", "title": "Data Engineer"}\n')
    parsed = parse_postings_file(path, "job-postings-raw/x/part-000.jsonl")
    with path.open("ab") as more:
        more.write(b'{"company": "Acme", "title": "Data Analyst"}\n')
    with pytest.raises(RuntimeError, match=r"part-000\.jsonl changed .*\(1 lines when parsed, 2"):
        read_valid_lines(path, parsed.valid, parsed.lines_in, parsed.source_key)


def test_model_down_fails_naming_the_target_and_keeps_the_good_output(resources, storage, tmp_path):
    day = write_sample_day(storage, DAY, lines=500, files=1, seed=4)
    materialize_postings(resources)
    good = storage.read_bytes(output_key(day.keys[0], DAY))
    # New input arrives while the model is down, with an empty cache.
    write_sample_day(storage, DAY, lines=700, files=1, seed=5)
    endpoint = f"127.0.0.1:{closed_port()}"
    down = {
        **resources,
        "seniority_model": SeniorityModel(endpoint=endpoint, deadline_seconds=2, max_attempts=3),
        "seniority_cache": SeniorityCache(embedded_db_path=str(tmp_path / "empty" / "cache.rdb")),
    }

    result = materialize_postings(down, raise_on_error=False)

    assert not result.success
    message = step_failure_message(result)
    assert endpoint in message and "UNAVAILABLE" in message
    assert storage.read_bytes(output_key(day.keys[0], DAY)) == good


def test_nothing_is_published_unless_every_file_is_written(resources, storage):
    """A file the cache fully knows is written in the first pass, but only published once
    every other file is written too; a model failure afterwards publishes nothing."""
    known = [{"company": "Acme", "title": t} for t in ("Data Engineer", "Senior Nurse", "CFO")]
    raw_a, raw_b = f"job-postings-raw/{DAY}/a.jsonl", f"job-postings-raw/{DAY}/b.jsonl"
    storage.write_bytes(raw_a, jsonl({**x, "id": i} for i, x in enumerate(known)))
    storage.write_bytes(raw_b, b'{"company": "Globex", "title": "Barista"}\n')
    materialize_postings(resources)
    before = {key: storage.read_bytes(output_key(key, DAY)) for key in (raw_a, raw_b)}

    # a.jsonl changes but keeps its cached pairs; b.jsonl brings a pair only the model knows.
    storage.write_bytes(raw_a, jsonl({**x, "id": 10 + i} for i, x in enumerate(known)))
    storage.write_bytes(raw_b, b'{"company": "Globex", "title": "Chief Barista Officer"}\n')
    server, port = serve("127.0.0.1", 0, fail_first=1_000)  # describes itself, never infers
    try:
        failing = SeniorityModel(endpoint=f"127.0.0.1:{port}", max_attempts=2, deadline_seconds=5)
        with_failing = {**resources, "seniority_model": failing}
        result = materialize_postings(with_failing, raise_on_error=False)
    finally:
        server.stop(grace=None)

    assert not result.success
    assert {key: storage.read_bytes(output_key(key, DAY)) for key in (raw_a, raw_b)} == before
    # No staged leftovers beside the outputs.
    assert sorted(storage.list_keys(f"job-postings-mod/{DAY}/")) == sorted(
        [output_key(raw_a, DAY), output_key(raw_b, DAY), quarantine_key(DAY)]
    )

    # With the model back, a.jsonl is written from the cache and b.jsonl after one call.
    meta = materialization_metadata(materialize_postings(resources))
    assert (meta["files_written_from_cache"], meta["model_calls"]) == (1, 1)
    assert storage.read_bytes(output_key(raw_a, DAY)) != before[raw_a]


def test_unreachable_redis_bypasses_the_cache_and_still_completes(resources, storage):
    write_sample_day(storage, DAY, lines=800, files=1, seed=6)
    no_cache = {
        **resources,
        "seniority_cache": SeniorityCache(redis_url=f"redis://127.0.0.1:{closed_port()}/0"),
    }

    result = materialize_postings(no_cache)
    meta = materialization_metadata(result)

    assert meta["cache_status"].startswith("bypassed")
    assert meta["lines_out"] == 800
    assert meta["cache_hits"] == 0
    assert meta["items_sent"] == meta["distinct_pairs"]
    assert all(asset_check_results(result).values())


def test_missing_day_fails_clearly(resources):
    result = materialize_postings(resources, day="2026-07-02", raise_on_error=False)
    assert not result.success
    message = step_failure_message(result)
    assert "no job-posting files" in message and "2026-07-02" in message
