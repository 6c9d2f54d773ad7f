"""Checks on the heat-index hand-off, evaluated on what the run wrote to storage."""

import contextlib

import dagster as dg
import polars as pl

from assets.weather.layout import heat_index_prefix, is_readings_key, quarantine_key, readings_prefix
from assets.weather.partitions import weather_days
from resources.object_storage import ObjectStorage

# Where the Rothfusz regression applies and the air is at least moderately humid, the
# heat index is never below the temperature (the NWS chart's premise). The regression
# itself dips up to 0.71 F below T at 40 % humidity, hence the 1 F allowance; drier air
# legitimately feels cooler than it is, so it is not checked against T.
SANITY_MIN_HUMIDITY = 40.0
SANITY_ALLOWANCE_F = 1.0


@contextlib.contextmanager
def _scan(storage: ObjectStorage, keys: list[str]):
    with contextlib.ExitStack() as stack:
        yield pl.scan_parquet([stack.enter_context(storage.local_copy(k)) for k in keys])


def _count(storage: ObjectStorage, keys: list[str]) -> int:
    if not keys:  # a missing output counts as no rows, so the check fails instead of erroring
        return 0
    with _scan(storage, keys) as frame:
        return frame.select(pl.len()).collect().item()


@dg.asset_check(
    asset="heat_index_readings",
    partitions_def=weather_days,
    additional_deps=["weather_readings", "weather_quarantine"],
    blocking=True,
    description="Valid readings plus quarantined readings equal the readings in: none vanish, none appear.",
)
def readings_reconcile(context: dg.AssetCheckExecutionContext, storage: ObjectStorage) -> dg.AssetCheckResult:
    day = context.partition_key
    reading_keys = [k for k in storage.list_keys(readings_prefix(day)) if is_readings_key(k)]
    rows_in = _count(storage, reading_keys)
    rows_valid = _count(storage, storage.list_keys(heat_index_prefix(day)))
    with _scan(storage, [quarantine_key(day)]) as quarantine:
        reasons = quarantine.group_by("reason").len().sort("reason").collect()
    rows_quarantined = int(reasons["len"].sum())
    difference = rows_in - rows_valid - rows_quarantined
    return dg.AssetCheckResult(
        passed=difference == 0,
        metadata={
            "rows_in": rows_in,
            "rows_valid": rows_valid,
            "rows_quarantined": rows_quarantined,
            "difference": difference,
            "quarantine_reasons": dict(reasons.iter_rows()),
        },
    )


@dg.asset_check(
    asset="heat_index_readings",
    partitions_def=weather_days,
    description=(
        "Every heat index is a finite number, every risk matches it, and in humid heat "
        f"(Rothfusz branch, RH >= {SANITY_MIN_HUMIDITY:.0f} %) it is not below the temperature."
    ),
)
def heat_index_is_sane(context: dg.AssetCheckExecutionContext, storage: ObjectStorage) -> dg.AssetCheckResult:
    from assets.weather.heat_index import heat_risk, simple_heat_index_f

    day = context.partition_key
    hi, t, rh = pl.col("heat_index_f"), pl.col("temperature_f"), pl.col("relative_humidity")
    problems = {
        "heat_index_missing": hi.is_null() | ~hi.is_finite(),
        "rolling_mean_missing": pl.col("heat_index_rolling_mean_f").is_null(),
        "heat_index_below_temperature": (simple_heat_index_f(t, rh) >= 80)
        & (rh >= SANITY_MIN_HUMIDITY)
        & (hi < t - SANITY_ALLOWANCE_F),
        "risk_mismatch": ~heat_risk(hi).cast(pl.String).eq_missing(pl.col("heat_risk").cast(pl.String)),
    }
    with _scan(storage, storage.list_keys(heat_index_prefix(day))) as readings:
        flagged = readings.with_columns(**problems).filter(pl.any_horizontal(*problems))
        counts = flagged.select(pl.col(list(problems)).sum()).collect().row(0, named=True)
        examples = (
            flagged.select("city_id", "reading_at", "temperature_f", "relative_humidity", "heat_index_f")
            .head(10)
            .collect()
        )
    return dg.AssetCheckResult(
        passed=sum(counts.values()) == 0,
        metadata={
            **{name: int(count) for name, count in counts.items()},
            "failing_readings": dg.MetadataValue.json(
                examples.with_columns(pl.col("reading_at").cast(pl.String)).to_dicts()
            ),
        },
    )
