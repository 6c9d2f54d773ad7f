"""Checks on every augmentation run, evaluated on the staged run before anything is published."""

from __future__ import annotations

import dagster as dg

from assets.postings.augment import AugmentReport

ASSET = dg.AssetKey("augmented_job_postings")

CHECK_SPECS = [
    dg.AssetCheckSpec(
        "every_posting_has_a_level",
        asset=ASSET,
        description="Every output line carries a seniority level from 1 to 7.",
        blocking=True,
    ),
    dg.AssetCheckSpec(
        "lines_reconcile",
        asset=ASSET,
        description="Lines out plus lines quarantined equal lines in: no posting is lost.",
        blocking=True,
    ),
    dg.AssetCheckSpec(
        "model_calls_are_minimal",
        asset=ASSET,
        description=(
            "Model calls equal ceil(distinct cache misses / batch size): no pair is asked twice."
        ),
    ),
]
# A run whose staged outputs fail one of these publishes nothing and loads nothing.
BLOCKING_CHECKS = frozenset(spec.name for spec in CHECK_SPECS if spec.blocking)


def posting_check_results(report: AugmentReport) -> list[dg.AssetCheckResult]:
    return [
        dg.AssetCheckResult(
            asset_key=ASSET,
            check_name="every_posting_has_a_level",
            passed=report.lines_without_level == 0,
            metadata={
                "lines_out": report.lines_out,
                "lines_without_level": report.lines_without_level,
            },
        ),
        dg.AssetCheckResult(
            asset_key=ASSET,
            check_name="lines_reconcile",
            passed=report.lines_out + report.lines_quarantined == report.lines_in,
            metadata={
                "lines_in": report.lines_in,
                "lines_out": report.lines_out,
                "lines_quarantined": report.lines_quarantined,
                "difference": report.lines_in - report.lines_out - report.lines_quarantined,
            },
        ),
        dg.AssetCheckResult(
            asset_key=ASSET,
            check_name="model_calls_are_minimal",
            passed=report.model_calls == report.expected_model_calls,
            metadata={
                "model_calls": report.model_calls,
                "expected_model_calls": report.expected_model_calls,
                "distinct_cache_misses": report.cache_misses,
                # The size the client really sent, the server's limit included.
                "batch_size": report.batch_size,
            },
        ),
    ]


def failed_blocking_checks(results: list[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    return [r for r in results if r.check_name in BLOCKING_CHECKS and not r.passed]


def check_figures(result: dg.AssetCheckResult) -> dict[str, object]:
    """A check result's metadata as plain values."""
    return {k: getattr(v, "value", v) for k, v in result.metadata.items()}
