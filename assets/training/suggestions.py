"""The tagging model's suggestions, validated as untrusted input before anyone sees them.

Every reply is checked against the request and the customer's taxonomy. A module with any
problem is invalid as a whole: never partly kept, never repaired (a confidence of 1.7 is
not clipped to 1, an unknown tag is not dropped). Each problem is one row of `invalid`,
naming the module, the check, the reason and the offending value as text, like the
quarantine rows of the postings and weather families. Nothing is dropped: every requested
module is either in `valid` or has at least one row in `invalid` (`reconciles`).

The checks, by their stable names (asset-check names and the `check` column):
- `schema`: the reply's fields have the contract's types (tagging.proto), tag ids and
  confidences pair up, strings are non-empty, an abstention carries no tags, and a reply the
  backend could not read (`unreadable_output`: truncated JSON, prose) names its raw text.
- `taxonomy`: every tag id is in the customer's taxonomy.
- `confidence_range`: every confidence is a number in [0, 1] (NaN and infinities fail).
- `duplicate_tags`: no tag twice in one module.
- `tag_count`: at most `max_tags_per_module` tags.
- `answered_modules`: the answered ids equal the requested ones: none missing, none extra,
  none twice.
- `cut_short`: the reply stream ended early; every module still unanswered is flagged as cut
  short, not as missing (a model that skipped one module is a different fault).

An abstention (no tags, a reason) is a valid answer, counted in `abstentions`.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import polars as pl

from assets import metadata
from protos.contract import MAX_TAGS_PER_MODULE

CHECK_DESCRIPTIONS: dict[str, str] = {
    "schema": (
        "Every reply has the contract's fields and types, one confidence per tag, non-empty "
        "strings, and was readable (no truncated JSON or prose)."
    ),
    "taxonomy": "Every suggested tag id is in the customer's taxonomy.",
    "confidence_range": "Every confidence is a number in [0, 1].",
    "duplicate_tags": "No module carries the same tag twice.",
    "tag_count": f"No module has more than the allowed tags (default {MAX_TAGS_PER_MODULE}).",
    "answered_modules": (
        "The answered module ids equal the requested ones: none missing, none extra, none twice."
    ),
    "cut_short": "The reply stream was complete: no module left unanswered by a stream cut short.",
}
CHECKS: tuple[str, ...] = tuple(CHECK_DESCRIPTIONS)

# At most this many re-asks of a module whose suggestion failed; then the dead-letter store.
MAX_REASKS = 2
# The offending value is kept as text, cut to this length (the server already cuts raw
# output to 2,000 characters; a reply built elsewhere may not).
MAX_VALUE_CHARS = 2_000

VALID_SCHEMA: dict[str, pl.DataType] = {
    "module_id": pl.String(),
    "content_hash": pl.String(),
    "tag_ids": pl.List(pl.String()),
    "confidences": pl.List(pl.Float64()),
    "rationale": pl.String(),
    "model_version": pl.String(),
    "abstained": pl.Boolean(),
}
INVALID_SCHEMA: dict[str, pl.DataType] = {
    "module_id": pl.String(),
    "check": pl.String(),
    "reason": pl.String(),
    "value": pl.String(),
}

_MISSING = object()


@dataclass(frozen=True)
class SuggestionReply:
    """One module's reply as the tagging client hands it over (tagging.proto's
    SuggestTagsReply with its tags split into two parallel lists). Any object with these
    attributes, or a mapping with these keys, is accepted by `validate_suggestions`."""

    module_id: str
    tag_ids: Sequence[str]
    confidences: Sequence[float]
    rationale: str
    abstained: bool
    model_version: str
    unreadable_output: str = ""

    @classmethod
    def from_message(cls, reply: Any) -> SuggestionReply:
        """From a `tagging_pb2.SuggestTagsReply`."""
        return cls(
            module_id=reply.module_id,
            tag_ids=[tag.tag_id for tag in reply.tags],
            confidences=[tag.confidence for tag in reply.tags],
            rationale=reply.rationale,
            abstained=reply.abstained,
            model_version=reply.model_version,
            unreadable_output=reply.unreadable_output,
        )


@dataclass(frozen=True)
class SuggestionValidation:
    """The outcome of one batch. `valid`: one customer-ready row per module (VALID_SCHEMA).
    `invalid`: one row per problem (INVALID_SCHEMA). `failure_counts`: problem rows per
    check, every check present. `reask_module_ids`: requested modules that are not valid, in
    request order (extra, unrequested ids are never re-asked)."""

    valid: pl.DataFrame
    invalid: pl.DataFrame
    failure_counts: dict[str, int]
    reask_module_ids: list[str]
    modules_requested: int
    replies_received: int
    abstentions: int

    @property
    def modules_failed(self) -> int:
        return len(self.reask_module_ids)

    @property
    def reconciles(self) -> bool:
        """Requested = valid + failed: no module vanished between request and review."""
        return self.modules_requested == self.valid.height + self.modules_failed

    @property
    def tags_suggested(self) -> int:
        return int(self.valid["tag_ids"].list.len().sum()) if self.valid.height else 0

    def passed(self, check: str) -> bool:
        _known_check(check)
        return self.failure_counts[check] == 0

    def failing(self, check: str) -> pl.DataFrame:
        """The problem rows of one check."""
        _known_check(check)
        return self.invalid.filter(pl.col("check") == check)


@dataclass
class _Problems:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)

    def add(self, module_id: str, check: str, reason: str, value: object) -> None:
        self.rows.append((module_id, check, reason, _as_text(value)))
        self.modules.add(module_id)


def validate_suggestions(
    requested: pl.DataFrame,
    replies: Sequence[SuggestionReply | Mapping[str, Any] | Any],
    taxonomy_tag_ids: Collection[str],
    max_tags_per_module: int = MAX_TAGS_PER_MODULE,
    cut_short: bool = False,
) -> SuggestionValidation:
    """Validate the replies to one request of `requested` modules (module_id, content_hash).

    `cut_short` is the client's account of the stream: True when it ended before the model
    said it was done (deadline, broken connection), so the unanswered modules are flagged
    `cut_short` rather than `answered_modules`.
    """
    requested_ids = _requested_ids(requested)
    taxonomy = frozenset(taxonomy_tag_ids)
    if max_tags_per_module < 1:
        raise ValueError(f"max_tags_per_module must be at least 1, got {max_tags_per_module}")
    problems = _Problems()
    readable: dict[int, dict[str, Any]] = {}  # reply index -> fields that passed `schema`
    answered: list[str] = []
    for index, reply in enumerate(replies):
        fields = _fields(reply)
        module_id = fields["module_id"]
        if isinstance(module_id, str) and module_id.strip():
            answered.append(module_id)
        if _check_schema(fields, problems):
            _check_content(fields, taxonomy, max_tags_per_module, problems)
            readable[index] = fields

    _check_answered(requested_ids, answered, cut_short, problems)

    valid_rows = []
    hashes = dict(zip(requested["module_id"], requested["content_hash"], strict=True))
    for fields in readable.values():
        module_id = fields["module_id"]
        if module_id in problems.modules:
            continue
        valid_rows.append(
            {
                "module_id": module_id,
                "content_hash": hashes[module_id],
                "tag_ids": list(fields["tag_ids"]),
                "confidences": [float(c) for c in fields["confidences"]],
                "rationale": fields["rationale"],
                "model_version": fields["model_version"],
                "abstained": fields["abstained"],
            }
        )
    order = {module_id: i for i, module_id in enumerate(requested_ids)}
    valid_rows.sort(key=lambda row: order[row["module_id"]])
    valid = pl.DataFrame(valid_rows, schema=VALID_SCHEMA)
    invalid = pl.DataFrame(problems.rows, schema=INVALID_SCHEMA, orient="row")
    counts = Counter(invalid["check"].to_list())
    return SuggestionValidation(
        valid=valid,
        invalid=invalid,
        failure_counts={check: counts.get(check, 0) for check in CHECKS},
        reask_module_ids=[m for m in requested_ids if m in problems.modules],
        modules_requested=len(requested_ids),
        replies_received=len(replies),
        abstentions=int(valid["abstained"].sum()),
    )


def _requested_ids(requested: pl.DataFrame) -> list[str]:
    """The requested module ids; a malformed request is the caller's bug, said at once."""
    missing = {"module_id", "content_hash"} - set(requested.columns)
    if missing:
        raise ValueError(f"requested modules lack column(s) {sorted(missing)}")
    ids = requested["module_id"].to_list()
    if any(not isinstance(m, str) or not m for m in ids):
        raise ValueError("requested modules include a null or empty module_id")
    repeated = sorted(m for m, n in Counter(ids).items() if n > 1)
    if repeated:
        raise ValueError(f"requested modules list these ids more than once: {repeated}")
    return ids


def _fields(reply: object) -> dict[str, Any]:
    names = ("module_id", "tag_ids", "confidences", "rationale", "abstained", "model_version")
    if isinstance(reply, Mapping):
        fields = {name: reply.get(name, _MISSING) for name in names}
        fields["unreadable_output"] = reply.get("unreadable_output", "")
    else:
        fields = {name: getattr(reply, name, _MISSING) for name in names}
        fields["unreadable_output"] = getattr(reply, "unreadable_output", "")
    return fields


def _module_label(module_id: object) -> str:
    """The module id as the problem rows name it (the text of whatever was sent)."""
    if isinstance(module_id, str):
        return module_id
    return "<missing>" if module_id is _MISSING else repr(module_id)


def _check_schema(fields: dict[str, Any], problems: _Problems) -> bool:
    """Types and shapes; True when the content checks can read the reply."""
    module = _module_label(fields["module_id"])
    before = len(problems.rows)

    def fail(reason: str, value: object) -> None:
        problems.add(module, "schema", reason, value)

    for name, value in fields.items():
        if value is _MISSING:
            fail(f"field {name!r} is missing", "")
    unreadable = fields["unreadable_output"]
    if not isinstance(unreadable, str):
        fail("unreadable_output is not text", repr(unreadable))
    elif unreadable:
        # The backend's raw output, named: it is what a person needs to see the fault.
        fail("the model's output could not be read as the schema asks", unreadable)
        return False
    if len(problems.rows) > before:
        return False

    module_id, tag_ids, confidences = (fields[n] for n in ("module_id", "tag_ids", "confidences"))
    if not isinstance(module_id, str) or not module_id.strip():
        fail("module_id is not a non-empty string", repr(module_id))
    if not isinstance(fields["model_version"], str) or not fields["model_version"].strip():
        fail("model_version is not a non-empty string", repr(fields["model_version"]))
    if not isinstance(fields["rationale"], str) or not fields["rationale"].strip():
        fail("rationale is not a non-empty string", repr(fields["rationale"]))
    if not isinstance(fields["abstained"], bool):
        fail("abstained is not a boolean", repr(fields["abstained"]))
    if not _is_list(tag_ids):
        fail("tag_ids is not a list", repr(tag_ids))
    else:
        for tag in tag_ids:
            if not isinstance(tag, str) or not tag.strip():
                fail("a tag id is not a non-empty string", repr(tag))
    if not _is_list(confidences):
        fail("confidences is not a list", repr(confidences))
    else:
        for confidence in confidences:
            if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real):
                fail("a confidence is not a number", repr(confidence))
    if _is_list(tag_ids) and _is_list(confidences) and len(tag_ids) != len(confidences):
        fail(
            f"{len(tag_ids)} tag ids but {len(confidences)} confidences",
            f"tag_ids={list(tag_ids)} confidences={list(confidences)}",
        )
    if _is_list(tag_ids) and isinstance(fields["abstained"], bool):
        if fields["abstained"] and tag_ids:
            fail("abstained but carries tags", "|".join(map(str, tag_ids)))
        if not fields["abstained"] and not tag_ids:
            fail("no tags and not abstained: an empty answer must say it abstains", "")
    return len(problems.rows) == before


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple)


def _check_content(
    fields: dict[str, Any], taxonomy: frozenset[str], max_tags: int, problems: _Problems
) -> None:
    module = fields["module_id"]
    tag_ids: list[str] = list(fields["tag_ids"])
    for tag in tag_ids:
        if tag not in taxonomy:
            problems.add(module, "taxonomy", "tag id not in the customer's taxonomy", tag)
    for tag, confidence in zip(tag_ids, fields["confidences"], strict=True):
        if not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0):
            problems.add(
                module,
                "confidence_range",
                f"confidence of {tag!r} is outside [0, 1]",
                f"{confidence:.6g}",
            )
    for tag, times in Counter(tag_ids).items():
        if times > 1:
            problems.add(module, "duplicate_tags", f"tag suggested {times} times", tag)
    if len(tag_ids) > max_tags:
        problems.add(
            module,
            "tag_count",
            f"{len(tag_ids)} tags, more than the {max_tags} allowed",
            "|".join(tag_ids),
        )


def _check_answered(
    requested_ids: list[str], answered: list[str], cut_short: bool, problems: _Problems
) -> None:
    times = Counter(answered)
    requested = set(requested_ids)
    for module_id in requested_ids:
        if module_id not in times:
            if cut_short:
                problems.add(
                    module_id,
                    "cut_short",
                    "unanswered: the reply stream ended before this module's reply",
                    module_id,
                )
            else:
                problems.add(module_id, "answered_modules", "requested but not answered", module_id)
        elif times[module_id] > 1:
            problems.add(
                module_id,
                "answered_modules",
                f"answered {times[module_id]} times",
                module_id,
            )
    for module_id, n in times.items():
        if module_id not in requested:
            where = "answered but not requested" + (f" ({n} replies)" if n > 1 else "")
            problems.add(module_id, "answered_modules", where, module_id)


def _as_text(value: object) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = repr(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + f"... ({len(text):,} characters)"
    return text


def _known_check(check: str) -> None:
    if check not in CHECK_DESCRIPTIONS:
        raise KeyError(f"no suggestion check named {check!r}; the checks are {list(CHECKS)}")


# --- What an asset check shows ---------------------------------------------------------------

PREVIEW_ROWS = 10
# A cell of the preview table is cut to this length; the full value is in `invalid`.
PREVIEW_CELL_CHARS = 120


def markdown_table(frame: pl.DataFrame, limit: int = PREVIEW_ROWS) -> str:
    """The first `limit` rows of `frame` as a Markdown table, cells cut for a check's page."""
    return metadata.markdown_table(frame, limit, cell_chars=PREVIEW_CELL_CHARS)


def check_metadata(
    validation: SuggestionValidation, check: str, preview_rows: int = PREVIEW_ROWS
) -> dict[str, dg.MetadataValue]:
    """An asset check's metadata: how many problem rows failed it, the modules they touch,
    and the first `preview_rows` of them as a table naming module, reason and value."""
    failing = validation.failing(check)
    return {
        "failing_count": dg.MetadataValue.int(failing.height),
        "failing_modules": dg.MetadataValue.int(failing["module_id"].n_unique()),
        "failing_rows": dg.MetadataValue.md(
            markdown_table(failing.select("module_id", "reason", "value"), preview_rows)
            if failing.height
            else "No failing rows."
        ),
    }


# --- Re-asking the model ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReaskPlan:
    """`reask`: modules to ask again now. `dead_letter`: modules that have had their re-asks
    and go to the dead-letter store. Both in the order given."""

    reask: list[str]
    dead_letter: list[str]


def plan_reasks(
    failed_module_ids: Sequence[str],
    attempts: Mapping[str, int],
    max_reasks: int = MAX_REASKS,
) -> ReaskPlan:
    """Which failed modules to ask again. `attempts[m]` is how many times module `m` has
    been asked so far, the failed ask included: the first ask plus at most `max_reasks`
    re-asks, then the dead-letter store. Only failed modules are ever re-asked."""
    reask, dead = [], []
    for module_id in failed_module_ids:
        if module_id not in attempts:
            raise KeyError(f"no attempt count for failed module {module_id!r}")
        asked = attempts[module_id]
        if asked < 1:
            raise ValueError(f"module {module_id!r} failed but was asked {asked} times")
        (reask if asked <= max_reasks else dead).append(module_id)
    return ReaskPlan(reask=reask, dead_letter=dead)
