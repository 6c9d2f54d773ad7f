"""The tag review of one customer: what the model suggested, how sure it was, and what the
customer made of it.

Computed from `tag_suggestions` (raw.tag_suggestions: one row per suggested tag, with its
confidence) and `tag_review` (raw.tag_review: the customer's review file as last read: per
module the suggested tags, the tags the customer left, the approval), both read with
`assets.catalog.load(..., partition=<customer>)`. Tags are parsed as the platform parses
the review file (`assets.training.review`), so a module approved with `(none)` reads as
"no tags", as the approval step reads it.
"""

from __future__ import annotations

import polars as pl

from assets.training.review import APPROVED, NO_TAGS, split_tags

# What the customer did to a module's suggestion, in the order the charts show them.
OUTCOMES = {
    "as suggested": "kept the suggested tags as they were",
    "tags added": "kept every suggested tag and added some",
    "tags removed": "removed some or all suggested tags, added none",
    "tags replaced": "removed some suggested tags and added others",
    "abstention, tagged": "the model suggested no tag; the customer added tags",
    "abstention, left empty": "the model suggested no tag; the customer added none",
}
# Confidence bands of the suggestions, low to high.
CONFIDENCE_BANDS = (0.0, 0.5, 0.7, 0.9, 1.0)


def _tags(cell: str | None) -> list[str]:
    """The tags of a review cell as the platform reads them; `(none)` is no tag."""
    return sorted({t for t in split_tags(cell or "") if t and t != NO_TAGS})


def review_changes(review: pl.DataFrame) -> pl.DataFrame:
    """One row per module of the review: the suggested tags, the customer's tags, what was
    kept, added and removed, the outcome (OUTCOMES) and whether the module is approved.

    Columns: module_id, title, suggested, tags, kept, added, removed (lists of tag ids),
    abstained, changed, outcome, approved; in module order.
    """
    rows = []
    for row in review.sort("module_id").iter_rows(named=True):
        suggested, tags = _tags(row["suggested_tags"]), _tags(row["tags"])
        added = [t for t in tags if t not in suggested]
        removed = [t for t in suggested if t not in tags]
        abstained = not suggested
        if abstained:
            outcome = "abstention, tagged" if tags else "abstention, left empty"
        elif added and removed:
            outcome = "tags replaced"
        elif added:
            outcome = "tags added"
        elif removed:
            outcome = "tags removed"
        else:
            outcome = "as suggested"
        rows.append(
            {
                "module_id": row["module_id"],
                "title": row["title"],
                "suggested": suggested,
                "tags": tags,
                "kept": [t for t in suggested if t in tags],
                "added": added,
                "removed": removed,
                "abstained": abstained,
                "changed": bool(added or removed),
                "outcome": outcome,
                "approved": (row["approved"] or "").strip().lower() == APPROVED,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "module_id": pl.String,
            "title": pl.String,
            "suggested": pl.List(pl.String),
            "tags": pl.List(pl.String),
            "kept": pl.List(pl.String),
            "added": pl.List(pl.String),
            "removed": pl.List(pl.String),
            "abstained": pl.Boolean,
            "changed": pl.Boolean,
            "outcome": pl.String,
            "approved": pl.Boolean,
        },
    )


def outcome_counts(changes: pl.DataFrame) -> pl.DataFrame:
    """Modules per outcome, approved and not yet approved, every outcome listed.

    Columns: outcome, approved, not_approved, modules; in OUTCOMES order.
    """
    counts = changes.group_by("outcome").agg(
        approved=pl.col("approved").sum().cast(pl.Int64),
        not_approved=(~pl.col("approved")).sum().cast(pl.Int64),
    )
    return (
        pl.DataFrame({"outcome": list(OUTCOMES)})
        .join(counts, on="outcome", how="left", maintain_order="left")
        .with_columns(pl.col("approved", "not_approved").fill_null(0))
        .with_columns(modules=pl.col("approved") + pl.col("not_approved"))
    )


def tag_changes(changes: pl.DataFrame, taxonomy: pl.DataFrame) -> pl.DataFrame:
    """Per tag of the customer's taxonomy: how often it was suggested, kept, removed by the
    customer, and added by the customer where the model had not suggested it.

    `taxonomy`: tag_id, tag_label. Columns: tag_id, tag_label, suggested, kept, removed,
    added, removed_share (of its suggestions; null when never suggested); most suggested
    first.
    """
    counted = {
        column: changes.select(pl.col(column).explode().drop_nulls().alias("tag_id"))
        .group_by("tag_id")
        .len(column)
        for column in ("suggested", "kept", "removed", "added")
    }
    unknown = pl.concat([c.select("tag_id") for c in counted.values()]).join(
        taxonomy, on="tag_id", how="anti"
    )
    if not unknown.is_empty():
        raise ValueError(
            f"tags {sorted(unknown['tag_id'].unique())} are in the review but not in the "
            "customer's taxonomy"
        )
    frame = taxonomy.select("tag_id", "tag_label")
    for counts in counted.values():
        frame = frame.join(counts, on="tag_id", how="left", maintain_order="left")
    counts = ["suggested", "kept", "removed", "added"]
    return (
        frame.with_columns(pl.col(counts).fill_null(0).cast(pl.Int64))
        .with_columns(
            removed_share=pl.when(pl.col("suggested") > 0).then(
                pl.col("removed") / pl.col("suggested")
            )
        )
        .sort(["suggested", "added", "tag_id"], descending=[True, True, False])
    )


def suggestion_fates(suggestions: pl.DataFrame, changes: pl.DataFrame) -> pl.DataFrame:
    """Each suggested tag (raw.tag_suggestions rows) with whether the customer kept it.

    Suggestions of a module the review no longer lists, or whose suggestion the review does
    not show (a newer one is not merged yet), are an error rather than a guess.
    Columns: module_id, tag_id, confidence, tag_rank, kept.
    """
    shown = changes.select("module_id", pl.col("suggested").alias("tag_id")).explode("tag_id")
    kept = changes.select("module_id", pl.col("kept").alias("tag_id")).explode("tag_id")
    missing = suggestions.join(shown, on=["module_id", "tag_id"], how="anti")
    if not missing.is_empty():
        raise ValueError(
            f"{missing.height} suggested tag(s) are not in the review file as read (modules "
            f"{missing['module_id'].unique().sort().head(5).to_list()}): materialize tag_review "
            "for this customer to merge them"
        )
    return (
        suggestions.select("module_id", "tag_id", "confidence", "tag_rank")
        .join(
            kept.with_columns(kept=pl.lit(True)),
            on=["module_id", "tag_id"],
            how="left",
        )
        .with_columns(pl.col("kept").fill_null(False))
    )


def confidence_bands(fates: pl.DataFrame) -> pl.DataFrame:
    """Suggestions per confidence band and the share the customer removed.

    Columns: band (e.g. `0.70-0.90`), suggestions, removed, removed_share; low to high, every
    band listed (removed_share null where a band holds no suggestion).
    """
    edges = CONFIDENCE_BANDS
    names = [f"{low:.2f}-{high:.2f}" for low, high in zip(edges, edges[1:], strict=False)]
    banded = fates.with_columns(
        band=pl.col("confidence")
        .cut(list(edges[1:-1]), labels=names, left_closed=True)
        .cast(pl.String)
    )
    counts = banded.group_by("band").agg(
        suggestions=pl.len().cast(pl.Int64), removed=(~pl.col("kept")).sum().cast(pl.Int64)
    )
    return (
        pl.DataFrame({"band": names})
        .join(counts, on="band", how="left", maintain_order="left")
        .with_columns(pl.col("suggestions", "removed").fill_null(0))
        .with_columns(
            removed_share=pl.when(pl.col("suggestions") > 0).then(
                pl.col("removed") / pl.col("suggestions")
            )
        )
    )
