"""Numbers as a reader should see them: no "0%" for a share that is not zero."""

from __future__ import annotations

import math

import polars as pl


def share_label(share: float) -> str:
    """A share (0 to 1) as a percent: whole percents from 1% to 99%, one decimal below 1% and
    above 99%, and `<0.1%` / `>99.9%` where even that would round to 0% or 100%."""
    if share is None or not math.isfinite(share) or not 0 <= share <= 1:
        raise ValueError(f"a share is a number from 0 to 1, got {share!r}")
    if share in (0, 1):
        return f"{share:.0%}"
    if 0.01 <= share <= 0.99:
        return f"{share:.0%}"
    precise = f"{share:.1%}"
    if precise == "0.0%":
        return "<0.1%"
    if precise == "100.0%":
        return ">99.9%"
    return precise


def with_share_labels(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`frame` with each share column shown as its label (for tables a person reads)."""
    return frame.with_columns(
        pl.col(name).map_elements(share_label, return_dtype=pl.String) for name in columns
    )


def fahrenheit_label(degrees: float) -> str:
    """A temperature or heat index in whole degrees Fahrenheit."""
    return f"{degrees:.0f} F"
