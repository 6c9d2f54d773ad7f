"""Checks of the training family, evaluated in the steps that stage their outputs.

On `tag_suggestions`, one check per rule of the model's output (suggestions.CHECKS), on what
the run ends with: the problems of modules that stayed invalid after their re-asks (now in the
dead-letter store) and answers about modules nobody asked for. Problems a re-ask fixed are
counted, not failed. Each failing check names its rows (a table preview and a count).
Blocking: invalid content from the model (schema, tags, confidences, duplicates, counts,
answered modules) stops the run before the review stage; a stream cut short only leaves
modules unanswered, so it warns without blocking. `suggestions_reconcile` proves no module
vanished between the catalog and the review.

On `applied_tags`: every approved module carries its approved tags in the catalog.
"""

from __future__ import annotations

import dagster as dg

from assets.training.apply import ApplyRun
from assets.training.suggestions import CHECK_DESCRIPTIONS, CHECKS, check_metadata
from assets.training.tagging import SuggestionRun

SUGGESTIONS = dg.AssetKey("tag_suggestions")
APPLIED = dg.AssetKey("applied_tags")

# A stream cut short leaves modules unanswered (re-asked, then dead letters); the answers
# that did arrive are as valid as any.
NON_BLOCKING = frozenset({"cut_short"})
RECONCILE = "suggestions_reconcile"
ALL_APPLIED = "approved_tags_applied"

SUGGESTION_CHECK_SPECS = [
    *(
        dg.AssetCheckSpec(
            check,
            asset=SUGGESTIONS,
            description=CHECK_DESCRIPTIONS[check],
            blocking=check not in NON_BLOCKING,
        )
        for check in CHECKS
    ),
    dg.AssetCheckSpec(
        RECONCILE,
        asset=SUGGESTIONS,
        description=(
            "Modules considered = valid suggestions + dead letters + failed + unsent: no "
            "module vanishes between the catalog and the review."
        ),
        blocking=True,
    ),
]
BLOCKING_CHECKS = frozenset(s.name for s in SUGGESTION_CHECK_SPECS if s.blocking)

APPLIED_CHECK_SPECS = [
    dg.AssetCheckSpec(
        ALL_APPLIED,
        asset=APPLIED,
        description=(
            "Every module of the published approval carries exactly its approved tags in "
            "the catalog (failures wait in the dead-letter store for training_replay)."
        ),
    )
]


def suggestion_check_results(run: SuggestionRun) -> list[dg.AssetCheckResult]:
    validation = run.check_validation()
    resolved = run.resolved_problems()
    results = [
        dg.AssetCheckResult(
            asset_key=SUGGESTIONS,
            check_name=check,
            passed=validation.passed(check),
            severity=dg.AssetCheckSeverity.WARN
            if check in NON_BLOCKING
            else dg.AssetCheckSeverity.ERROR,
            metadata={
                **check_metadata(validation, check),
                "resolved_by_reask": dg.MetadataValue.int(resolved.get(check, 0)),
            },
        )
        for check in CHECKS
    ]
    results.append(
        dg.AssetCheckResult(
            asset_key=SUGGESTIONS,
            check_name=RECONCILE,
            passed=run.reconciles,
            metadata={
                "modules_considered": run.modules_considered,
                "valid": run.valid.height,
                "dead_lettered": len(run.modules_dead_lettered),
                "failed": len(run.modules_failed),
                "unsent": run.modules_unsent,
            },
        )
    )
    return results


def failed_blocking(results: list[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    return [r for r in results if r.check_name in BLOCKING_CHECKS and not r.passed]


def check_figures(result: dg.AssetCheckResult) -> dict[str, object]:
    """A check result's metadata as plain values."""
    return {k: getattr(v, "value", v) for k, v in result.metadata.items()}


def applied_check_result(run: ApplyRun, unapplied: list[str]) -> dg.AssetCheckResult:
    """`unapplied`: approved modules whose catalog tags still differ after the run."""
    return dg.AssetCheckResult(
        asset_key=APPLIED,
        check_name=ALL_APPLIED,
        passed=not unapplied,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "modules_approved": run.modules_approved,
            "modules_not_applied": len(unapplied),
            "first_not_applied": dg.MetadataValue.json(unapplied[:20]),
            "dead_letters": len(run.dead_lettered),
        },
    )
