"""Training impact by tag: the warehouse's estimates, put in words and drawn with their
confidence intervals.

Every figure comes from the `training_impact` mart (per customer, tag and field metric:
learners trained, mean performance before and after, the tag's own effect from the
regression with learner and month fixed effects, its 95% confidence interval, the partial
correlation and the sample size), read with `assets.catalog.load`. Nothing here estimates
anything: it selects, classifies and draws.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.axes import Axes

# How an estimate reads, by where its 95% confidence interval lies.
VERDICTS = {
    "raises": "the whole 95% interval is above 0",
    "lowers": "the whole 95% interval is below 0",
    "unclear": "the 95% interval holds 0",
    "not estimable": "no learner trained on it with months measured before and after",
}
VERDICT_COLOURS = {
    "raises": "#2e7d32",
    "lowers": "#c62828",
    "unclear": "#9e9e9e",
    "not estimable": "#d0d0d0",
}


def signed_label(value: float | None, decimals: int = 1, unit: str = "") -> str:
    """A signed number with `decimals` decimals, more where those would show a value that is
    not zero as 0 (+0.03, not +0.0), up to two significant digits; `n/a` for a missing one."""
    if value is None or not math.isfinite(value):
        return "n/a"
    places = decimals
    while value != 0 and round(abs(value), places) == 0 and places < decimals + 6:
        places += 1
    if places > decimals:
        places += 1  # two significant digits once the first one needed more places
    text = f"{value:+.{places}f}"
    return f"{text} {unit}".rstrip()


def with_verdicts(impact: pl.DataFrame) -> pl.DataFrame:
    """`training_impact` rows with their `verdict` (VERDICTS), from the confidence interval."""
    return impact.with_columns(
        verdict=pl.when(pl.col("performance_difference").is_null())
        .then(pl.lit("not estimable"))
        .when(pl.col("confidence_interval_low") > 0)
        .then(pl.lit("raises"))
        .when(pl.col("confidence_interval_high") < 0)
        .then(pl.lit("lowers"))
        .otherwise(pl.lit("unclear"))
    )


def verdict_counts(impact: pl.DataFrame) -> pl.DataFrame:
    """Tags per customer, metric and verdict, one column per verdict (every verdict listed)."""
    counts = (
        with_verdicts(impact)
        .group_by("customer_id", "metric", "verdict")
        .len("tags")
        .pivot("verdict", index=["customer_id", "metric"], values="tags")
    )
    return counts.select(
        "customer_id",
        "metric",
        *(
            (pl.col(v) if v in counts.columns else pl.lit(None))
            .fill_null(0)
            .cast(pl.Int64)
            .alias(v)
            for v in VERDICTS
        ),
    ).sort("customer_id", "metric")


def customer_impact(impact: pl.DataFrame, customer_id: str, tags: pl.DataFrame) -> pl.DataFrame:
    """The customer's rows of `training_impact`, each tag with its label and its verdict
    (VERDICTS), largest effect first, tags that cannot be estimated last.

    `tags`: tag_id, tag_label of the customer's taxonomy.
    """
    rows = impact.filter(pl.col("customer_id") == customer_id)
    if rows.is_empty():
        known = sorted(impact["customer_id"].unique().to_list())
        raise ValueError(f"training_impact has no row for {customer_id!r}; it has {known}")
    return (
        with_verdicts(rows)
        .join(tags.select("tag_id", "tag_label"), on="tag_id", how="left")
        .with_columns(tag_label=pl.coalesce("tag_label", "tag_id"))
        .sort(
            [pl.col("performance_difference").is_null(), "performance_difference", "tag_id"],
            descending=[False, True, False],
        )
    )


def effect_chart(rows: pl.DataFrame, *, metric: str, title: str) -> Axes:
    """One row per tag: its effect as a dot with its 95% confidence interval as error bars,
    coloured by verdict, the numbers written beside; tags that cannot be estimated are listed
    without a bar."""
    fig, ax = plt.subplots(figsize=(10, 0.5 * rows.height + 1.8))
    positions = list(range(rows.height))
    for y, row in zip(positions, rows.iter_rows(named=True), strict=True):
        colour = VERDICT_COLOURS[row["verdict"]]
        effect = row["performance_difference"]
        if effect is None:
            ax.annotate(
                "not estimable",
                (0, y),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color="#707070",
            )
            continue
        low, high = row["confidence_interval_low"], row["confidence_interval_high"]
        ax.errorbar(
            effect,
            y,
            xerr=[[effect - low], [high - effect]],
            fmt="o",
            color=colour,
            ecolor=colour,
            capsize=4,
        )
        ax.annotate(
            f"{signed_label(effect)} [{signed_label(low)}, {signed_label(high)}]",
            (high, y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(positions, [_tag_axis_label(r) for r in rows.iter_rows(named=True)])
    ax.invert_yaxis()
    ax.margins(x=0.25)
    ax.set_xlabel(f"effect on {metric} (points of the metric, 95% confidence interval)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=VERDICT_COLOURS[v], label=v)
        for v in VERDICTS
        if v in set(rows["verdict"])
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="reading")
    fig.tight_layout()
    return ax


def before_after_chart(rows: pl.DataFrame, *, metric: str, title: str) -> Axes:
    """One row per tag with learners trained: their mean metric before (hollow) and after
    (filled) their first module of the tag, joined by a line, the raw difference written."""
    shown = rows.filter(
        pl.col("performance_before").is_not_null() & pl.col("performance_after").is_not_null()
    )
    fig, ax = plt.subplots(figsize=(10, 0.5 * max(shown.height, 1) + 1.8))
    for y, row in enumerate(shown.iter_rows(named=True)):
        before, after = row["performance_before"], row["performance_after"]
        ax.plot([before, after], [y, y], color="#9e9e9e", zorder=1)
        ax.scatter([before], [y], facecolors="white", edgecolors="#4e79a7", zorder=2)
        ax.scatter([after], [y], color="#4e79a7", zorder=2)
        ax.annotate(
            f"{signed_label(row['raw_difference'])} ({row['learners_trained']:,} learners)",
            (max(before, after), y),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(shown.height), [_tag_axis_label(r) for r in shown.iter_rows(named=True)])
    ax.invert_yaxis()
    ax.margins(x=0.3)
    ax.set_xlabel(f"mean {metric}: before (hollow) and after (filled) the first module of the tag")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return ax


def _tag_axis_label(row: dict) -> str:
    return f"{row['tag_label']} (n={row['learners_trained']:,})"
