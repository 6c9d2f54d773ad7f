"""Reading one JSONL file of raw postings into valid lines and quarantined lines.

The fast path hands whole chunks of lines to Polars' JSON decoder; a chunk it rejects,
and any line that looks unusual, is re-read line by line with orjson, which decides
and says why. A line is never dropped: it is either valid or quarantined with its
line number and a reason.

Lines keep their bytes: a CRLF ending stays with its line (the writer puts it back after
the level), and a UTF-8 byte-order mark opening the file belongs to the file, not to its
first posting (`ParsedPostings.bom`; the output file opens with it too). Optional fields
reach the warehouse as written: a number is its own text (`1.0e3`, a 30-digit id), never
re-printed from a float.
"""

from __future__ import annotations

import base64
import json
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
BOM = "\ufeff"
# An optional field holding a number: Polars re-prints it (`1.0e3` as `1000`), so such
# lines take the slow path, which keeps the number's text. Searched only in lines whose
# decoded optional fields parse as numbers: over every line, the regex cost 0.6 s per 1M
# lines (measured), the float test 0.08 s.
_NUMBER_IN_OPTIONAL = '"(?:' + "|".join(OPTIONAL_FIELDS) + r')"\s*:\s*[-0-9]'
_LOOKS_NUMERIC = pl.any_horizontal(
    [pl.col(name).cast(pl.Float64, strict=False).is_not_null() for name in OPTIONAL_FIELDS]
)
# The decoder gives a number or a boolean in company or title as its text (`5`, `true`):
# only lines whose company or title reads like one are searched for the field written as
# a string (two regexes over every line cost 0.4 s per 1M lines, measured).
_REQUIRED_AS_STRING = pl.col("line").str.contains(r'"company"\s*:\s*"') & pl.col(
    "line"
).str.contains(r'"title"\s*:\s*"')
_REQUIRED_MAY_BE_SCALAR = pl.any_horizontal(
    [
        pl.col(name).cast(pl.Float64, strict=False).is_not_null()
        | pl.col(name).is_in(["true", "false"])
        for name in ("company", "title")
    ]
)


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
    # The file opened with a UTF-8 byte-order mark (not part of line 1's text).
    bom: bool = False


class _Number(str):
    """A JSON number as written in the line."""


def _json_text(value: object) -> str:
    """Compact JSON for a value decoded with numbers as `_Number`s: numbers as written."""
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, dict):
        items = (f"{orjson.dumps(k).decode()}:{_json_text(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    return orjson.dumps(value).decode()


def _optional_texts(record: dict, line: str) -> dict[str, str | None]:
    """Optional fields as text: strings as they are, other JSON values as compact JSON with
    every number as written (orjson would give `1000.0` for `1.0e3`, a float for a big int)."""
    texts = {name: record.get(name) for name in OPTIONAL_FIELDS}
    if all(value is None or isinstance(value, str) for value in texts.values()):
        return texts
    as_written = json.loads(line, parse_float=_Number, parse_int=_Number)
    return {
        name: value if value is None or isinstance(value, str) else _json_text(as_written[name])
        for name, value in texts.items()
    }


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
    fields.update(_optional_texts(record, line))
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
    slow = pl.col("company").is_null() | pl.col("title").is_null()
    if decoded.select(_REQUIRED_MAY_BE_SCALAR.any()).item():
        scalar = decoded.filter(_REQUIRED_MAY_BE_SCALAR).filter(~_REQUIRED_AS_STRING)
        slow = slow | pl.col("line_number").is_in(scalar["line_number"].implode())
    if decoded.select(_LOOKS_NUMERIC.any()).item():
        # A number in an optional field (not a numeric string) must keep its text.
        numbered = decoded.filter(_LOOKS_NUMERIC).filter(
            pl.col("line").str.contains(_NUMBER_IN_OPTIONAL)
        )
        slow = slow | pl.col("line_number").is_in(numbered["line_number"].implode())
    if decoded.select(slow.any()).item():
        return [decoded.filter(~slow).select(list(VALID_SCHEMA))], [
            decoded.filter(slow).select("line_number", "line")
        ]
    return [decoded.select(list(VALID_SCHEMA))], []


def _validate_rows(rows: pl.DataFrame) -> tuple[list[dict], list[tuple[int, str, str]]]:
    """Each line through `validate_line`: fields of the valid ones, reasons for the others."""
    valid, rejected = [], []
    for number, line in rows.select("line_number", "line").iter_rows():
        fields, reason = validate_line(line)
        if reason is None:
            valid.append({"line_number": number, "line": line, **fields})
        else:
            rejected.append((number, reason, line))
    return valid, rejected


def _without_bom(frame: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
    """The lines with a byte-order mark opening the file taken off line 1, and whether it was."""
    if not frame.height or not frame["line"][0].startswith(BOM):
        return frame, False
    first = pl.col("line_number") == 1
    line = pl.when(first).then(pl.col("line").str.strip_prefix(BOM)).otherwise(pl.col("line"))
    return frame.with_columns(line), True


def _every_byte_read(path: Path, frame: pl.DataFrame) -> bool:
    """Whether Polars' lines and their newlines add up to the file's size. Polars drops
    the CR of a CRLF; counting byte lengths costs nothing at 8M lines (they are stored)."""
    size = path.stat().st_size
    if not frame.height:
        return size == 0
    with path.open("rb") as file:
        file.seek(-1, 2)
        newlines = frame.height if file.read(1) == b"\n" else frame.height - 1
    return frame["line"].str.len_bytes().sum() + newlines == size


def _read_lines(
    path: Path,
) -> tuple[pl.DataFrame, list[tuple[int, str, str | None, str]], bool]:
    """All lines with 1-based numbers, the byte-order mark off line 1 (and whether there was
    one); lines that are not UTF-8 come back separately. Every byte but the newlines stays
    in a line: a CRLF's CR too."""
    try:
        frame = pl.read_lines(path, name="line", row_index_name="line_number", row_index_offset=1)
        if _every_byte_read(path, frame):
            lines, bom = _without_bom(frame.with_columns(pl.col("line_number").cast(pl.Int64)))
            return lines, [], bom
    except pl.exceptions.ComputeError as error:
        if "utf8" not in str(error).lower() and "utf-8" not in str(error).lower():
            raise
    # Rare: a line is not UTF-8, or Polars dropped bytes (the CR of CRLF endings). Split
    # by hand, keep every byte, and set the lines that are not UTF-8 aside.
    raw = path.read_bytes()
    bom = raw.startswith(BOM.encode())
    parts = raw.removeprefix(BOM.encode()).split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    lines: list[str] = []
    bad: list[tuple[int, str, str | None, str]] = []
    try:
        lines = b"\n".join(parts).decode("utf-8").split("\n") if parts else []
        parts = []  # every line is UTF-8
    except UnicodeDecodeError:
        pass
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
    return frame, bad, bom


def read_valid_lines(path: Path, valid: pl.DataFrame, lines_in: int, source_key: str) -> pl.Series:
    """The original text of the valid lines, in `valid`'s order (without a byte-order mark).

    `lines_in` is the count seen when the file was parsed; a different count means the
    file changed in between, and its lines can no longer be matched by number.
    """
    lines, _, _ = _read_lines(Path(path))
    if lines.height != lines_in:
        raise RuntimeError(
            f"{source_key} changed while it was being augmented "
            f"({lines_in} lines when parsed, {lines.height} when read again)"
        )
    text = lines["line"]
    # Line n is row n - 1; when every line is valid, the rows are already in place.
    if valid.height != lines.height:
        text = text.gather(valid["line_number"] - 1)
    return text


def parse_postings_file(path: Path, source_key: str, keep_text: bool = False) -> ParsedPostings:
    """Split one JSONL file into valid postings and quarantined lines with reasons."""
    lines, not_utf8, bom = _read_lines(Path(path))
    lines_in = lines.height
    bad_numbers = {number for number, *_ in not_utf8}
    if bad_numbers:
        lines = lines.filter(~pl.col("line_number").is_in(list(bad_numbers)))
    # Lines the decoder might read too kindly go to the slow path: huge ones, ones with
    # trailing bytes (a CRLF's CR is fine), ones that already carry a level (or merely
    # mention one); ones where company or title may not be strings, once decoded.
    plain = (
        (pl.col("line").str.ends_with("}") | pl.col("line").str.ends_with("}\r"))
        & (pl.col("line").str.len_bytes() <= MAX_LINE_BYTES)
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
    return ParsedPostings(source_key, lines_in, valid, quarantine, text, bom)
