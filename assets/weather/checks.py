"""Checks on the heat-index hand-off.

`readings_reconcile` is blocking and part of the `heat_index_readings` step itself: it
counts what the step staged, before anything is published, so a failure keeps the
previous outputs. `heat_index_is_sane` runs afterwards on the published files.
"""

import contextlib

import dagster as dg
import polars as pl

from assets.partitions import daily_partitions, day_of
from assets.weather.enrich import StagedHeatIndexDay
from assets.weather.heat_index import heat_risk, simple_heat_index_f
from assets.weather.layout import heat_index_prefix
from resources.object_storage import ObjectStorage

# Where the Rothfusz regression applies and the air is at least moderately humid, the
# heat index is never below the temperature (the NWS chart's premise). The regression
# itself dips up to 0.71 F below T at 40 % humidity, hence the 1 F allowance; drier air
# legitimately feels cooler than it is, so it is not checked against T.
SANITY_MIN_HUMIDITY = 40.0
SANITY_ALLOWANCE_F = 1.0

readings_reconcile = dg.AssetCheckSpec(
    "readings_reconcile",
    asset="heat_index_readings",
    blocking=True,
    description=(
        "Valid readings plus quarantined readings equal the readings in: none vanish, none appear."
    ),
)


def reconcile_staged(staged: StagedHeatIndexDay) -> dg.AssetCheckResult:
    """`readings_reconcile` on what the step staged: rows in (the readings files' footers)
    against the rows in the staged parts and the staged quarantine, read back from disk."""
    rows_in = staged.report.rows_in
    parts = pl.scan_parquet([part.path for part in staged.parts])
    rows_valid = int(parts.select(pl.len()).collect().item())  # from the Parquet footers
    quarantine = pl.scan_parquet(staged.quarantine_file.path)
    reasons = quarantine.group_by("reason").len().sort("reason").collect()
    rows_quarantined = int(reasons["len"].sum())
    difference = rows_in - rows_valid - rows_quarantined
    return dg.AssetCheckResult(
        check_name=readings_reconcile.name,
        asset_key=readings_reconcile.asset_key,
        passed=difference == 0,
        metadata={
            "rows_in": rows_in,
            "rows_valid": rows_valid,
            "rows_quarantined": rows_quarantined,
            "difference": difference,
            "quarantine_reasons": dict(reasons.iter_rows()),
        },
    )


@contextlib.contextmanager
def _scan(storage: ObjectStorage, keys: list[str]):
    with contextlib.ExitStack() as stack:
        yield pl.scan_parquet([stack.enter_context(storage.local_copy(k)) for k in keys])


@dg.asset_check(
    asset="heat_index_readings",
    partitions_def=daily_partitions,
    description=(
        "Every heat index is a finite number, every risk matches it, and in humid heat "
        f"(Rothfusz branch, RH >= {SANITY_MIN_HUMIDITY:.0f} %) it is not below the temperature."
    ),
)
def heat_index_is_sane(
    context: dg.AssetCheckExecutionContext, storage: ObjectStorage
) -> dg.AssetCheckResult:
    day = day_of(context)
    hi, t, rh = pl.col("heat_index_f"), pl.col("temperature_f"), pl.col("relative_humidity")
    risk = pl.col("heat_risk").cast(pl.String)
    problems = {
        "heat_index_missing": hi.is_null() | ~hi.is_finite(),
        "rolling_mean_missing": pl.col("heat_index_rolling_mean_f").is_null(),
        "heat_index_below_temperature": (simple_heat_index_f(t, rh) >= 80)
        & (rh >= SANITY_MIN_HUMIDITY)
        & (hi < t - SANITY_ALLOWANCE_F),
        "risk_mismatch": ~heat_risk(hi).cast(pl.String).eq_missing(risk),
    }
    example_columns = [
        "city_id",
        "reading_at",
        "temperature_f",
        "relative_humidity",
        "heat_index_f",
    ]
    with _scan(storage, storage.list_keys(heat_index_prefix(day))) as readings:
        flagged = readings.with_columns(**problems).filter(pl.any_horizontal(*problems))
        counts = flagged.select(pl.col(list(problems)).sum()).collect().row(0, named=True)
        examples = flagged.select(example_columns).head(10).collect()
    return dg.AssetCheckResult(
        passed=sum(counts.values()) == 0,
        metadata={
            **{name: int(count) for name, count in counts.items()},
            "failing_readings": dg.MetadataValue.json(
                examples.with_columns(pl.col("reading_at").cast(pl.String)).to_dicts()
            ),
        },
    )
