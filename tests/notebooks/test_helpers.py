"""The notebooks' helpers on small frames whose answers are known: labels, shares, charts.

No kernel and no materialization: these run in a second. The notebooks themselves are
executed end to end in test_notebooks.py.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")  # no display in the tests

import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
import pytest  # noqa: E402

from notebooks.fieldwork_notebooks import charts, heat, impact, seniority, tag_review  # noqa: E402
from notebooks.fieldwork_notebooks.labels import (  # noqa: E402
    fahrenheit_label,
    share_label,
    with_share_labels,
)

LEVELS = pl.DataFrame(
    {"seniority_level": [1, 2, 3], "level_name": ["Entry", "Junior", "Manager"]},
    schema={"seniority_level": pl.Int32, "level_name": pl.String},
)
D1, D2 = dt.date(2026, 11, 19), dt.date(2026, 11, 20)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize(
    ("share", "label"),
    [
        (0, "0%"),
        (1, "100%"),
        (0.43, "43%"),
        (0.01, "1%"),
        (0.99, "99%"),
        (0.003, "0.3%"),
        (0.0096, "1.0%"),
        (0.0004, "<0.1%"),
        (0.995, "99.5%"),
        (0.9996, ">99.9%"),
    ],
)
def test_share_label_never_rounds_a_share_to_zero_or_whole(share, label):
    assert share_label(share) == label


@pytest.mark.parametrize("bad", [-0.01, 1.2, math.nan, math.inf, None])
def test_share_label_refuses_what_is_not_a_share(bad):
    with pytest.raises(ValueError, match="a share is a number from 0 to 1, got"):
        share_label(bad)


def test_share_columns_read_as_labels_and_degrees_as_whole_fahrenheit():
    frame = pl.DataFrame({"name": ["a", "b"], "share": [0.002, 0.998]})

    assert with_share_labels(frame, ["share"])["share"].to_list() == ["0.2%", "99.8%"]
    assert fahrenheit_label(103.4) == "103 F"


def mart(rows: list[tuple]) -> pl.DataFrame:
    """postings_by_company_seniority rows: day, company, its spelling that day, level, postings."""
    return pl.DataFrame(
        rows,
        schema={
            "posting_date": pl.Date,
            "company_normalized": pl.String,
            "company_name": pl.String,
            "seniority_level": pl.Int32,
            "postings_count": pl.Int64,
        },
        orient="row",
    )


def test_level_mix_lists_every_level_in_every_group():
    postings = mart(
        [
            (D1, "acme", "Acme", 1, 3),
            (D1, "acme", "Acme", 3, 1),
            (D2, "acme", "ACME", 1, 1),
            (D2, "initech", "Initech", 2, 999),
        ]
    )

    overall = seniority.level_mix(postings, LEVELS)
    assert overall.select("level_name", "postings").rows() == [
        ("Entry", 4),
        ("Junior", 999),
        ("Manager", 1),
    ]
    assert overall["share"].to_list() == pytest.approx([4 / 1004, 999 / 1004, 1 / 1004])

    by_day = seniority.level_mix(postings, LEVELS, by=["posting_date"])
    assert by_day.height == 2 * LEVELS.height
    assert by_day.filter(pl.col("posting_date") == D1)["share"].to_list() == [0.75, 0.0, 0.25]
    wide = seniority.shares_by_level(by_day, "posting_date")
    assert wide.columns == ["posting_date", "postings", "Entry", "Junior", "Manager"]
    assert wide.row(1) == (D2, 1000, 0.001, 0.999, 0.0)


def test_a_level_without_a_name_is_refused():
    with pytest.raises(ValueError, match=r"seniority levels \[9\] have postings but no name"):
        seniority.level_mix(mart([(D1, "acme", "Acme", 9, 1)]), LEVELS)


def test_top_companies_named_by_the_spelling_of_most_postings_over_the_days():
    postings = mart(
        [
            (D1, "acme", "ACME Inc.", 1, 2),
            (D2, "acme", "Acme Inc", 1, 3),
            (D2, "acme", "Acme Inc", 2, 1),
            (D1, "globex", "Globex", 1, 6),
            (D1, "initech", "Initech", 1, 6),
            (D1, "umbrella", "Umbrella", 1, 1),
        ]
    )

    top = seniority.top_companies(postings, 3)
    # Ties on postings go alphabetically; Acme's day-two spelling named 4 of its 6 postings.
    assert top.rows() == [
        ("acme", "Acme Inc", 6),
        ("globex", "Globex", 6),
        ("initech", "Initech", 6),
    ]


def test_level_colours_run_light_to_dark():
    colours = seniority.level_colours(LEVELS["level_name"].to_list())

    def luminance(colour):
        red, green, blue = colour[:3]
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    assert list(colours) == ["Entry", "Junior", "Manager"]
    assert (
        luminance(colours["Entry"]) > luminance(colours["Junior"]) > luminance(colours["Manager"])
    )


def city_days(rows: list[tuple]) -> pl.DataFrame:
    """city_day_heat_index rows as the warehouse returns them (minute sums as DECIMAL)."""
    frame = pl.DataFrame(
        rows,
        schema={
            "reading_date": pl.Date,
            "city_id": pl.Int32,
            "readings_count": pl.Int64,
            "max_heat_index_f": pl.Float32,
            "mean_heat_index_f": pl.Float64,
            "caution_minutes": pl.Int64,
            "extreme_caution_minutes": pl.Int64,
            "danger_minutes": pl.Int64,
            "extreme_danger_minutes": pl.Int64,
        },
        orient="row",
    )
    return frame.with_columns(pl.col("^.*_minutes$").cast(pl.Decimal(38, 0)))


CITY_DAYS = city_days(
    [
        (D1, 1, 1440, 130.0, 95.0, 100, 100, 100, 10),
        (D1, 2, 1440, 70.0, 60.0, 0, 0, 0, 0),
        (D2, 1, 1440, 101.0, 85.0, 200, 50, 0, 0),
        (D2, 2, 1000, 130.0, 99.0, 300, 200, 40, 2),
    ]
)


def test_risk_shares_by_day_are_shares_of_the_days_city_minutes():
    by_day = heat.risk_shares_by_day(CITY_DAYS)

    assert by_day["city_minutes"].to_list() == [2880, 2440]
    first = by_day.row(0, named=True)
    assert first["caution"] == pytest.approx(100 / 2880)
    assert first["extreme danger"] == pytest.approx(10 / 2880)
    assert first["at_risk"] == pytest.approx(310 / 2880)


def test_hottest_cities_keep_the_first_day_of_their_peak():
    hottest = heat.hottest_cities(CITY_DAYS, 1)

    # Both reached 130 F: the lower id wins the tie; city 1 peaked on day one.
    assert hottest.row(0, named=True) == {
        "city_id": 1,
        "peak_heat_index_f": 130.0,
        "peak_date": D1,
        "mean_heat_index_f": 90.0,
        "danger_minutes_total": 110,
    }
    assert heat.hottest_cities(CITY_DAYS, 5)["city_id"].to_list() == [1, 2]


def test_region_hours_list_a_region_never_at_risk():
    by_region = pl.DataFrame(
        {
            "reading_date": [D1, D1, D2],
            "region": ["tropical", "polar north", "tropical"],
            "cities_in_danger_count": [Decimal(1), Decimal(0), Decimal(2)],
            **{
                column: [Decimal(60), Decimal(0), Decimal(30)]
                for column in heat.RISK_MINUTES.values()
            },
        }
    )

    regions = heat.region_risk_hours(by_region)
    assert regions.select("region", "caution", "at_risk_hours", "danger_city_days").rows() == [
        ("tropical", 1.5, 6.0, 3),
        ("polar north", 0.0, 0.0, 0),
    ]


@pytest.mark.parametrize(
    ("heat_index", "risk"),
    [(79.9, "below caution"), (80, "caution"), (102.9, "extreme caution"), (103, "danger")]
    + [(124.9, "danger"), (125, "extreme danger")],
)
def test_risk_categories_start_at_the_nws_thresholds(heat_index, risk):
    assert heat.risk_of(heat_index) == risk


def test_a_city_the_registry_does_not_know_is_an_error_not_a_blank():
    registry = pl.DataFrame(
        {"city_id": [1], "city_name": ["Yarmar"], "region": ["tropical"]},
        schema_overrides={"city_id": pl.Int32},
    )

    named = heat.with_cities(CITY_DAYS.filter(pl.col("city_id") == 1), registry)
    assert named["city_name"].unique().to_list() == ["Yarmar"]
    with pytest.raises(ValueError, match=r"cities \[2\] \(1 in all\) are not in the city registry"):
        heat.with_cities(CITY_DAYS, registry)


def texts(ax) -> list[str]:
    return [text.get_text() for text in ax.texts]


def test_stacked_shares_keep_a_decimal_and_leave_slivers_unlabelled():
    ax = charts.stacked_bars(
        ["a", "b"],
        {"big": [0.6, 0.997], "small": [0.4, 0.003]},
        {"big": "navy", "small": "yellow"},
        title="t",
        shares=True,
    )

    # 0.3% is too narrow to hold text: no label rather than one spilling over (or "0%").
    assert texts(ax) == ["60%", "99.7%", "40%", ""]
    assert ax.get_ylim() == (0, 1)  # every bar is a whole: no totals, a 0-100% axis


def test_stacked_counts_carry_their_totals():
    ax = charts.stacked_bars(
        ["north", "south"],
        {"x": [10, 0], "y": [5, 0]},
        {"x": "red", "y": "orange"},
        title="t",
        shares=False,
        horizontal=True,
        total_label=lambda total: f"{total:,.0f} h" if total else "none",
    )

    assert texts(ax)[-2:] == ["15 h", "none"]


def test_charts_refuse_mismatched_input():
    with pytest.raises(ValueError, match="'small' has 1 values for 2 bars"):
        charts.stacked_bars(["a", "b"], {"small": [1]}, {"small": "red"}, title="t", shares=False)
    with pytest.raises(ValueError, match=r"no colour for the parts \['y'\]"):
        charts.stacked_bars(["a"], {"y": [1]}, {"x": "red"}, title="t", shares=False)
    with pytest.raises(ValueError, match="'value_labels' has 1 values for 2 bars"):
        charts.bars(["a", "b"], [1, 2], value_labels=["1"], title="t")


def test_lines_leave_a_gap_for_a_missing_day():
    ax = charts.lines(
        ["d1", "d2", "d3"],
        {"tropical": [90.0, None, 95.0]},
        title="t",
        axis_label="F",
        value_label=fahrenheit_label,
    )

    [line] = ax.get_lines()
    assert math.isnan(line.get_ydata()[1])
    assert texts(ax) == ["95 F"]


def test_day_curve_draws_one_city_day():
    readings = pl.DataFrame(
        {
            "reading_date": [D1, D1],
            "city_id": [1, 2],
            "reading_at": [dt.datetime(2026, 11, 19, 0, 0), dt.datetime(2026, 11, 19, 0, 1)],
            "temperature_f": [90.0, 91.0],
            "heat_index_f": [100.0, 101.0],
            "heat_index_rolling_mean_f": [100.0, 100.5],
        }
    )

    with pytest.raises(ValueError, match="one city's day; got 2 cities and 1 days"):
        heat.day_curve(readings, "t")
    ax = heat.day_curve(readings.head(1), "t")
    # Thresholds up to 10 F above the peak are drawn: caution to danger, not extreme danger.
    assert texts(ax) == ["caution (80 F)", "extreme caution (90 F)", "danger (103 F)"]


def test_company_shares_follow_the_companies_order():
    postings = mart(
        [
            (D1, "acme", "Acme", 1, 1),
            (D2, "acme", "Acme", 3, 3),
            (D1, "globex", "Globex", 2, 8),
            (D1, "umbrella", "Umbrella", 1, 1),
        ]
    )

    shares = seniority.company_shares(postings, LEVELS, seniority.top_companies(postings, 2))
    assert shares.rows() == [
        ("globex", "Globex", 8, 0.0, 1.0, 0.0),
        ("acme", "Acme", 4, 0.25, 0.0, 0.75),
    ]


def test_quarantine_reasons_by_kind_and_none_from_empty_files():
    quarantine = pl.DataFrame(
        {
            "posting_date": [D1, D1, D2],
            "reason": ["invalid JSON: line 3", "missing title", "invalid JSON (truncated)"],
        }
    )

    assert seniority.quarantine_reasons(quarantine).rows() == [
        (D1, "invalid JSON", 1),
        (D1, "missing title", 1),
        (D2, "invalid JSON", 1),
    ]
    # What the catalog reads when every day's quarantine file is empty: no reason column.
    clean = pl.DataFrame(schema={"posting_date": pl.Date, "storage_key": pl.String})
    assert seniority.quarantine_reasons(clean).columns == ["posting_date", "reason_kind", "lines"]


def review(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    """raw.tag_review rows: module, suggested tags, the customer's tags, approved."""
    return pl.DataFrame(
        [(m, f"title {m}", s, t, a) for m, s, t, a in rows],
        schema=["module_id", "title", "suggested_tags", "tags", "approved"],
        orient="row",
    )


TAXONOMY = pl.DataFrame(
    {"tag_id": ["comm", "nego", "prod"], "tag_label": ["Communication", "Negotiation", "Product"]}
)


def test_review_changes_name_what_the_customer_did_to_each_suggestion():
    changes = tag_review.review_changes(
        review(
            [
                ("m1", "comm|prod", "comm|prod", "yes"),
                ("m2", "comm", "comm | nego", "YES "),
                ("m3", "comm|prod", "prod", ""),
                ("m4", "comm|prod", "nego|prod", "yes"),
                ("m5", "", "nego", "yes"),
                ("m6", "", "(none)", "yes"),
                ("m7", "comm", "(none)", ""),
            ]
        )
    )

    assert changes.select("module_id", "outcome", "approved").rows() == [
        ("m1", "as suggested", True),
        ("m2", "tags added", True),
        ("m3", "tags removed", False),
        ("m4", "tags replaced", True),
        ("m5", "abstention, tagged", True),
        ("m6", "abstention, left empty", True),
        ("m7", "tags removed", False),
    ]
    assert changes.filter(pl.col("module_id") == "m4").select("added", "removed").row(0) == (
        ["nego"],
        ["comm"],
    )
    counts = tag_review.outcome_counts(changes)
    assert counts["outcome"].to_list() == list(tag_review.OUTCOMES)
    assert counts.filter(pl.col("outcome") == "tags removed").row(0) == ("tags removed", 0, 2, 2)

    per_tag = tag_review.tag_changes(changes, TAXONOMY)
    assert per_tag.select("tag_id", "suggested", "kept", "removed", "added").rows() == [
        ("comm", 5, 2, 3, 0),
        ("prod", 3, 3, 0, 0),
        ("nego", 0, 0, 0, 3),
    ]
    assert per_tag["removed_share"].to_list() == [0.6, 0.0, None]


def test_tags_outside_the_taxonomy_are_an_error_not_a_blank():
    changes = tag_review.review_changes(review([("m1", "comm", "comm|sales", "yes")]))
    with pytest.raises(ValueError, match=r"tags \['sales'\] are in the review but not in"):
        tag_review.tag_changes(changes, TAXONOMY)


def test_suggestions_fates_by_confidence_band():
    changes = tag_review.review_changes(
        review([("m1", "comm|prod", "prod", "yes"), ("m2", "nego", "nego", "")])
    )
    suggestions = pl.DataFrame(
        {
            "module_id": ["m1", "m1", "m2"],
            "tag_id": ["comm", "prod", "nego"],
            "confidence": [0.3, 0.95, 0.7],
            "tag_rank": [2, 1, 1],
        }
    )

    fates = tag_review.suggestion_fates(suggestions, changes)
    assert fates.select("tag_id", "kept").rows() == [
        ("comm", False),
        ("prod", True),
        ("nego", True),
    ]
    bands = tag_review.confidence_bands(fates)
    assert bands.rows() == [
        ("0.00-0.50", 1, 1, 1.0),
        ("0.50-0.70", 0, 0, None),
        ("0.70-0.90", 1, 0, 0.0),
        ("0.90-1.00", 1, 0, 0.0),
    ]
    # A suggestion the review does not show yet: the review must be merged first.
    newer = suggestions.with_columns(pl.lit("m9").alias("module_id"))
    with pytest.raises(ValueError, match="materialize tag_review"):
        tag_review.suggestion_fates(newer, changes)


@pytest.mark.parametrize(
    ("value", "decimals", "label"),
    [
        (3.14, 1, "+3.1"),
        (-2.0, 1, "-2.0"),
        (0.03, 1, "+0.030"),
        (-0.004, 2, "-0.0040"),
        (0.0, 1, "+0.0"),
        (None, 1, "n/a"),
        (math.nan, 1, "n/a"),
    ],
)
def test_signed_label_never_shows_an_effect_as_zero(value, decimals, label):
    assert impact.signed_label(value, decimals) == label


def impact_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ["a"] * 4 + ["b"],
            "tag_id": ["comm", "nego", "prod", "lead", "comm"],
            "metric": ["quota"] * 4 + ["csat"],
            "learners_trained": [40, 30, 20, 0, 10],
            "performance_before": [90.0, 91.0, 92.0, None, 70.0],
            "performance_after": [95.0, 90.0, 92.5, None, 71.0],
            "raw_difference": [5.0, -1.0, 0.5, None, 1.0],
            "performance_difference": [3.0, -2.0, 0.4, None, 0.5],
            "confidence_interval_low": [1.0, -3.5, -0.8, None, -1.0],
            "confidence_interval_high": [5.0, -0.5, 1.6, None, 2.0],
        }
    )


def test_customer_impact_reads_each_interval_and_orders_by_effect():
    rows = impact.customer_impact(impact_rows(), "a", TAXONOMY)

    assert rows.select("tag_id", "tag_label", "verdict").rows() == [
        ("comm", "Communication", "raises"),
        ("prod", "Product", "unclear"),
        ("nego", "Negotiation", "lowers"),
        ("lead", "lead", "not estimable"),
    ]
    with pytest.raises(ValueError, match=r"no row for 'c'; it has \['a', 'b'\]"):
        impact.customer_impact(impact_rows(), "c", TAXONOMY)
    assert impact.verdict_counts(impact_rows()).rows() == [
        ("a", "quota", 1, 1, 1, 1),
        ("b", "csat", 0, 0, 1, 0),
    ]


def test_effect_chart_draws_an_interval_per_estimable_tag():
    rows = impact.customer_impact(impact_rows(), "a", TAXONOMY)

    ax = impact.effect_chart(rows, metric="quota", title="t")
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["+3.0 [+1.0, +5.0]", "+0.4 [-0.8, +1.6]", "-2.0 [-3.5, -0.5]", "not estimable"]
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "lead (n=0)"
    ax = impact.before_after_chart(rows, metric="quota", title="t")
    assert len(ax.get_yticklabels()) == 3
