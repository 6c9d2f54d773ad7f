"""The review file a customer edits, its edits validated, and the approved tags published.

Layout, per customer, in object storage:
- `training-review/<customer_id>/review.csv`: one row per module, for a spreadsheet. The
  platform writes UTF-8 with a byte-order mark (so spreadsheets read it as UTF-8) and CRLF
  endings; it reads files with or without either, and with ',', ';' or tab separators (a
  spreadsheet's locale decides which it saves). Columns (REVIEW_COLUMNS): the platform's
  `module_id`, `title`, `suggested_tags` and `confidences` ('|'-separated), `rationale`,
  `platform_note` (what the last merge did to the row), `content_hash`, `model_version`;
  the customer's `tags` (prefilled with the suggestion), `approved` (blank or `yes`) and
  `reviewer_note`. Columns a customer adds are kept.
- `training-review/<customer_id>/review_set.json`: the modules the platform laid out for
  review (module id -> content hash), written before the file, so a row a customer adds
  for another module is recognised.
- `training-review/<customer_id>/approved.json`: the published approval: the approved
  modules' tags and the approval batch id. The apply step reads only this.

Rules:
- Merging new suggestions never loses a customer's work: rows of unchanged modules keep
  their tags, approval and note (an untouched prefill is refreshed); a changed module's row
  is refreshed and its approval cleared, and `platform_note` says so with the old tags.
- Edits are validated; nothing is replaced silently. A tag the customer types must be a
  tag id of their own taxonomy, exactly: an alias, a label or a misspelling is blocked with
  the tag id(s) it probably means; a tag of another customer's taxonomy is just unknown
  (other customers' tags are never consulted, so never revealed).
- A problem on an approved row (or a row whose `approved` cell is neither blank nor `yes`)
  is blocking: nothing is published and the previous approval stays as it was. Problems on
  rows not approved are reported but block nothing: those rows are not being published.
- Approving a module with no tags needs the tags cell to say so: NO_TAGS (`(none)`). An
  approved row with an empty tags cell is blocked, since an emptied cell is more often a
  slip than a decision, and applying it would remove every tag from the module.
- Spreadsheet cells the platform fills with free text (title, rationale, note) are written
  with a leading `'` when they would start a formula (`=`, `+`, `-`, `@`): the model's
  rationale is untrusted text and must never run as a formula in a customer's spreadsheet.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from rapidfuzz import fuzz, process, utils

from resources.object_storage import ObjectStorage

REVIEW_PREFIX = "training-review"
REVIEW_COLUMNS: tuple[str, ...] = (
    "module_id",
    "title",
    "suggested_tags",
    "confidences",
    "rationale",
    "tags",
    "approved",
    "reviewer_note",
    "platform_note",
    "content_hash",
    "model_version",
)
# The columns a customer edits; every other column is the platform's and is rewritten.
CUSTOMER_COLUMNS: tuple[str, ...] = ("tags", "approved", "reviewer_note")
REQUIRED_COLUMNS: tuple[str, ...] = ("module_id", "tags", "approved")
TAG_SEPARATOR = "|"
APPROVED = "yes"
# Written in `tags` to approve a module with no tags (it cannot be a tag id: not a slug).
NO_TAGS = "(none)"
SUGGESTION_COLUMNS = (
    "module_id",
    "title",
    "content_hash",
    "tag_ids",
    "confidences",
    "rationale",
    "model_version",
    "abstained",
)

# Nearest tags for an unknown one: rapidfuzz WRatio (0-100) over the customer's tag ids,
# labels and aliases, each mapped to its tag id. One suggestion only when the best tag
# scores at least SUGGEST_MIN_SCORE and leads the runner-up by SUGGEST_MIN_LEAD; otherwise
# the CANDIDATES best as "one of". On the reference taxonomies: "comunication" scores 96
# for communication against 61 for the next; "obj-handling" 85.5 against 64; "data" 90 for
# both clinical-data and data-privacy (no lead: two candidates shown, neither picked).
SUGGEST_MIN_SCORE = 85.0
SUGGEST_MIN_LEAD = 10.0
CANDIDATES = 3

_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_DELIMITERS = (",", ";", "\t")


class ReviewFileError(ValueError):
    """The review file cannot be read as a review (encoding, header, layout): nothing in it is
    used, and nothing overwrites it."""


class ReviewFileChanged(RuntimeError):
    """The review file changed while new suggestions were being merged into it."""


class ApprovalBlocked(ValueError):
    """Approved rows have problems: nothing is published; the message lists every problem."""

    def __init__(self, customer_id: str, problems: Sequence[EditProblem]) -> None:
        self.problems = list(problems)
        blocking = [p.describe() for p in self.problems if p.blocking]
        others = [p.describe() for p in self.problems if not p.blocking]
        message = (
            f"approval of {customer_id} blocked by {len(blocking)} problem(s) on approved rows; "
            "the published approval is unchanged:\n" + "\n".join(f"- {b}" for b in blocking)
        )
        if others:
            message += "\nand on rows not approved (not blocking):\n" + "\n".join(
                f"- {o}" for o in others
            )
        super().__init__(message)


def _segment(customer_id: str) -> str:
    if not _SAFE_SEGMENT.match(customer_id or ""):
        raise ValueError(f"customer id {customer_id!r} cannot name a storage folder")
    return customer_id


def review_key(customer_id: str) -> str:
    return f"{REVIEW_PREFIX}/{_segment(customer_id)}/review.csv"


def review_set_key(customer_id: str) -> str:
    return f"{REVIEW_PREFIX}/{_segment(customer_id)}/review_set.json"


def approved_key(customer_id: str) -> str:
    return f"{REVIEW_PREFIX}/{_segment(customer_id)}/approved.json"


def split_tags(cell: str) -> list[str]:
    """The tags of a cell as typed, each stripped; empty pieces kept (validation names them)."""
    if not cell.strip():
        return []
    return [piece.strip() for piece in cell.split(TAG_SEPARATOR)]


# --- Reading and writing the CSV -------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRow:
    """One row as the customer left it. `row_number` is the spreadsheet's (the header is 1)."""

    row_number: int
    cells: dict[str, str]
    # Cells beyond the header's last column (a shifted row); validation blocks them.
    overflow: tuple[str, ...] = ()

    @property
    def module_id(self) -> str:
        return self.cells.get("module_id", "").strip()

    @property
    def tags(self) -> str:
        return self.cells.get("tags", "")

    @property
    def approved(self) -> str:
        return self.cells.get("approved", "")


@dataclass(frozen=True)
class ReviewEdits:
    """The review file as read: its rows, its columns (platform's first, then the customer's
    own), the modules laid out for review, and the version of the object read."""

    customer_id: str
    key: str
    version: str
    columns: tuple[str, ...]
    rows: list[ReviewRow]
    review_set: dict[str, str]  # module id -> content hash when laid out

    @property
    def review_module_ids(self) -> frozenset[str]:
        return frozenset(self.review_set)

    def frame(self) -> pl.DataFrame:
        """Every row and column as text, with its row number (for a warehouse table)."""
        schema = {"row_number": pl.Int64, **{c: pl.String for c in self.columns}}
        data = [{"row_number": r.row_number, **r.cells} for r in self.rows]
        return pl.DataFrame(data, schema=schema)


def parse_review_csv(data: bytes, source: str) -> tuple[tuple[str, ...], list[ReviewRow]]:
    """The columns and non-blank rows of a review CSV; `source` names it in errors."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReviewFileError(
            f"{source} is not UTF-8 (first bad byte at offset {error.start}): save it as "
            "'CSV UTF-8'"
        ) from None
    first_line = text.split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=lambda d: _known_columns(first_line, d))
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        raise ReviewFileError(f"{source} is not a readable CSV: {error}") from None
    if not records:
        raise ReviewFileError(f"{source} is empty: it has no header row")
    # A column without a header keeps its cells under its position's name (column_12).
    columns = tuple(
        name.strip().lower() or f"column_{number}" for number, name in enumerate(records[0], 1)
    )
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ReviewFileError(
            f"{source} lacks the column(s) {missing} (its header: {list(columns)})"
        )
    repeated = sorted(c for c, n in Counter(columns).items() if n > 1)
    if repeated:
        raise ReviewFileError(f"{source} has the column(s) {repeated} more than once")
    rows = []
    for index, record in enumerate(records[1:]):
        if not any(cell.strip() for cell in record):
            continue  # a blank spreadsheet row holds nothing to keep
        cells = dict(zip(columns, record + [""] * (len(columns) - len(record)), strict=False))
        overflow = tuple(cell for cell in record[len(columns) :] if cell.strip())
        rows.append(ReviewRow(index + 2, cells, overflow))
    return columns, rows


def _known_columns(header: str, delimiter: str) -> int:
    names = {n.strip().strip('"').strip().lower().lstrip("\ufeff") for n in header.split(delimiter)}
    return len(names & set(REVIEW_COLUMNS))


def _render_csv(columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue().encode("utf-8-sig")


def _safe_text(text: str) -> str:
    """Free text for a spreadsheet cell: never read as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def read_review_set(storage: ObjectStorage, customer_id: str) -> dict[str, str]:
    key = review_set_key(customer_id)
    if not storage.exists(key):
        return {}
    return dict(json.loads(storage.read_bytes(key))["modules"])


def read_review_edits(storage: ObjectStorage, customer_id: str) -> ReviewEdits:
    """The customer's review file as it is now. Raises FileNotFoundError when there is none
    and ReviewFileError when it cannot be read as a review."""
    key = review_key(customer_id)
    found = storage.list_objects(key)
    if not found:
        raise FileNotFoundError(f"no review file for {customer_id} at {storage.uri(key)}")
    columns, rows = parse_review_csv(storage.read_bytes(key), storage.uri(key))
    return ReviewEdits(
        customer_id=customer_id,
        key=key,
        version=found[0].version,
        columns=columns,
        rows=rows,
        review_set=read_review_set(storage, customer_id),
    )


# --- Merging new suggestions into the file ---------------------------------------------------


@dataclass(frozen=True)
class ReviewWriteReport:
    """What a merge did. `added`: modules new to the file. `refreshed`: changed modules whose
    row was replaced (`approvals_cleared`: those that had been approved). `prefill_refreshed`:
    unchanged modules whose untouched prefill took the new suggestion. `kept_edits`: unchanged
    modules with the customer's edits, kept. `written`: False when the file was already so."""

    key: str
    rows: int
    added: list[str]
    refreshed: list[str]
    approvals_cleared: list[str]
    prefill_refreshed: list[str]
    kept_edits: list[str]
    written: bool


def write_review_file(
    storage: ObjectStorage, customer_id: str, suggestions: pl.DataFrame
) -> ReviewWriteReport:
    """Merge valid suggestions (SUGGESTION_COLUMNS: the suggestion validation's `valid` joined
    with the modules' titles) into the customer's review file, keeping their edits."""
    missing = [c for c in SUGGESTION_COLUMNS if c not in suggestions.columns]
    if missing:
        raise ValueError(f"suggestions for {customer_id} lack column(s) {missing}")
    repeated = sorted(m for m, n in Counter(suggestions["module_id"].to_list()).items() if n > 1)
    if repeated:
        raise ValueError(f"suggestions for {customer_id} list modules twice: {repeated}")
    key = review_key(customer_id)
    found = storage.list_objects(key)
    version = found[0].version if found else None
    before = storage.read_bytes(key) if found else None
    if before is not None:
        existing_columns, existing = parse_review_csv(before, storage.uri(key))
    else:
        existing_columns, existing = REVIEW_COLUMNS, []
    columns = REVIEW_COLUMNS + tuple(c for c in existing_columns if c not in REVIEW_COLUMNS)

    shifted = [row.row_number for row in existing if row.overflow]
    if shifted:
        raise ReviewFileError(
            f"{storage.uri(key)} has cells beyond its last column on rows {shifted}: move or "
            "remove them before new suggestions can be merged (they would be lost)"
        )
    positions: dict[str, list[int]] = defaultdict(list)
    rows: list[dict[str, str]] = []
    for row in existing:
        positions[row.module_id].append(len(rows))
        rows.append(dict(row.cells))
    # The hash each module was laid out with, from the platform's own record: the file's
    # content_hash cell is the customer's to mangle or delete (a spreadsheet drops columns),
    # and a missing hash read from it would clear an approval of an unchanged module.
    laid_out = read_review_set(storage, customer_id)
    added, refreshed, cleared, prefilled, kept = [], [], [], [], []
    for suggestion in suggestions.sort("module_id").iter_rows(named=True):
        module_id = suggestion["module_id"]
        at = positions.get(module_id, [])
        if len(at) > 1:
            numbers = [existing[i].row_number for i in at]
            raise ReviewFileError(
                f"{storage.uri(key)} lists module {module_id} on rows {numbers}: remove the "
                "extra rows before new suggestions can be merged"
            )
        offered = _suggestion_cells(suggestion)
        if not at:
            rows.append(_new_row(offered, suggestion["abstained"]))
            added.append(module_id)
            continue
        row = rows[at[0]]
        if laid_out.get(module_id, row.get("content_hash", "")) != offered["content_hash"]:
            if row.get("approved", "").strip():
                cleared.append(module_id)
            refreshed.append(module_id)
            rows[at[0]] = _refreshed_row(row, offered, suggestion["abstained"])
        elif _untouched(row):
            if row.get("suggested_tags", "") != offered["suggested_tags"]:
                prefilled.append(module_id)
                offered["platform_note"] = "suggestion refreshed (the module is unchanged)"
            else:
                offered.pop("platform_note")
            rows[at[0]] = {**row, **offered, "tags": offered["suggested_tags"]}
        else:
            if row.get("suggested_tags", "") != offered["suggested_tags"]:
                offered["platform_note"] = (
                    "new suggestion; your tags, approval and note are kept as they were"
                )
                kept.append(module_id)
            else:
                offered.pop("platform_note")
            rows[at[0]] = {**row, **offered}

    data = _render_csv(columns, rows)
    # Only the platform's suggestions enter the set: a row a customer adds never does.
    offered_hashes = dict(suggestions.select("module_id", "content_hash").iter_rows())
    review_set = {**laid_out, **offered_hashes}
    report = ReviewWriteReport(
        key, len(rows), added, refreshed, cleared, prefilled, kept, data != before
    )
    if data == before:
        if review_set != laid_out:
            _write_review_set(storage, customer_id, review_set)
        return report  # a rerun with nothing new leaves the file (and its version) alone
    # New modules join the set before the file (a row of the file is always in the set);
    # changed hashes only after it: if the file is not written, the next merge still sees
    # those modules as changed and clears their approvals.
    if set(review_set) - set(laid_out):
        _write_review_set(storage, customer_id, {**offered_hashes, **laid_out})
    if _current_version(storage, key) != version:
        raise ReviewFileChanged(
            f"{storage.uri(key)} changed while new suggestions were merged into it; nothing "
            "was overwritten: run again to merge into the new version"
        )
    storage.write_bytes(key, data)
    if review_set != laid_out:
        _write_review_set(storage, customer_id, review_set)
    return report


def _write_review_set(storage: ObjectStorage, customer_id: str, modules: dict[str, str]) -> None:
    storage.write_bytes(
        review_set_key(customer_id),
        json.dumps(
            {"customer_id": customer_id, "modules": dict(sorted(modules.items()))}, indent=1
        ).encode(),
    )


def _current_version(storage: ObjectStorage, key: str) -> str | None:
    found = storage.list_objects(key)
    return found[0].version if found else None


def _suggestion_cells(suggestion: Mapping[str, Any]) -> dict[str, str]:
    return {
        "module_id": suggestion["module_id"],
        "title": _safe_text(suggestion["title"] or ""),
        "suggested_tags": TAG_SEPARATOR.join(suggestion["tag_ids"]),
        "confidences": TAG_SEPARATOR.join(f"{c:.2f}" for c in suggestion["confidences"]),
        "rationale": _safe_text(suggestion["rationale"] or ""),
        "content_hash": suggestion["content_hash"],
        "model_version": suggestion["model_version"],
        "platform_note": "",
    }


def _abstention_note(abstained: bool) -> str:
    return (
        f"the model suggested no tags: add tags, or write {NO_TAGS} to approve none"
        if abstained
        else ""
    )


def _new_row(offered: dict[str, str], abstained: bool) -> dict[str, str]:
    return {
        **offered,
        "tags": offered["suggested_tags"],
        "approved": "",
        "reviewer_note": "",
        "platform_note": _abstention_note(abstained) or "new suggestion",
    }


def _refreshed_row(row: dict[str, str], offered: dict[str, str], abstained: bool) -> dict[str, str]:
    """A changed module: the new suggestion replaces the row; what the customer had is named."""
    was = []
    if row.get("approved", "").strip():
        was.append("approval cleared")
    if split_tags(row.get("tags", "")) != split_tags(row.get("suggested_tags", "")):
        was.append(f"your tags were: {row.get('tags', '').strip() or '(empty)'}")
    note = "module changed since it was laid out: suggestion refreshed"
    note = "; ".join([note, *was, _abstention_note(abstained)]).rstrip("; ")
    return {
        **row,
        **offered,
        "tags": offered["suggested_tags"],
        "approved": "",
        "platform_note": _safe_text(note),
    }


def _untouched(row: Mapping[str, str]) -> bool:
    """The customer has not touched the row: its tags are still the prefill, unapproved."""
    same_tags = split_tags(row.get("tags", "")) == split_tags(row.get("suggested_tags", ""))
    return same_tags and not row.get("approved", "").strip()


# --- The customer's tags against their taxonomy ----------------------------------------------


@dataclass(frozen=True)
class TagMatch:
    """What a typed tag that is not a tag id probably means. `exact`: it is an alias, label
    or differently written tag id of `suggestions` (one tag, or several sharing the name)."""

    suggestions: tuple[str, ...]
    exact: str = ""  # "alias", "label" or "tag id" when the name matched exactly


@dataclass(frozen=True)
class TagVocabulary:
    """One customer's tags: the ids, and every name (id, label, alias) pointing to its id."""

    tag_ids: frozenset[str]
    names: tuple[str, ...]
    name_tags: tuple[str, ...]
    name_kinds: tuple[str, ...]

    @classmethod
    def from_taxonomy(cls, tags: Iterable[Mapping[str, Any] | Any]) -> TagVocabulary:
        """From taxonomy tags (training_catalog.proto's Tag, or mappings with its fields)."""
        ids, names, name_tags, kinds = set(), [], [], []
        for tag in tags:
            tag_id, label, aliases = (_get(tag, n) for n in ("tag_id", "label", "aliases"))
            if not isinstance(tag_id, str) or not tag_id:
                raise ValueError(f"taxonomy tag without a tag id: {tag!r}")
            ids.add(tag_id)
            for name, kind in [(tag_id, "tag id"), (label, "label")] + [
                (alias, "alias") for alias in aliases or ()
            ]:
                if name:
                    names.append(name)
                    name_tags.append(tag_id)
                    kinds.append(kind)
        return cls(frozenset(ids), tuple(names), tuple(name_tags), tuple(kinds))

    def nearest(self, typed: str) -> TagMatch:
        """The tag ids `typed` probably means (never the answer itself: a suggestion)."""
        wanted = utils.default_process(typed)
        exact = [
            (name != typed, tag, kind)  # a name typed exactly as written names its kind best
            for name, tag, kind in zip(self.names, self.name_tags, self.name_kinds, strict=True)
            if utils.default_process(name) == wanted
        ]
        if wanted and exact:
            tags = tuple(dict.fromkeys(tag for _, tag, _ in exact))
            return TagMatch(tags, exact=min(exact, key=lambda e: e[0])[2])
        best: dict[str, float] = {}
        for _, score, index in process.extract(
            typed, self.names, scorer=fuzz.WRatio, processor=utils.default_process, limit=None
        ):
            tag = self.name_tags[index]
            best[tag] = max(best.get(tag, 0.0), score)
        ranked = sorted(
            ((tag, score) for tag, score in best.items() if score > 0),
            key=lambda item: (-item[1], item[0]),
        )
        if not ranked:
            return TagMatch(())
        top_score = ranked[0][1]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if top_score >= SUGGEST_MIN_SCORE and top_score - runner_up >= SUGGEST_MIN_LEAD:
            return TagMatch((ranked[0][0],))
        return TagMatch(tuple(tag for tag, _ in ranked[:CANDIDATES]))


def _get(record: Mapping[str, Any] | Any, name: str) -> Any:
    return record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)


# --- Validating the edits --------------------------------------------------------------------


@dataclass(frozen=True)
class EditProblem:
    """One problem in the review file, named so the customer can find and fix it."""

    row_number: int
    module_id: str
    column: str
    value: str
    reason: str
    suggestions: tuple[str, ...] = ()
    # True when the row is approved (or its approval unreadable): publication is blocked.
    blocking: bool = True

    def describe(self) -> str:
        where = f"row {self.row_number}" + (f" ({self.module_id})" if self.module_id else "")
        return f"{where}, column {self.column}, value {self.value!r}: {self.reason}"


@dataclass(frozen=True)
class ReviewValidation:
    """`approved`: the approved rows without problems (APPROVED_SCHEMA: module_id, tag_ids in
    the order typed, approval_batch_id). `problems`: every problem, blocking or not.
    `content_hashes`: each approved module's content hash as laid out for review (the text
    the customer approved tags for)."""

    customer_id: str
    approved: pl.DataFrame
    problems: list[EditProblem]
    approval_batch_id: str
    rows_read: int
    rows_approved: int
    content_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def blocking_problems(self) -> list[EditProblem]:
        return [p for p in self.problems if p.blocking]

    @property
    def blocked(self) -> bool:
        return bool(self.blocking_problems)

    def problems_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [
                {**p.__dict__, "suggestions": TAG_SEPARATOR.join(p.suggestions)}
                for p in self.problems
            ],
            schema=PROBLEM_SCHEMA,
        )


PROBLEM_SCHEMA = {
    "row_number": pl.Int64,
    "module_id": pl.String,
    "column": pl.String,
    "value": pl.String,
    "reason": pl.String,
    "suggestions": pl.String,
    "blocking": pl.Boolean,
}
APPROVED_SCHEMA = {
    "module_id": pl.String,
    "tag_ids": pl.List(pl.String),
    "approval_batch_id": pl.String,
}


@dataclass
class _RowCheck:
    row: ReviewRow
    approval_unclear: bool = False
    problems: list[tuple[str, str, str, tuple[str, ...]]] = field(default_factory=list)

    def add(self, column: str, value: str, reason: str, suggestions=()) -> None:
        self.problems.append((column, value, reason, tuple(suggestions)))


def validate_edits(
    customer_id: str,
    rows: Sequence[ReviewRow],
    taxonomy: Iterable[Mapping[str, Any] | Any],
    review_module_ids: Collection[str] | Mapping[str, str],
    published: PublishedApproval | None = None,
) -> ReviewValidation:
    """Check every row of the customer's file against their taxonomy and the review set
    (module ids, or the review set itself: module id -> content hash as laid out).
    `published`: the approval published now, which the batch id follows (approval_batch_id)."""
    vocabulary = TagVocabulary.from_taxonomy(taxonomy)
    review_set = frozenset(review_module_ids)
    checks = [_check_row(row, vocabulary, review_set) for row in rows]

    # A module on several rows: which row holds the customer's decision is unknowable.
    by_module: dict[str, list[_RowCheck]] = defaultdict(list)
    for check in checks:
        if check.row.module_id:
            by_module[check.row.module_id].append(check)
    for copies in by_module.values():
        if len(copies) > 1:
            numbers = [c.row.row_number for c in copies]
            for check in copies:
                check.add(
                    "module_id",
                    check.row.module_id,
                    f"module listed on rows {numbers}: keep one row per module",
                )
            if any(_approved(c.row) for c in copies):
                for check in copies:
                    check.approval_unclear = True

    problems: list[EditProblem] = []
    approved: list[tuple[str, list[str]]] = []
    for check in checks:
        row = check.row
        blocking = _approved(row) or check.approval_unclear
        problems.extend(
            EditProblem(row.row_number, row.module_id, column, value, reason, hints, blocking)
            for column, value, reason, hints in check.problems
        )
        if _approved(row) and not check.problems:
            tags = [] if row.tags.strip() == NO_TAGS else split_tags(row.tags)
            approved.append((row.module_id, tags))
    laid_out = review_module_ids if isinstance(review_module_ids, Mapping) else {}
    hashes = {m: laid_out[m] for m, _ in approved if m in laid_out}
    if published is not None and published.content_id == approval_content_id(
        customer_id, approved, hashes
    ):
        batch_id = published.approval_batch_id  # the published approval, saved again
    else:
        previous = published.approval_batch_id if published is not None else ""
        batch_id = approval_batch_id(customer_id, approved, previous, hashes)
    frame = pl.DataFrame(
        [(m, tags, batch_id) for m, tags in approved], schema=APPROVED_SCHEMA, orient="row"
    ).sort("module_id")
    return ReviewValidation(
        customer_id=customer_id,
        approved=frame,
        problems=problems,
        approval_batch_id=batch_id,
        rows_read=len(rows),
        rows_approved=sum(1 for row in rows if _approved(row)),
        content_hashes=hashes,
    )


def _approved(row: ReviewRow) -> bool:
    return row.approved.strip().lower() == APPROVED


def _check_row(row: ReviewRow, vocabulary: TagVocabulary, review_set: frozenset[str]) -> _RowCheck:
    check = _RowCheck(row)
    approval = row.approved.strip().lower()
    if approval not in ("", APPROVED):
        check.approval_unclear = True
        check.add("approved", row.approved, f"approved must be blank or {APPROVED!r}")
    if row.overflow:
        check.add(
            "(beyond the last column)",
            " | ".join(row.overflow),
            "cells outside the header's columns: the row may be shifted",
        )
    if not row.module_id:
        check.add("module_id", row.cells.get("module_id", ""), "module_id is empty")
    elif row.module_id not in review_set:
        check.add("module_id", row.module_id, "module not in this customer's review set")

    cell = row.tags
    if cell.strip() == NO_TAGS:
        return check
    typed = split_tags(cell)
    if not typed and approval == APPROVED:
        check.add(
            "tags",
            cell,
            f"approved with no tags: add tags, or write {NO_TAGS} to approve none",
        )
    if any(not tag for tag in typed):
        check.add("tags", cell, f"empty tag: a {TAG_SEPARATOR!r} with nothing on one side")
    for tag in [t for t in typed if t]:
        if tag == NO_TAGS:
            check.add("tags", tag, f"{NO_TAGS} with other tags: write one or the other")
        elif tag not in vocabulary.tag_ids:
            match = vocabulary.nearest(tag)
            check.add("tags", tag, _unknown_reason(tag, match), match.suggestions)
    for tag, times in Counter(t for t in typed if t).items():
        if times > 1:
            check.add("tags", tag, f"tag written {times} times in one row")
    return check


def _unknown_reason(tag: str, match: TagMatch) -> str:
    quoted = ", ".join(repr(s) for s in match.suggestions)
    if match.exact == "tag id":
        return f"{tag!r} is the tag id {quoted} written differently: write it exactly"
    if match.exact:
        return f"{tag!r} is the {match.exact} of {quoted}: write the tag id itself"
    if len(match.suggestions) == 1:
        return f"unknown tag {tag!r}: did you mean {quoted}?"
    return f"unknown tag {tag!r}: did you mean one of {quoted}?"


def approval_content_id(
    customer_id: str,
    approved: Iterable[tuple[str, Sequence[str]]],
    content_hashes: Mapping[str, str] | None = None,
) -> str:
    """What an approval approves: the same modules and tags, in any row or tag order, for
    the same module texts (`content_hashes`, when known), give the same id."""
    hashes = content_hashes or {}
    canonical = sorted(
        [module_id, sorted(tags), *([hashes[module_id]] if module_id in hashes else [])]
        for module_id, tags in approved
    )
    return hashlib.sha256(json.dumps([customer_id, canonical]).encode()).hexdigest()


def approval_batch_id(
    customer_id: str,
    approved: Iterable[tuple[str, Sequence[str]]],
    previous: str = "",
    content_hashes: Mapping[str, str] | None = None,
) -> str:
    """The id of one approval: a sensor's run key and part of the catalog's idempotency keys.

    Stable for the same approved modules and tags (in any order) after the same `previous`
    published batch, so the same file saved twice is one batch. The previous batch is part of
    it because a customer can come back to an earlier approval (tags A, then B, then A
    again): with the content alone, the third batch would be the first one again, which the
    sensor's run key skips and whose idempotency keys the catalog answers with "replayed,
    nothing changed" while the module still carries B."""
    content = approval_content_id(customer_id, approved, content_hashes)
    seed = content if not previous else f"{content}/after/{previous}"
    return f"approval-{hashlib.sha256(seed.encode()).hexdigest()[:24]}"


# --- Publishing the approval -----------------------------------------------------------------


@dataclass(frozen=True)
class PublishedApproval:
    """The published approval. `changed`: modules whose approved tags are new or differ from
    the approval published before (the ones to apply). `written`: False when this batch was
    already the published one (or nothing was ever approved). `content_hashes`: the text
    each module was approved for (none for approvals published before they were kept)."""

    customer_id: str
    key: str
    approval_batch_id: str
    approved_at: str
    modules: pl.DataFrame  # module_id, tag_ids
    changed: pl.DataFrame  # module_id, tag_ids
    written: bool
    content_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def content_id(self) -> str:
        return approval_content_id(self.customer_id, self.modules.rows(), self.content_hashes)


_MODULE_TAGS_SCHEMA = {"module_id": pl.String, "tag_ids": pl.List(pl.String)}


def approved_to_publish(validation: ReviewValidation) -> pl.DataFrame:
    """The approved rows to publish (APPROVED_SCHEMA), or ApprovalBlocked listing every
    blocking problem: one problem on an approved row holds back the whole approval."""
    if validation.blocked:
        raise ApprovalBlocked(validation.customer_id, validation.problems)
    return validation.approved


def read_published_approval(storage: ObjectStorage, customer_id: str) -> PublishedApproval | None:
    key = approved_key(customer_id)
    if not storage.exists(key):
        return None
    document = json.loads(storage.read_bytes(key))
    modules = pl.DataFrame(
        [{"module_id": m["module_id"], "tag_ids": m["tag_ids"]} for m in document["modules"]],
        schema=_MODULE_TAGS_SCHEMA,
    )
    hashes = {m["module_id"]: m["content_hash"] for m in document["modules"] if "content_hash" in m}
    return PublishedApproval(
        customer_id=customer_id,
        key=key,
        approval_batch_id=document["approval_batch_id"],
        approved_at=document["approved_at"],
        modules=modules,
        changed=modules.clear(),
        written=False,
        content_hashes=hashes,
    )


def publish_approved(
    storage: ObjectStorage,
    validation: ReviewValidation,
    now: dt.datetime | None = None,
) -> PublishedApproval:
    """Publish the validated approval to `approved.json`, or raise ApprovalBlocked and leave
    the published approval exactly as it was."""
    rows = approved_to_publish(validation)
    customer_id = validation.customer_id
    previous = read_published_approval(storage, customer_id)
    modules = rows.select("module_id", pl.col("tag_ids").list.sort())
    hashes = validation.content_hashes
    if previous is not None and previous.content_id == approval_content_id(
        customer_id, modules.rows(), hashes
    ):
        return previous  # the same approval saved again: one batch, published once
    # After the approval published now (as validate_edits did, given it).
    batch_id = approval_batch_id(
        customer_id, modules.rows(), previous.approval_batch_id if previous else "", hashes
    )
    if previous is None and modules.height == 0:
        return PublishedApproval(
            customer_id,
            approved_key(customer_id),
            batch_id,
            "",
            modules,
            modules,
            False,
            hashes,
        )
    before = {} if previous is None else dict(previous.modules.iter_rows())
    is_changed = pl.Series(
        [before.get(m) != tags for m, tags in modules.iter_rows()], dtype=pl.Boolean
    )
    changed = modules.filter(is_changed)
    approved_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat()
    document = {
        "customer_id": customer_id,
        "approval_batch_id": batch_id,
        "approved_at": approved_at,
        "modules": [
            {**row, "content_hash": hashes[row["module_id"]]} if row["module_id"] in hashes else row
            for row in modules.to_dicts()
        ],
    }
    key = approved_key(customer_id)
    storage.write_bytes(key, json.dumps(document, indent=1).encode())
    return PublishedApproval(
        customer_id, key, batch_id, approved_at, modules, changed, True, hashes
    )
