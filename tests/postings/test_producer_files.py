"""Postings files as producers write them: compressed, with markers and hidden files beside
them, CRLF endings, a byte-order mark, numbers written their own way, names that look like
the platform's own. Real gRPC model, embedded Redis, DuckDB; local folder and moto's S3."""

import gzip
import json

import dagster as dg
import orjson
import pyarrow as pa
import pytest

from assets.partitions import daily_partitions
from assets.postings.augment import output_key, quarantine_key
from assets.postings.normalize import normalize_values
from assets.postings.sensors import raw_job_postings_sensor
from model_servers.seniority.classifier import classify
from tests.helpers import (
    POSTINGS_DAY,
    asset_check_results,
    materialization_metadata,
    materialize_postings,
    published_postings_files,
    warehouse_rows,
)

DAY = POSTINGS_DAY
RAW = f"job-postings-raw/{DAY}/"
BOTH_STORAGES = [
    "storage",
    pytest.param("s3_storage", marks=pytest.mark.xdist_group("moto")),
]


@pytest.fixture(params=BOTH_STORAGES)
def any_storage(request):
    """The local folder, then moto's S3: one rule on both."""
    return request.getfixturevalue(request.param)


def jsonl(records, ending: bytes = b"\n") -> bytes:
    return b"".join(orjson.dumps(record) + ending for record in records)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zst(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


def unzst(data: bytes) -> bytes:
    return pa.CompressedInputStream(pa.BufferReader(data), "zstd").read()


def level_of(title: str) -> int:
    [level], _ = classify(normalize_values([title]))
    return level


def with_level(raw_line: bytes, title: str, ending: bytes = b"\n") -> bytes:
    """A raw line (without its ending) as the output must hold it."""
    return raw_line[:-1] + b',"seniority":' + str(level_of(title)).encode() + b"}" + ending


def postings(n: int, start: int = 0) -> list[dict]:
    titles = ["Data Engineer", "Senior Nurse", "Chief Financial Officer", "Barista Intern"]
    return [
        {"posting_id": f"p-{start + i}", "company": "Acme", "title": titles[i % len(titles)]}
        for i in range(n)
    ]


def expected_output(records: list[dict]) -> bytes:
    return b"".join(with_level(orjson.dumps(r), r["title"]) for r in records)


# --- 2. Compressed files -----------------------------------------------------------------


def test_compressed_files_are_read_counted_and_written_in_their_compression(
    resources, storage, warehouse
):
    plain, in_gz, in_zst = postings(5), postings(6, start=100), postings(4, start=200)
    bad = b'{"company": "Acme", "title": "cut'
    gz_lines = [orjson.dumps(r) for r in in_gz]
    gz_lines.insert(2, bad)  # line 3 of the decompressed file
    raw = {
        RAW + "part-000.jsonl": jsonl(plain),
        RAW + "part-001.jsonl.gz": gz(b"\n".join(gz_lines) + b"\n"),
        RAW + "part-002.ndjson.zst": zst(jsonl(in_zst)),
    }
    for key, data in raw.items():
        storage.write_bytes(key, data)

    result = materialize_postings(resources)
    meta = materialization_metadata(result)
    raw_meta = materialization_metadata(result, "raw_job_postings")

    assert (raw_meta["files"], raw_meta["compressed_files"]) == (3, 2)
    assert raw_meta["bytes"] == sum(len(data) for data in raw.values())
    assert (meta["files"], meta["compressed_files"]) == (3, 2)
    assert meta["lines_in"] == 5 + 7 + 4
    assert (meta["lines_out"], meta["lines_quarantined"]) == (15, 1)
    assert all(asset_check_results(result).values())
    [entry] = [json.loads(x) for x in storage.read_bytes(quarantine_key(DAY)).splitlines()]
    assert (entry["source_key"], entry["line_number"]) == (RAW + "part-001.jsonl.gz", 3)
    assert entry["line"].encode() == bad

    out = published_postings_files(storage)
    assert sorted(out) == sorted([output_key(key, DAY) for key in raw] + [quarantine_key(DAY)])
    assert out[output_key(RAW + "part-000.jsonl", DAY)] == expected_output(plain)
    assert gzip.decompress(out[output_key(RAW + "part-001.jsonl.gz", DAY)]) == expected_output(
        in_gz
    )
    assert unzst(out[output_key(RAW + "part-002.ndjson.zst", DAY)]) == expected_output(in_zst)
    sources = warehouse_rows(warehouse, "raw.job_postings", ["source_key"])["source_key"]
    assert sources.value_counts().sort("source_key").rows() == [
        (RAW + "part-000.jsonl", 5),
        (RAW + "part-001.jsonl.gz", 6),
        (RAW + "part-002.ndjson.zst", 4),
    ]

    # A rerun (every pair cached now) writes the same compressed bytes.
    materialize_postings(resources)
    assert published_postings_files(storage) == out


def evaluate_sensor(storage, cursor=None):
    with dg.build_sensor_context(cursor=cursor, resources={"storage": storage}) as context:
        result = raw_job_postings_sensor(context)
        return (result if isinstance(result, list) else []), context.cursor


def test_the_sensor_starts_a_day_of_only_compressed_files(any_storage):
    day = daily_partitions.get_partition_keys()[3]
    any_storage.write_bytes(f"job-postings-raw/{day}/part-000.jsonl.gz", gz(jsonl(postings(2))))
    requests, cursor = evaluate_sensor(any_storage)
    assert [r.partition_key for r in requests] == [day]

    any_storage.write_bytes(f"job-postings-raw/{day}/part-001.jsonl.zst", zst(jsonl(postings(1))))
    requests, _ = evaluate_sensor(any_storage, cursor)
    assert [r.partition_key for r in requests] == [day]


# --- 3. Objects that are not posting files -----------------------------------------------


def test_objects_that_are_not_postings_are_listed_as_ignored_with_a_warning(resources, any_storage):
    """Hidden objects follow one rule on both storages: never postings, always listed."""
    good = postings(3)
    any_storage.write_bytes(RAW + "part-000.jsonl", jsonl(good))
    others = {
        "_SUCCESS": b"",
        ".DS_Store": b"\x00\x01",
        ".part-001.jsonl": jsonl(postings(2, start=50)),  # hidden, though named like postings
        "notes.txt": b"produced by the nightly export\n",
        "part-002.csv": b"company,title\nAcme,Cook\n",
    }
    for name, data in others.items():
        any_storage.write_bytes(RAW + name, data)

    instance = dg.DagsterInstance.ephemeral()
    result = materialize_postings({**resources, "storage": any_storage}, instance=instance)
    meta = materialization_metadata(result)
    raw_meta = materialization_metadata(result, "raw_job_postings")

    for ignored in (meta["ignored_objects"], raw_meta["ignored_objects"]):
        assert sorted(ignored) == sorted(others)
        assert "hidden" in ignored[".DS_Store"] and "hidden" in ignored[".part-001.jsonl"]
        assert "reserved" in ignored["_SUCCESS"]
        assert "not a posting file" in ignored["notes.txt"]
    assert (meta["files"], meta["lines_in"], meta["lines_out"]) == (1, 3, 3)
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level >= 30 and not e.is_dagster_event
    ]
    for name in others:
        assert any(f"ignored {any_storage.uri(RAW + name)}" in w for w in warnings), name


# --- 4. Byte for byte --------------------------------------------------------------------


def test_crlf_endings_and_a_byte_order_mark_are_kept_byte_for_byte(resources, storage):
    records = postings(4)
    numbered = {"company": "Acme", "title": "Data Engineer", "posting_id": 7}  # slow path
    lines = [orjson.dumps(r) for r in [*records, numbered]]
    storage.write_bytes(RAW + "crlf.jsonl", b"".join(line + b"\r\n" for line in lines))
    storage.write_bytes(RAW + "bom.jsonl", b"\xef\xbb\xbf" + jsonl(records))
    storage.write_bytes(RAW + "bom-crlf.jsonl.gz", gz(b"\xef\xbb\xbf" + jsonl(records, b"\r\n")))

    meta = materialization_metadata(materialize_postings(resources))

    assert (meta["lines_in"], meta["lines_out"], meta["lines_quarantined"]) == (13, 13, 0)
    titles = [r["title"] for r in [*records, numbered]]
    crlf = b"".join(with_level(line, t, b"\r\n") for line, t in zip(lines, titles, strict=True))
    assert storage.read_bytes(output_key(RAW + "crlf.jsonl", DAY)) == crlf
    # The mark opens the output file as it opened the raw one; line 1 is a posting.
    assert storage.read_bytes(output_key(RAW + "bom.jsonl", DAY)) == (
        b"\xef\xbb\xbf" + expected_output(records)
    )
    bom_crlf = storage.read_bytes(output_key(RAW + "bom-crlf.jsonl.gz", DAY))
    assert gzip.decompress(bom_crlf) == b"\xef\xbb\xbf" + b"".join(
        with_level(orjson.dumps(r), r["title"], b"\r\n") for r in records
    )


def test_numbers_in_optional_fields_reach_the_warehouse_as_written(resources, storage, warehouse):
    """posting_id, location and posted_at are the warehouse columns taken from optional
    fields (WAREHOUSE_SCHEMA); each keeps the text the producer wrote."""
    lines = [
        b'{"company": "Acme", "title": "Data Engineer", "posting_id": 1.0e3}',
        b'{"company": "Acme", "title": "Data Engineer", '
        b'"posting_id": 123456789012345678901234567890}',
        b'{"company": "Acme", "title": "Cook", "posted_at": 1763596800.500, "location": -0.0}',
        b'{"company": "Acme", "title": "Cook", "location": {"lat": 52.50, "lon": 1E2}}',
        b'{"company": "Acme", "title": "Cook", "location": [1.10, true, null, "x"]}',
        b'{"company": "Acme", "title": "Cook", "posting_id": "p-1", "location": "Berlin"}',
    ]
    storage.write_bytes(RAW + "numbers.jsonl", b"\n".join(lines) + b"\n")

    materialize_postings(resources)

    columns = ["line_number", "posting_id", "location", "posted_at"]
    rows = warehouse.query(f"select {', '.join(columns)} from raw.job_postings order by 1")
    assert rows.rows() == [
        (1, "1.0e3", None, None),
        (2, "123456789012345678901234567890", None, None),
        (3, None, "-0.0", "1763596800.500"),
        (4, None, '{"lat":52.50,"lon":1E2}', None),
        (5, None, '[1.10,true,null,"x"]', None),
        (6, "p-1", "Berlin", None),
    ]
    titles = [orjson.loads(line)["title"] for line in lines]
    assert storage.read_bytes(output_key(RAW + "numbers.jsonl", DAY)) == b"".join(
        with_level(line, t) for line, t in zip(lines, titles, strict=True)
    )


# --- 5. Raw names that collide with the platform's own files -----------------------------


def test_a_raw_file_named_like_the_quarantine_is_ignored_loudly_never_overwritten(
    resources, storage, warehouse
):
    storage.write_bytes(RAW + "_quarantine.jsonl", jsonl(postings(3, start=10)))
    storage.write_bytes(RAW + "part-000.jsonl", jsonl(postings(2)) + b"[1, 2]\n")

    meta = materialization_metadata(materialize_postings(resources))

    assert "reserved" in meta["ignored_objects"]["_quarantine.jsonl"]
    assert (meta["files"], meta["lines_in"], meta["lines_quarantined"]) == (1, 3, 1)
    # The day's quarantine is the platform's, whole: the one rejected line of part-000.
    [entry] = [json.loads(x) for x in storage.read_bytes(quarantine_key(DAY)).splitlines()]
    assert (entry["source_key"], entry["line_number"]) == (RAW + "part-000.jsonl", 3)
    sources = warehouse_rows(warehouse, "raw.job_postings", ["source_key"])["source_key"]
    assert sources.to_list() == [RAW + "part-000.jsonl"] * 2
