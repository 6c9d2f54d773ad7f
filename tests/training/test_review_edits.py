"""The review file a customer edits: merging new suggestions keeps their work, their edits
are validated against their own taxonomy (blocked with suggestions, never replaced), and a
blocked approval leaves the published one untouched. Local folder and moto's S3."""

import csv
import io
import json
import uuid
from pathlib import Path

import polars as pl
import pytest

from assets.training.review import (
    NO_TAGS,
    ApprovalBlocked,
    ReviewFileChanged,
    ReviewFileError,
    TagVocabulary,
    approval_batch_id,
    approved_key,
    parse_review_csv,
    publish_approved,
    read_published_approval,
    read_review_edits,
    review_key,
    review_set_key,
    validate_edits,
    write_review_file,
)
from resources.object_storage import LocalObjectStorage

TAXONOMIES = Path(__file__).parents[2] / "model_servers" / "training_catalog" / "taxonomies.json"
CUSTOMER = "acme-pharma"


def taxonomy(customer_id: str) -> list[dict]:
    customers = json.loads(TAXONOMIES.read_text())["customers"]
    [customer] = [c for c in customers if c["customer_id"] == customer_id]
    return customer["tags"]


ACME = taxonomy(CUSTOMER)
ACME_IDS = {tag["tag_id"] for tag in ACME}


@pytest.fixture
def storage(tmp_path):
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
    bucket = f"training-review-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    return S3ObjectStorage(
        bucket=bucket, s3=S3Resource(endpoint_url=moto_endpoint, region_name="us-east-1")
    )


@pytest.fixture(params=["storage", pytest.param("fresh_s3", marks=pytest.mark.xdist_group("moto"))])
def any_storage(request):
    return request.getfixturevalue(request.param)


def suggestion(
    module_id, tags, content_hash=None, abstained=False, rationale="why not", title=None
):
    return {
        "module_id": module_id,
        "title": title or f"Module {module_id}",
        "content_hash": content_hash or f"h-{module_id}",
        "tag_ids": tags,
        "confidences": [0.9 - 0.1 * i for i in range(len(tags))],
        "rationale": rationale,
        "model_version": "tfidf-1",
        "abstained": abstained,
    }


def suggestions(*rows) -> pl.DataFrame:
    return pl.DataFrame(
        list(rows),
        schema={
            "module_id": pl.String,
            "title": pl.String,
            "content_hash": pl.String,
            "tag_ids": pl.List(pl.String),
            "confidences": pl.List(pl.Float64),
            "rationale": pl.String,
            "model_version": pl.String,
            "abstained": pl.Boolean,
        },
    )


def read_rows(storage, customer=CUSTOMER) -> dict[str, dict[str, str]]:
    return {row.module_id: row.cells for row in read_review_edits(storage, customer).rows}


def customer_saves(
    storage, edits: dict, customer=CUSTOMER, delimiter=",", bom=True, crlf=True, add_column=None
):
    """The customer opens the file, changes cells ({module_id: {column: value}}), saves."""
    text = storage.read_bytes(review_key(customer)).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    columns = list(rows[0]) + ([add_column] if add_column else [])
    out = io.StringIO(newline="")
    writer = csv.DictWriter(
        out, columns, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n", restval=""
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, **edits.get(row["module_id"], {})})
    for module_id, cells in edits.items():
        if module_id not in {row["module_id"] for row in rows}:  # a row the customer adds
            writer.writerow({"module_id": module_id, **cells})
    data = out.getvalue().encode("utf-8-sig" if bom else "utf-8")
    storage.write_bytes(review_key(customer), data)


def validated(storage, customer=CUSTOMER, tags=ACME):
    edits = read_review_edits(storage, customer)
    return validate_edits(customer, edits.rows, tags, edits.review_module_ids)


FIRST = suggestions(
    suggestion("m1", ["communication", "negotiation"]),
    suggestion("m2", ["compliance"]),
    suggestion("m3", ["clinical-data"]),
    suggestion("m4", [], abstained=True, rationale="no tag scores above 0.2"),
    suggestion("m5", ["leadership"], rationale='=HYPERLINK("http://x")'),
)


def test_the_first_file_is_laid_out_for_a_spreadsheet(storage):
    report = write_review_file(storage, CUSTOMER, FIRST)
    assert report.added == ["m1", "m2", "m3", "m4", "m5"] and report.written
    raw = storage.read_bytes(review_key(CUSTOMER))
    assert raw.startswith(b"\xef\xbb\xbfmodule_id,title,suggested_tags,confidences,rationale,tags,")
    assert raw.count(b"\r\n") == 6
    rows = read_rows(storage)
    assert rows["m1"]["suggested_tags"] == "communication|negotiation"
    assert rows["m1"]["confidences"] == "0.90|0.80"
    assert rows["m1"]["tags"] == "communication|negotiation"  # prefilled, editable
    assert rows["m1"]["approved"] == ""
    assert rows["m4"]["tags"] == "" and NO_TAGS in rows["m4"]["platform_note"]
    # The model's text never becomes a formula in the customer's spreadsheet.
    assert rows["m5"]["rationale"] == '\'=HYPERLINK("http://x")'
    review_set = json.loads(storage.read_bytes(review_set_key(CUSTOMER)))["modules"]
    assert review_set == {f"m{i}": f"h-m{i}" for i in range(1, 6)}


def test_merging_new_suggestions_keeps_the_customers_edits(any_storage):
    storage = any_storage
    write_review_file(storage, CUSTOMER, FIRST)
    customer_saves(
        storage,
        {
            "m1": {"tags": "communication|compliance", "reviewer_note": "not negotiation"},
            "m2": {"approved": "yes", "owner": "Dana"},
            "m3": {"approved": "yes", "tags": "clinical-data|product-knowledge"},
        },
        add_column="owner",
    )
    report = write_review_file(
        storage,
        CUSTOMER,
        suggestions(
            suggestion("m1", ["negotiation"]),  # unchanged module, edited row: kept
            suggestion("m2", ["compliance", "data-privacy"]),  # unchanged, approved: kept
            suggestion("m3", ["onboarding"], content_hash="h-m3-v2"),  # changed: refreshed
            suggestion("m5", ["leadership", "onboarding"]),  # unchanged, untouched: prefill
            suggestion("m6", ["digital-engagement"]),  # new
        ),
    )
    assert report.added == ["m6"]
    assert report.refreshed == ["m3"] and report.approvals_cleared == ["m3"]
    assert report.prefill_refreshed == ["m5"]
    assert report.kept_edits == ["m1", "m2"]
    rows = read_rows(storage)
    assert list(rows) == ["m1", "m2", "m3", "m4", "m5", "m6"]
    assert rows["m1"]["tags"] == "communication|compliance"
    assert rows["m1"]["reviewer_note"] == "not negotiation"
    assert rows["m1"]["suggested_tags"] == "negotiation"
    assert "kept" in rows["m1"]["platform_note"]
    assert (rows["m2"]["tags"], rows["m2"]["approved"]) == ("compliance", "yes")
    assert rows["m2"]["owner"] == "Dana"  # a column the customer added survives
    assert rows["m3"]["tags"] == "onboarding" and rows["m3"]["approved"] == ""
    assert "approval cleared" in rows["m3"]["platform_note"]
    assert "clinical-data|product-knowledge" in rows["m3"]["platform_note"]
    assert rows["m3"]["content_hash"] == "h-m3-v2"
    assert rows["m4"]["tags"] == ""  # not re-suggested: left as it was
    assert rows["m5"]["tags"] == "leadership|onboarding"
    assert rows["m6"]["tags"] == "digital-engagement"
    assert json.loads(storage.read_bytes(review_set_key(CUSTOMER)))["modules"]["m3"] == "h-m3-v2"


def test_a_rerun_with_nothing_new_leaves_the_file_alone(storage):
    write_review_file(storage, CUSTOMER, FIRST)
    before = storage.list_objects(review_key(CUSTOMER))[0]
    data = storage.read_bytes(review_key(CUSTOMER))
    again = write_review_file(storage, CUSTOMER, FIRST)
    assert not again.written
    assert storage.list_objects(review_key(CUSTOMER))[0].version == before.version
    assert storage.read_bytes(review_key(CUSTOMER)) == data


class CustomerSavesDuringMerge(LocalObjectStorage):
    """The local folder, where the customer saves the review file at the worst moment: just
    after the platform has read it to merge new suggestions, before it writes the merge."""

    def write_bytes(self, key: str, data: bytes) -> None:
        super().write_bytes(key, data)
        if key == review_set_key(CUSTOMER):
            super().write_bytes(review_key(CUSTOMER), SAVED_BY_CUSTOMER)


SAVED_BY_CUSTOMER = b"module_id,tags,approved\r\nm1,compliance,yes\r\n"


def test_a_customer_save_during_a_merge_is_never_overwritten(tmp_path):
    storage = CustomerSavesDuringMerge(root=str(tmp_path / "data"))
    with pytest.raises(ReviewFileChanged, match="changed while new suggestions were merged"):
        write_review_file(storage, CUSTOMER, FIRST)
    assert storage.read_bytes(review_key(CUSTOMER)) == SAVED_BY_CUSTOMER


def test_a_file_the_platform_cannot_read_is_never_overwritten(storage):
    write_review_file(storage, CUSTOMER, FIRST)
    key = review_key(CUSTOMER)
    cp1252 = "module_id,tags,approved\r\nm1,communication,yes\r\nm2,caf\xe9,\r\n".encode("cp1252")
    storage.write_bytes(key, cp1252)
    with pytest.raises(ReviewFileError, match=r"not UTF-8 \(first bad byte at offset 53\)"):
        write_review_file(storage, CUSTOMER, FIRST)
    assert storage.read_bytes(key) == cp1252
    storage.write_bytes(key, b"module_id,labels,approved\r\nm1,communication,yes\r\n")
    with pytest.raises(ReviewFileError, match=r"lacks the column\(s\) \['tags'\]"):
        read_review_edits(storage, CUSTOMER)


def test_files_as_spreadsheets_save_them():
    """Semicolons (a European locale), LF endings, no byte-order mark, a note over two lines,
    blank rows at the end; row numbers as the spreadsheet shows them."""
    data = (
        b"Module_ID;tags;approved;reviewer_note\n"
        b'm1;communication;yes;"first line\nsecond line"\n'
        b"m2;compliance|leadership;;\n"
        b";;;\n"
        b"m3;;;\n"
    )
    columns, rows = parse_review_csv(data, "review.csv")
    assert columns == ("module_id", "tags", "approved", "reviewer_note")
    assert [(r.row_number, r.module_id) for r in rows] == [(2, "m1"), (3, "m2"), (5, "m3")]
    assert rows[0].cells["reviewer_note"] == "first line\nsecond line"


# (tags typed on an approved row, the value blocked, the suggestions offered, words of the reason)
BLOCKED = {
    "misspelt tag": (
        "comunication|compliance",
        "comunication",
        ("communication",),
        "did you mean 'communication'?",
    ),
    "another customer's tag": (
        "claims-handling",
        "claims-handling",
        ("objection-handling", "account-planning", "onboarding"),
        "unknown tag 'claims-handling': did you mean one of",
    ),
    "alias": ("comms|compliance", "comms", ("communication",), "is the alias of 'communication'"),
    "label": (
        "Product knowledge",
        "Product knowledge",
        ("product-knowledge",),
        "is the label of 'product-knowledge': write the tag id itself",
    ),
    "tag id in capitals": (
        "COMPLIANCE",
        "COMPLIANCE",
        ("compliance",),
        "is the tag id 'compliance' written differently",
    ),
    "ambiguous": (
        "data",
        "data",
        ("clinical-data", "data-privacy", "digital-engagement"),
        "one of",
    ),
    "empty tag between": (
        "communication||compliance",
        "communication||compliance",
        (),
        "empty tag",
    ),
    "trailing separator": ("communication|", "communication|", (), "empty tag"),
    "whitespace tag": ("communication| |compliance", "communication| |compliance", (), "empty tag"),
    "duplicate tag": ("compliance|compliance", "compliance", (), "written 2 times"),
    "approved with no tags": ("", "", (), f"write {NO_TAGS} to approve none"),
}


@pytest.mark.parametrize("case", list(BLOCKED))
def test_an_approved_edit_with_a_bad_tag_is_blocked_with_suggestions(storage, case):
    typed, value, hints, words = BLOCKED[case]
    write_review_file(storage, CUSTOMER, FIRST)
    customer_saves(storage, {"m1": {"tags": typed, "approved": "yes"}, "m2": {"approved": "yes"}})
    result = validated(storage)
    [problem] = [p for p in result.problems if p.module_id == "m1"]
    assert (problem.row_number, problem.column, problem.value) == (2, "tags", value)
    assert problem.suggestions == hints
    assert words in problem.reason
    assert problem.blocking and result.blocked
    # Never replaced: the blocked module is not among the approved rows; m2 is fine.
    assert result.approved["module_id"].to_list() == ["m2"]
    # Suggestions come from the customer's own taxonomy only.
    assert set(problem.suggestions) <= ACME_IDS


def test_another_customers_tag_reads_exactly_like_a_made_up_one(storage):
    """Nothing in the answer tells the customer that the tag exists elsewhere."""
    write_review_file(storage, CUSTOMER, FIRST)
    customer_saves(storage, {"m1": {"tags": "claims-handling"}, "m2": {"tags": "claimz-handlinq"}})
    reasons = {p.module_id: p.reason for p in validated(storage).problems}
    assert reasons["m1"].replace("claims-handling", "X") == reasons["m2"].replace(
        "claimz-handlinq", "X"
    )
    assert "globex" not in reasons["m1"].lower() and "insurance" not in reasons["m1"].lower()


def test_rows_that_are_not_what_they_seem_are_blocked(storage):
    write_review_file(storage, CUSTOMER, FIRST)
    customer_saves(
        storage,
        {
            "m1": {"approved": "y"},  # neither blank nor yes
            "m2": {"approved": "yes"},
            "m9": {"tags": "compliance", "approved": "yes"},  # a module never laid out
            "m4": {"tags": NO_TAGS, "approved": "yes"},  # explicitly no tags: fine
        },
    )
    result = validated(storage)
    named = {(p.module_id, p.column): p for p in result.problems}
    assert set(named) == {("m1", "approved"), ("m9", "module_id")}
    assert named[("m1", "approved")].blocking
    assert "not in this customer's review set" in named[("m9", "module_id")].reason
    assert result.approved.sort("module_id").rows() == [
        ("m2", ["compliance"], result.approval_batch_id),
        ("m4", [], result.approval_batch_id),
    ]


def test_a_module_on_two_rows_is_blocked_on_both(storage):
    write_review_file(storage, CUSTOMER, FIRST)
    data = storage.read_bytes(review_key(CUSTOMER)) + b"m2,,,,,leadership,yes,,,,\r\n"
    storage.write_bytes(review_key(CUSTOMER), data)
    result = validated(storage)
    assert [(p.row_number, p.reason) for p in result.problems] == [
        (3, "module listed on rows [3, 7]: keep one row per module"),
        (7, "module listed on rows [3, 7]: keep one row per module"),
    ]
    assert all(p.blocking for p in result.problems)
    assert "m2" not in result.approved["module_id"].to_list()


def test_problems_on_rows_not_approved_are_named_but_block_nothing(storage):
    write_review_file(storage, CUSTOMER, FIRST)
    customer_saves(storage, {"m1": {"tags": "comms"}, "m2": {"approved": "yes"}})
    result = validated(storage)
    [problem] = result.problems
    assert (problem.module_id, problem.value, problem.blocking) == ("m1", "comms", False)
    published = publish_approved(storage, result)
    assert published.modules.rows() == [("m2", ["compliance"])]


def test_a_blocked_approval_leaves_the_published_one_untouched(any_storage):
    storage = any_storage
    write_review_file(storage, CUSTOMER, FIRST)
    customer_saves(storage, {"m1": {"approved": "yes"}, "m2": {"approved": "yes"}})
    first = publish_approved(storage, validated(storage))
    assert first.written
    assert first.changed["module_id"].to_list() == ["m1", "m2"]
    published = storage.read_bytes(approved_key(CUSTOMER))

    customer_saves(
        storage,
        {
            "m1": {"tags": "comunication|claims-handling"},
            "m3": {"tags": "compliance||", "approved": "yes"},
        },
    )
    result = validated(storage)
    with pytest.raises(ApprovalBlocked) as blocked:
        publish_approved(storage, result)
    message = str(blocked.value)
    assert "the published approval is unchanged" in message
    for expected in (
        "row 2 (m1), column tags, value 'comunication'",
        "row 2 (m1), column tags, value 'claims-handling'",
        "row 4 (m3), column tags, value 'compliance||'",
    ):
        assert expected in message
    assert len(blocked.value.problems) == 3
    assert storage.read_bytes(approved_key(CUSTOMER)) == published

    # Fixed: published, and only the modules whose approved tags changed are to be applied.
    customer_saves(
        storage, {"m1": {"tags": "communication|compliance"}, "m3": {"tags": "compliance"}}
    )
    fixed = publish_approved(storage, validated(storage))
    assert fixed.written and fixed.approval_batch_id != first.approval_batch_id
    assert fixed.changed.rows() == [("m1", ["communication", "compliance"]), ("m3", ["compliance"])]
    assert read_published_approval(storage, CUSTOMER).modules.height == 3


def test_the_same_approved_file_twice_is_one_batch(storage):
    write_review_file(storage, CUSTOMER, FIRST)
    customer_saves(storage, {"m1": {"approved": "yes"}, "m2": {"approved": "YES "}})
    first = publish_approved(storage, validated(storage))
    version = storage.list_objects(approved_key(CUSTOMER))[0].version
    # The customer saves again with the tags in another order, nothing else.
    customer_saves(storage, {"m1": {"tags": "negotiation|communication"}})
    again = publish_approved(storage, validated(storage))
    assert again.approval_batch_id == first.approval_batch_id
    assert not again.written
    assert storage.list_objects(approved_key(CUSTOMER))[0].version == version


def test_approval_batch_ids_are_stable_and_distinct():
    one = approval_batch_id(CUSTOMER, [("m1", ["b", "a"]), ("m2", ["c"])])
    assert one == approval_batch_id(CUSTOMER, [("m2", ["c"]), ("m1", ["a", "b"])])
    assert one != approval_batch_id(CUSTOMER, [("m1", ["a"]), ("m2", ["c"])])
    assert one != approval_batch_id("northwind-software", [("m1", ["a", "b"]), ("m2", ["c"])])


def test_a_suggestion_needs_a_clear_lead_over_the_runner_up():
    vocabulary = TagVocabulary.from_taxonomy(ACME)
    assert vocabulary.nearest("negotation").suggestions == ("negotiation",)
    assert vocabulary.nearest("leadershp").suggestions == ("leadership",)
    # Two tags equally near: both offered, neither picked.
    assert vocabulary.nearest("data").suggestions[:2] == ("clinical-data", "data-privacy")
    assert len(vocabulary.nearest("xyz").suggestions) == 3
    # An alias is a name of its tag: offered as that tag's id, never as itself.
    initech = TagVocabulary.from_taxonomy(taxonomy("initech-retail"))
    match = initech.nearest("cross-selling")
    assert (match.suggestions, match.exact) == (("upselling",), "alias")
