"""The tagging model's output as untrusted input: every garbage case named in `invalid` with
its check and offending value, none of it in `valid`, and bounded re-asks of failed items."""

import json
import math
from pathlib import Path

import polars as pl
import pytest

from assets.training.suggestions import (
    CHECKS,
    SuggestionReply,
    check_metadata,
    plan_reasks,
    validate_suggestions,
)
from protos import tagging_pb2

TAXONOMIES = Path(__file__).parents[2] / "model_servers" / "training_catalog" / "taxonomies.json"
CUSTOMER = "acme-pharma"
MODEL = "tfidf-test-1"


def taxonomy_ids(customer_id: str) -> list[str]:
    customers = json.loads(TAXONOMIES.read_text())["customers"]
    [customer] = [c for c in customers if c["customer_id"] == customer_id]
    return [tag["tag_id"] for tag in customer["tags"]]


TAGS = taxonomy_ids(CUSTOMER)


def requested(*module_ids: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"module_id": list(module_ids), "content_hash": [f"h-{m}" for m in module_ids]}
    )


def reply(module_id: str, tags=None, confidences=None, **overrides) -> dict:
    tags = ["communication", "negotiation"] if tags is None else tags
    fields = {
        "module_id": module_id,
        "tag_ids": tags,
        "confidences": [0.8] * len(tags) if confidences is None else confidences,
        "rationale": "mentions presenting to physicians",
        "abstained": False,
        "model_version": MODEL,
        "unreadable_output": "",
    }
    return {**fields, **overrides}


def proto_reply(module_id: str, tags: list[tuple[str, float]]) -> SuggestionReply:
    """Through the real message type, as the client receives it (confidences are float32)."""
    message = tagging_pb2.SuggestTagsReply(
        module_id=module_id,
        tags=[tagging_pb2.SuggestedTag(tag_id=t, confidence=c) for t, c in tags],
        rationale="from the wire",
        model_version=MODEL,
    )
    return SuggestionReply.from_message(message)


def test_a_clean_batch_is_all_valid_and_an_abstention_counts_as_one():
    result = validate_suggestions(
        requested("m1", "m2", "m3"),
        [
            reply("m2"),
            proto_reply("m1", [("compliance", 0.5), ("data-privacy", 1.0)]),
            reply("m3", tags=[], abstained=True, rationale="no tag scores above 0.2"),
        ],
        TAGS,
    )
    assert result.invalid.height == 0
    assert all(result.passed(check) for check in CHECKS)
    assert result.valid["module_id"].to_list() == ["m1", "m2", "m3"]  # request order
    assert result.valid.row(0, named=True) == {
        "module_id": "m1",
        "content_hash": "h-m1",
        "tag_ids": ["compliance", "data-privacy"],
        "confidences": [0.5, 1.0],
        "rationale": "from the wire",
        "model_version": MODEL,
        "abstained": False,
    }
    assert result.abstentions == 1
    assert result.tags_suggested == 4
    assert result.reask_module_ids == []
    assert result.reconciles


# (reply for m2, the check that must fail, the offending value it must name)
GARBAGE = {
    "tag from another customer": (
        reply("m2", tags=["claims-handling"]),
        "taxonomy",
        "claims-handling",
    ),
    "made-up tag": (reply("m2", tags=["communication", "synergy"]), "taxonomy", "synergy"),
    "confidence 1.7": (proto_reply("m2", [("communication", 1.7)]), "confidence_range", "1.7"),
    "negative confidence": (reply("m2", confidences=[0.5, -0.1]), "confidence_range", "-0.1"),
    "NaN confidence": (reply("m2", confidences=[math.nan, 0.5]), "confidence_range", "nan"),
    "infinite confidence": (reply("m2", confidences=[math.inf, 0.5]), "confidence_range", "inf"),
    "duplicate tag": (
        reply("m2", tags=["compliance", "leadership", "compliance"]),
        "duplicate_tags",
        "compliance",
    ),
    "six tags": (reply("m2", tags=TAGS[:6]), "tag_count", "|".join(TAGS[:6])),
    "truncated JSON": (
        reply("m2", tags=[], confidences=[], unreadable_output='{"tags": [{"tag_id": "communi'),
        "schema",
        '{"tags": [{"tag_id": "communi',
    ),
    "prose": (
        reply("m2", tags=[], unreadable_output="Sure! This module is about | communication."),
        "schema",
        "Sure! This module is about | communication.",
    ),
    "fewer confidences than tags": (
        reply("m2", confidences=[0.9]),
        "schema",
        "tag_ids=['communication', 'negotiation'] confidences=[0.9]",
    ),
    "confidence as text": (reply("m2", confidences=["0.9", 0.8]), "schema", "'0.9'"),
    "empty tag id": (reply("m2", tags=["communication", " "]), "schema", "' '"),
    "tags not a list": (
        reply("m2", tags="communication", confidences=[0.9]),
        "schema",
        "'communication'",
    ),
    "abstained with tags": (reply("m2", abstained=True), "schema", "communication|negotiation"),
    "empty answer, not abstained": (reply("m2", tags=[]), "schema", ""),
    "no model version": (reply("m2", model_version=""), "schema", "''"),
    "no rationale": (reply("m2", rationale="  "), "schema", "'  '"),
    "abstained not a boolean": (reply("m2", abstained="no"), "schema", "'no'"),
    "field missing": (
        {k: v for k, v in reply("m2").items() if k != "confidences"},
        "schema",
        "",
    ),
}


@pytest.mark.parametrize("case", list(GARBAGE))
def test_garbage_is_named_in_invalid_and_never_valid(case):
    garbage, check, value = GARBAGE[case]
    result = validate_suggestions(
        requested("m1", "m2", "m3"), [reply("m1"), garbage, reply("m3")], TAGS
    )
    assert result.valid["module_id"].to_list() == ["m1", "m3"]
    problems = result.invalid.to_dicts()
    assert problems and all(p["module_id"] == "m2" for p in problems)
    assert {p["check"] for p in problems} == {check}
    assert value in [p["value"] for p in problems if p["check"] == check]
    assert not result.passed(check)
    assert [c for c in CHECKS if not result.passed(c)] == [check]
    assert result.failure_counts[check] == len(problems)
    assert result.reask_module_ids == ["m2"]
    assert result.reconciles


def test_a_module_with_several_problems_is_dropped_whole_and_every_problem_named():
    bad = proto_reply("m1", [("communication", 1.7), ("synergy", 0.4), ("communication", 0.9)])
    result = validate_suggestions(requested("m1"), [bad], TAGS)
    assert result.valid.height == 0
    named = sorted(result.invalid.select("check", "value").iter_rows())
    assert named == [
        ("confidence_range", "1.7"),
        ("duplicate_tags", "communication"),
        ("taxonomy", "synergy"),
    ]


def test_missing_extra_and_repeated_modules_are_all_named():
    result = validate_suggestions(
        requested("m1", "m2", "m3", "m4"),
        [reply("m1"), reply("m2"), reply("m3"), reply("m2"), reply("m9"), reply("m9")],
        TAGS,
    )
    answered = result.failing("answered_modules")
    assert sorted(answered.select("module_id", "reason").iter_rows()) == [
        ("m2", "answered 2 times"),
        ("m4", "requested but not answered"),
        ("m9", "answered but not requested (2 replies)"),
    ]
    assert result.valid["module_id"].to_list() == ["m1", "m3"]
    # Only requested modules are re-asked; the unrequested m9 is named, never asked for.
    assert result.reask_module_ids == ["m2", "m4"]
    assert result.failure_counts["cut_short"] == 0
    assert result.reconciles


def test_a_stream_cut_short_flags_every_unanswered_module_as_cut_short_not_missing():
    modules = requested("m1", "m2", "m3", "m4", "m5")
    replies = [reply("m1"), reply("m2")]
    cut = validate_suggestions(modules, replies, TAGS, cut_short=True)
    assert cut.failing("cut_short")["module_id"].to_list() == ["m3", "m4", "m5"]
    assert cut.failure_counts["answered_modules"] == 0
    assert cut.valid["module_id"].to_list() == ["m1", "m2"]
    assert cut.reask_module_ids == ["m3", "m4", "m5"]

    skipped = validate_suggestions(modules, replies, TAGS, cut_short=False)
    assert skipped.failure_counts["cut_short"] == 0
    assert skipped.failing("answered_modules")["reason"].unique().to_list() == [
        "requested but not answered"
    ]


def test_the_tag_limit_is_the_callers():
    result = validate_suggestions(requested("m1"), [reply("m1", tags=TAGS[:3])], TAGS, 2)
    assert result.failing("tag_count")["reason"].to_list() == ["3 tags, more than the 2 allowed"]


def test_a_malformed_request_is_refused_with_its_fault():
    with pytest.raises(ValueError, match=r"more than once: \['m1'\]"):
        validate_suggestions(requested("m1", "m1"), [], TAGS)
    with pytest.raises(ValueError, match="content_hash"):
        validate_suggestions(pl.DataFrame({"module_id": ["m1"]}), [], TAGS)


def test_check_metadata_counts_and_shows_the_offending_rows():
    replies = [reply(f"m{i}", tags=["synergy|x"]) for i in range(12)]
    result = validate_suggestions(requested(*(f"m{i}" for i in range(12))), replies, TAGS)
    metadata = check_metadata(result, "taxonomy", preview_rows=5)
    assert metadata["failing_count"].value == 12
    assert metadata["failing_modules"].value == 12
    table = metadata["failing_rows"].value.splitlines()
    assert table[0] == "| module_id | reason | value |"
    assert table[2] == "| m0 | tag id not in the customer's taxonomy | synergy\\|x |"
    assert len([line for line in table if line.startswith("| m") and "synergy" in line]) == 5
    assert table[-1] == "7 more rows not shown."
    passing = check_metadata(result, "cut_short")
    assert passing["failing_count"].value == 0
    with pytest.raises(KeyError, match="no suggestion check named 'schema_ok'"):
        check_metadata(result, "schema_ok")


def test_reasks_are_for_failed_items_only_at_most_twice_then_dead_letter():
    plan = plan_reasks(["a", "b", "c"], {"a": 1, "b": 2, "c": 3, "ok": 1})
    assert plan.reask == ["a", "b"]
    assert plan.dead_letter == ["c"]
    with pytest.raises(KeyError, match="'d'"):
        plan_reasks(["d"], {})


def test_a_batch_re_asked_until_valid_or_dead():
    """Rounds of ask, validate, plan: m2 is fixed by the first re-ask, m3 never is; valid
    answers of every round are kept, and only failed items are asked again."""
    wrong_rounds = {"m2": 1, "m3": 99}  # rounds in which the "model" answers garbage
    modules = requested("m1", "m2", "m3", "m4")
    attempts: dict[str, int] = {}
    asked_per_round, kept, dead = [], [], []
    to_ask = modules["module_id"].to_list()
    round_number = 0
    while to_ask:
        round_number += 1
        asked_per_round.append(to_ask)
        for module_id in to_ask:
            attempts[module_id] = attempts.get(module_id, 0) + 1
        replies = [
            reply(m, confidences=[1.7, 0.2] if wrong_rounds.get(m, 0) >= round_number else None)
            for m in to_ask
        ]
        batch = modules.filter(pl.col("module_id").is_in(to_ask))
        result = validate_suggestions(batch, replies, TAGS)
        kept.extend(result.valid["module_id"].to_list())
        plan = plan_reasks(result.reask_module_ids, attempts)
        dead.extend(plan.dead_letter)
        to_ask = plan.reask
    assert asked_per_round == [["m1", "m2", "m3", "m4"], ["m2", "m3"], ["m3"]]
    assert sorted(kept) == ["m1", "m2", "m4"]
    assert dead == ["m3"]
    assert attempts["m3"] == 3
