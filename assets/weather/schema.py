"""Readings and city files as producers write them, read in the canonical schema or refused.

Producers write the same data in several lossless shapes: int64 ids, timestamps in ns or
ms, time zones, float32 values, columns the feed does not define. Each file's schema is read
from its footer and every column gets the cheapest conversion that keeps every value exactly;
a conversion that could lose a value is checked on the file's data first. Anything else (a
missing column, a string temperature, a timestamp written as text, a file that is not
Parquet) fails the day with a message naming the file, the column, the expected and the
found type, and what to do: no value is guessed at.

Per column (the canonical types are `READINGS_SCHEMA` and `CITIES_SCHEMA` in layout.py):
- ids (Int32): narrower integers widen; Int64, UInt32 and UInt64 are accepted when every id
  of the file fits in Int32 (checked on the file's min and max).
- timestamps (naive Datetime("us"), UTC): ms widens exactly; ns is accepted when no value
  has digits below the microsecond (checked); an aware timestamp is converted to UTC
  explicitly, then its zone dropped. Naive timestamps are taken as UTC (the feed's contract).
- measurements (Float64): Float16, Float32 and integers up to 32 bits widen exactly. The
  canonical type stays Float64: narrowing to Float32 would round the values of every
  producer that writes float64 (30.1 becomes 30.100000381...). Int64 is refused: beyond
  2**53 it does not convert exactly.
- text (String): Categorical and Enum convert exactly.
- a column of the Null type (all values missing) converts to any type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

_INT32 = (-(2**31), 2**31 - 1)
_WIDENS_TO_INT32 = (pl.Int8, pl.Int16, pl.UInt8, pl.UInt16)
_FITS_INT32_IF_CHECKED = (pl.Int64, pl.UInt32, pl.UInt64)
_WIDENS_TO_FLOAT64 = (
    pl.Float16,
    pl.Float32,
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
)


class InputFileError(ValueError):
    """A readings or city file the day cannot use as it is; the message says what to do."""


@dataclass
class ConformedFile:
    """One input file as a lazy frame in the canonical schema (columns in its order)."""

    name: str  # how messages name the file (its storage URI)
    frame: pl.LazyFrame
    ignored_columns: list[str] = field(default_factory=list)

    def rows(self) -> int:
        """From the Parquet footer."""
        return int(self.frame.select(pl.len()).collect().item())


def _accepted(expected: pl.DataType) -> str:
    """The types accepted for `expected`, for messages."""
    if expected == pl.Int32:
        return "Int32, a narrower integer, or Int64/UInt32/UInt64 whose values fit in Int32"
    if isinstance(expected, pl.Datetime):
        return "a Datetime in ns, us or ms, naive (taken as UTC) or with a time zone"
    if expected == pl.Float64:
        return "Float64, Float32, Float16 or an integer of up to 32 bits"
    return "String, Categorical or Enum"


def _conversion(name: str, column: str, found: pl.DataType, expected: pl.DataType, path):
    """The expression that reads `column` as `expected` without loss; raises if there is none."""
    col = pl.col(column)
    if found == expected:
        return col
    if found == pl.Null:
        return col.cast(expected)
    if expected == pl.Int32 and isinstance(found, _WIDENS_TO_INT32):
        return col.cast(pl.Int32)
    if expected == pl.Int32 and isinstance(found, _FITS_INT32_IF_CHECKED):
        bounds = pl.scan_parquet(path).select(col.min().alias("low"), col.max().alias("high"))
        low, high = bounds.collect().row(0)
        outside = [v for v in (low, high) if v is not None and not _INT32[0] <= v <= _INT32[1]]
        if outside:
            raise InputFileError(
                f"{name}: column {column!r} is {found} with value {outside[0]}, outside the "
                f"expected {expected} range [{_INT32[0]}, {_INT32[1]}]: ids are Int32 here and "
                f"in the city registry. Renumber the ids to fit (or ask the platform to widen "
                f"the id type), then rerun the day."
            )
        return col.cast(pl.Int32)
    if isinstance(expected, pl.Datetime) and isinstance(found, pl.Datetime):
        if found.time_unit == "ns":
            sub_us = (col.dt.epoch("ns") % 1_000 != 0).sum()
            inexact = pl.scan_parquet(path).select(sub_us).collect().item()
            if inexact:
                raise InputFileError(
                    f"{name}: column {column!r} is {found}, expected {expected}, and {inexact:,} "
                    f"of its values have digits below the microsecond, which {expected} would "
                    f"drop. Write the timestamps rounded to the microsecond (or coarser), then "
                    f"rerun the day."
                )
        if found.time_zone is not None:
            # Explicitly to UTC, then naive: the canonical timestamps are naive UTC.
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return col.dt.cast_time_unit(expected.time_unit)
    if expected == pl.Float64 and isinstance(found, _WIDENS_TO_FLOAT64):
        return col.cast(pl.Float64)
    if expected == pl.String and isinstance(found, (pl.Categorical, pl.Enum)):
        return col.cast(pl.String)
    what_to_do = (
        "Write it as a timestamp column (Parquet TIMESTAMP), not as text or numbers"
        if isinstance(expected, pl.Datetime)
        else f"Write it as {expected}"
    )
    raise InputFileError(
        f"{name}: column {column!r} is {found}, expected {expected} (accepted: "
        f"{_accepted(expected)}). {what_to_do}, then rerun the day; nothing of the day "
        f"was loaded."
    )


def conform(path, name: str, schema: dict[str, pl.DataType]) -> ConformedFile:
    """The file at `path` (named `name` in messages) as a lazy frame with exactly `schema`'s
    columns and types, or InputFileError. Columns beyond `schema` are listed, not read."""
    try:
        found = pl.read_parquet_schema(path)
    except Exception as error:  # polars raises several types for a damaged footer
        raise InputFileError(
            f"{name} is not a readable Parquet file ({type(error).__name__}: {error}). It may be "
            f"truncated or still being uploaded: replace it with a complete file (or remove it), "
            f"then rerun the day; nothing of the day was loaded."
        ) from error
    missing = [column for column in schema if column not in found]
    if missing:
        raise InputFileError(
            f"{name}: column {missing[0]!r} is missing (expected {schema[missing[0]]}); the file "
            f"has {list(found)}, the feed's contract is {_describe(schema)}. Write every "
            f"column of the contract (extra columns are ignored), then rerun the day; nothing "
            f"of the day was loaded."
        )
    columns = [
        _conversion(name, column, found[column], expected, path).alias(column)
        for column, expected in schema.items()
    ]
    return ConformedFile(
        name=name,
        frame=pl.scan_parquet(path).select(columns),
        ignored_columns=[column for column in found if column not in schema],
    )


def _describe(schema: dict[str, pl.DataType]) -> str:
    return "{" + ", ".join(f"{column}: {dtype}" for column, dtype in schema.items()) + "}"
