"""Reading one JSONL file of raw postings into valid lines and quarantined lines.

The fast path hands whole chunks of lines to Polars' JSON decoder; a chunk it rejects,
and any line that looks unusual, is re-read line by line with orjson, which decides
and says why. A line is never dropped: it is either valid or quarantined with its
line number and a reason.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import orjson
import polars as pl

MAX_LINE_BYTES = 1024 * 1024
# Lines decoded together on the fast path; one bad line costs a chunk of slow decoding.
CHUNK_LINES = 262_144
RETRY_CHUNK_LINES = 4_096
# Fields copied to the warehouse, besides company and title.
OPTIONAL_FIELDS = ("posting_id", "location", "posted_at")
FIELDS = ("company", "title", *OPTIONAL_FIELDS)

VALID_SCHEMA = {
    "line_number": pl.Int64,
    "line": pl.String,
    **{name: pl.String for name in FIELDS},
}
QUARANTINE_SCHEMA = {
    "source_key": pl.String,
    "line_number": pl.Int64,
    "reason": pl.String,
    "line": pl.String,
    "line_base64": pl.String,
}
_DECODE_DTYPE = pl.Struct({name: pl.String for name in FIELDS})


@dataclass
class ParsedPostings:
    """One file's lines: `valid` holds the fields of good lines (by line number), `quarantine`
    the rest."""

    source_key: str
    lines_in: int
    valid: pl.DataFrame
    quarantine: pl.DataFrame
    # The text of the valid lines, in `valid`'s order, when asked for.
    text: pl.Series | None = None


def _scalar_text(value: object) -> str | None:
    """Optional fields as text: strings as they are, other JSON values as JSON."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def validate_line(line: str) -> tuple[dict[str, str | None] | None, str | None]:
    """The fields of one line, or the reason it is rejected. The slow, authoritative path."""
    size = len(line.encode())
    if size > MAX_LINE_BYTES:
        return None, f"line is longer than 1 MiB ({size} bytes)"
    if not line.strip():
        return None, "empty line"
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return None, f"invalid JSON (truncated or malformed): {error}"
    if not isinstance(record, dict):
        return None, f"not a JSON object (got {type(record).__name__})"
    if "seniority" in record:
        return None, "already has a seniority field"
    fields: dict[str, str | None] = {}
    for name in ("company", "title"):
        value = record.get(name)
        if value is None:
            return None, f"missing {name}"
        if not isinstance(value, str):
            return None, f"{name} is not a string (got {type(value).__name__})"
        fields[name] = value
    for name in OPTIONAL_FIELDS:
        fields[name] = _scalar_text(record.get(name))
    return fields, None


def _decode_chunk(chunk: pl.DataFrame) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    """Decode a chunk at once; if one line spoils it, retry in small pieces, then line by line."""
    try:
        decoded = chunk.with_columns(
            pl.col("line").str.json_decode(dtype=_DECODE_DTYPE).alias("fields")
        ).unnest("fields")
    except pl.exceptions.PolarsError:
        if chunk.height <= RETRY_CHUNK_LINES:
            return [], [chunk]
        valid, slow = [], []
        for start in range(0, chunk.height, RETRY_CHUNK_LINES):
            more_valid, more_slow = _decode_chunk(chunk.slice(start, RETRY_CHUNK_LINES))
            valid.extend(more_valid)
            slow.extend(more_slow)
        return valid, slow
    missing = pl.col("company").is_null() | pl.col("title").is_null()
    if decoded.select(missing.any()).item():
        return [decoded.filter(~missing).select(list(VALID_SCHEMA))], [
            decoded.filter(missing).select("line_number", "line")
        ]
    return [decoded.select(list(VALID_SCHEMA))], []


def _validate_rows(rows: pl.DataFrame) -> tuple[list[dict], list[tuple[int, str, str]]]:
    """Each line through `validate_line`: fields of the valid ones, reasons for the others."""
    valid, rejected = [], []
    for number, line in rows.select("line_number", "line").iter_rows():
        fields, reason = validate_line(line)
        if reason is None:
            valid.append({"line_number": number, "line": line.rstrip(), **fields})
        else:
            rejected.append((number, reason, line))
    return valid, rejected


def _read_lines(path: Path) -> tuple[pl.DataFrame, list[tuple[int, str, str | None, str]]]:
    """All lines with 1-based numbers; lines that are not UTF-8 come back separately."""
    try:
        frame = pl.read_lines(path, name="line", row_index_name="line_number", row_index_offset=1)
        return frame.with_columns(pl.col("line_number").cast(pl.Int64)), []
    except pl.exceptions.ComputeError as error:
        if "utf8" not in str(error).lower() and "utf-8" not in str(error).lower():
            raise
    # Rare: at least one line is not UTF-8. Split by hand and set those lines aside.
    raw = path.read_bytes()
    parts = raw.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    lines: list[str] = []
    bad: list[tuple[int, str, str | None, str]] = []
    for number, part in enumerate(parts, start=1):
        try:
            lines.append(part.decode("utf-8"))
        except UnicodeDecodeError as error:
            lines.append("")
            bad.append(
                (
                    number,
                    f"invalid UTF-8: first bad byte at offset {error.start}",
                    part.decode("utf-8", errors="backslashreplace"),
                    base64.b64encode(part).decode(),
                )
            )
    frame = pl.DataFrame(
        {"line_number": pl.int_range(1, len(lines) + 1, eager=True), "line": lines},
        schema={"line_number": pl.Int64, "line": pl.String},
    )
    return frame, bad


def read_valid_lines(path: Path, valid: pl.DataFrame, lines_in: int, source_key: str) -> pl.Series:
    """The original text of the valid lines, in `valid`'s order, trailing blanks removed.

    `lines_in` is the count seen when the file was parsed; a different count means the
    file changed in between, and its lines can no longer be matched by number.
    """
    lines, _ = _read_lines(Path(path))
    if lines.height != lines_in:
        raise RuntimeError(
            f"{source_key} changed while it was being augmented "
            f"({lines_in} lines when parsed, {lines.height} when read again)"
        )
    text = lines["line"]
    # Line n is row n - 1; when every line is valid, the rows are already in place.
    if valid.height != lines.height:
        text = text.gather(valid["line_number"] - 1)
    if not text.str.ends_with("}").all():
        text = text.str.strip_chars_end(" \t\r")
    return text


def parse_postings_file(path: Path, source_key: str, keep_text: bool = False) -> ParsedPostings:
    """Split one JSONL file into valid postings and quarantined lines with reasons."""
    lines, not_utf8 = _read_lines(Path(path))
    lines_in = lines.height
    bad_numbers = {number for number, *_ in not_utf8}
    if bad_numbers:
        lines = lines.filter(~pl.col("line_number").is_in(list(bad_numbers)))
    # Lines the decoder might read too kindly go to the slow path: huge ones, ones with
    # trailing bytes, ones where company or title may not be strings, ones that already
    # carry a level (or merely mention one).
    plain = (
        pl.col("line").str.ends_with("}")
        & (pl.col("line").str.len_bytes() <= MAX_LINE_BYTES)
        & pl.col("line").str.contains(r'"company"\s*:\s*"')
        & pl.col("line").str.contains(r'"title"\s*:\s*"')
        & ~pl.col("line").str.contains('"seniority"', literal=True)
    )
    mask = lines.select(plain.alias("plain"))["plain"]
    if mask.all():
        easy, slow_rows = lines, []
    else:
        easy, slow_rows = lines.filter(mask), [lines.filter(~mask)]

    valid_parts: list[pl.DataFrame] = []
    for start in range(0, easy.height, CHUNK_LINES):
        decoded, undecodable = _decode_chunk(easy.slice(start, CHUNK_LINES))
        valid_parts.extend(decoded)
        slow_rows.extend(undecodable)

    rejected: list[tuple[int, str, str | None, str | None]] = [
        (n, reason, text, b64) for n, reason, text, b64 in not_utf8
    ]
    slow = pl.concat(slow_rows) if slow_rows else lines.clear()
    rescued: list[dict] = []
    if slow.height:
        rescued, refused = _validate_rows(slow)
        if rescued:
            valid_parts.append(pl.DataFrame(rescued, schema=VALID_SCHEMA))
        rejected.extend((n, reason, line, None) for n, reason, line in refused)

    valid = pl.concat(valid_parts) if valid_parts else pl.DataFrame(schema=VALID_SCHEMA)
    if rescued:
        # Only lines rescued by the slow path can be out of order.
        valid = valid.sort("line_number")
    text = valid["line"] if keep_text else None
    valid = valid.drop("line").rechunk()
    quarantine = pl.DataFrame(
        [(source_key, *row) for row in sorted(rejected)],
        schema=QUARANTINE_SCHEMA,
        orient="row",
    )
    return ParsedPostings(source_key, lines_in, valid, quarantine, text)
