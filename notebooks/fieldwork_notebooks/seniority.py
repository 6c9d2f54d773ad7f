"""The seniority mix of job postings: shares per level, overall and per company or day.

Computed from the `postings_by_company_seniority` mart (postings per day, company and level)
and the `seniority_levels` seed (each level's name), both read with `assets.catalog.load`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import polars as pl


def level_colours(level_names: Sequence[str]) -> dict[str, Any]:
    """One colour per level, light (the first, Entry) to dark (the last), in every chart."""
    steps = max(len(level_names) - 1, 1)
    return {name: plt.cm.viridis_r(i / steps) for i, name in enumerate(level_names)}


def level_mix(mart: pl.DataFrame, levels: pl.DataFrame, by: Sequence[str] = ()) -> pl.DataFrame:
    """Postings per level and their share of the `by` group's postings (of all postings
    without `by`): every level of `levels` in every group, with 0 where it has none.

    Columns: *by, seniority_level, level_name, postings, share; in group, then level order.
    """
    by = list(by)
    levels = levels.select(pl.col("seniority_level").cast(pl.Int32), "level_name")
    counts = mart.group_by(*by, pl.col("seniority_level").cast(pl.Int32)).agg(
        postings=pl.col("postings_count").sum().cast(pl.Int64)
    )
    unknown = counts.join(levels, on="seniority_level", how="anti")
    if not unknown.is_empty():
        raise ValueError(
            f"seniority levels {sorted(unknown['seniority_level'].unique())} have postings but "
            f"no name in seniority_levels (it names {levels['seniority_level'].to_list()})"
        )
    groups = counts.select(by).unique() if by else pl.DataFrame({"_all": [0]})
    total = pl.col("postings").sum()
    mix = (
        groups.join(levels, how="cross")
        .join(counts, on=[*by, "seniority_level"], how="left")
        .with_columns(pl.col("postings").fill_null(0))
        .with_columns(share=pl.col("postings") / (total.over(by) if by else total))
    )
    return mix.select(*by, "seniority_level", "level_name", "postings", "share").sort(
        *by, "seniority_level"
    )


def shares_by_level(mix: pl.DataFrame, by: str) -> pl.DataFrame:
    """`level_mix` one row per `by` value: its postings, then one share column per level in
    level order."""
    names = mix.sort("seniority_level")["level_name"].unique(maintain_order=True).to_list()
    return mix.group_by(by, maintain_order=True).agg(
        pl.col("postings").sum(),
        *(
            pl.col("share").filter(pl.col("level_name") == name).first().alias(name)
            for name in names
        ),
    )


def top_companies(mart: pl.DataFrame, n: int) -> pl.DataFrame:
    """The `n` companies with the most postings (ties: alphabetically), each named by the
    spelling that named most of its postings over the days (the mart names it per day).

    Columns: company_normalized, company_name, postings; biggest first.
    """
    names = (
        mart.group_by("company_normalized", "company_name")
        .agg(postings=pl.col("postings_count").sum())
        .sort(["company_normalized", "postings", "company_name"], descending=[False, True, False])
        .unique("company_normalized", keep="first", maintain_order=True)
        .select("company_normalized", "company_name")
    )
    return (
        mart.group_by("company_normalized")
        .agg(postings=pl.col("postings_count").sum().cast(pl.Int64))
        .sort(["postings", "company_normalized"], descending=[True, False])
        .head(n)
        .join(names, on="company_normalized", maintain_order="left")
        .select("company_normalized", "company_name", "postings")
    )


def company_shares(
    mart: pl.DataFrame, levels: pl.DataFrame, companies: pl.DataFrame
) -> pl.DataFrame:
    """The level shares of each of `companies` (rows of `top_companies`), in their order.

    Columns: company_normalized, company_name, postings, one share column per level.
    """
    keys = companies["company_normalized"].implode()
    mix = level_mix(
        mart.filter(pl.col("company_normalized").is_in(keys)), levels, by=["company_normalized"]
    )
    return companies.join(
        shares_by_level(mix, "company_normalized").drop("postings"),
        on="company_normalized",
        maintain_order="left",
    )


def quarantine_reasons(quarantine: pl.DataFrame) -> pl.DataFrame:
    """Quarantined lines per day and kind of reason (the reason's text before any detail).

    A quarantine with no line at all is read from empty files, which carry no columns: it
    gives no rows, not an error.
    Columns: posting_date, reason_kind, lines; by day, then most lines first.
    """
    if quarantine.is_empty():
        return pl.DataFrame(
            schema={"posting_date": pl.Date, "reason_kind": pl.String, "lines": pl.UInt32}
        )
    return (
        quarantine.with_columns(
            reason_kind=pl.col("reason").str.replace(r"[:(].*$", "").str.strip_chars()
        )
        .group_by("posting_date", "reason_kind")
        .len("lines")
        .sort(["posting_date", "lines", "reason_kind"], descending=[False, True, False])
    )
