"""What the Dagster UI shows of a table-shaped asset: its owners, its columns, its row count
and a preview of its first rows, the same way for every family."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import polars as pl

# The Python assets (files, models, caches); the dbt models are analytics engineering's.
PLATFORM_OWNERS = ["team:data-platform"]
PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 80


def column_schema(
    schema: Mapping[str, pl.DataType], descriptions: Mapping[str, str] | None = None
) -> dg.TableSchema:
    """`dagster/column_schema` for a table of this Polars schema."""
    descriptions = descriptions or {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, str(dtype), description=descriptions.get(name))
            for name, dtype in schema.items()
        ]
    )


def markdown_table(
    frame: pl.DataFrame, limit: int = PREVIEW_ROWS, cell_chars: int = PREVIEW_CELL_CHARS
) -> str:
    """The first `limit` rows of `frame` as a Markdown table (pipes and newlines escaped, each
    cell cut to `cell_chars`)."""

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        if len(text) > cell_chars:
            text = text[: cell_chars - 1] + "…"
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", " ")

    lines = [
        "| " + " | ".join(frame.columns) + " |",
        "|" + "|".join("---" for _ in frame.columns) + "|",
    ]
    lines.extend(
        "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.head(limit).iter_rows()
    )
    if frame.height > limit:
        lines.append(f"\n{frame.height - limit:,} more rows not shown.")
    return "\n".join(lines)


def table_metadata(head: pl.DataFrame | pl.LazyFrame, rows: int) -> dict[str, object]:
    """A materialization's table metadata: the columns as written (`head`'s, which may be only
    the first rows of a larger table), its `rows` and a preview of the first rows."""
    if isinstance(head, pl.LazyFrame):
        head = head.head(PREVIEW_ROWS).collect()
    preview = markdown_table(head.head(PREVIEW_ROWS))
    if rows > PREVIEW_ROWS:
        preview += f"\n\nThe first {PREVIEW_ROWS} of {rows:,} rows."
    return {
        "dagster/column_schema": column_schema(head.schema),
        "dagster/row_count": rows,
        "preview": dg.MetadataValue.md(preview),
    }
