"""Normalization of (company, title) pairs, so that spellings of one pair share a cache entry.

"Sr. Software Engineer ", "sr software  engineer" and "SR. SOFTWARE ENGINEER" are one
pair; so are "Société Générale" and "societe generale". Written as Polars expressions
because it runs on every distinct raw pair of a day.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import xxhash

# The separator between company and title inside the hashed key; it cannot survive
# normalization, so no two different pairs hash the same text.
PAIR_SEPARATOR = "\x1f"


def normalize_text(expr: pl.Expr) -> pl.Expr:
    """Unicode-compatible, accent-free, lower-case words separated by single spaces."""
    return (
        expr.str.normalize("NFKD")
        .str.replace_all(r"\p{M}+", "")
        .str.to_lowercase()
        # Keep letters and digits; "+" and "#" carry meaning in titles (C++, C#).
        .str.replace_all(r"[^\p{L}\p{N}+#]+", " ")
        .str.strip_chars(" ")
    )


def normalize_values(values: Sequence[str]) -> list[str]:
    """`normalize_text` for plain Python strings (tests, warm-up, notebooks)."""
    return (
        pl.Series(values, dtype=pl.String)
        .to_frame("v")
        .select(normalize_text(pl.col("v")))["v"]
        .to_list()
    )


def pair_hash(company: str, title: str) -> str:
    """A stable 128-bit hash of a normalized pair (xxh3; never Polars' per-process `hash()`)."""
    return xxhash.xxh3_128_hexdigest(f"{company}{PAIR_SEPARATOR}{title}".encode())


def pair_hashes(companies: Sequence[str], titles: Sequence[str]) -> list[str]:
    digest = xxhash.xxh3_128_hexdigest
    pairs = zip(companies, titles, strict=True)
    return [digest(f"{c}{PAIR_SEPARATOR}{t}".encode()) for c, t in pairs]
