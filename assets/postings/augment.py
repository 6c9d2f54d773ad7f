"""Augmenting a day of raw postings with seniority levels: the work behind the asset.

One pass over every file of the day collects the distinct normalized (company, title)
pairs; the cache answers what it knows; the model is asked, in batches, only about the
distinct misses; then every valid line is written back unchanged but for a trailing
`"seniority": <level>` field. The model is asked before any output is written, so a
model failure leaves the previous outputs as they were.
"""

from __future__ import annotations

import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl

from assets.postings.normalize import normalize_text, pair_hashes
from assets.postings.parse import (
    QUARANTINE_SCHEMA,
    ParsedPostings,
    parse_postings_file,
    read_valid_lines,
)
from resources.object_storage import ObjectStorage
from resources.seniority_cache import SeniorityCacheClient

RAW_PREFIX = "job-postings-raw"
OUTPUT_PREFIX = "job-postings-mod"
QUARANTINE_NAME = "_quarantine.jsonl"
POSTING_SUFFIXES = (".jsonl", ".ndjson")
LEVELS = range(1, 8)

# The contract of `raw.job_postings`, which dbt's staging model reads.
WAREHOUSE_SCHEMA = {
    "posting_date": pl.Date,
    "source_key": pl.String,
    "line_number": pl.Int64,
    "posting_id": pl.String,
    "company": pl.String,
    "title": pl.String,
    "company_normalized": pl.String,
    "title_normalized": pl.String,
    "location": pl.String,
    "posted_at": pl.String,
    "seniority": pl.Int32,
}


class SeniorityModelClient(Protocol):
    """What augmentation needs of the model client (resources.seniority_model)."""

    calls: int
    items_sent: int

    @property
    def model_version(self) -> str: ...

    def infer(self, companies: list[str], titles: list[str]) -> tuple[list[int], list[float]]: ...


def raw_prefix(partition_date: str) -> str:
    return f"{RAW_PREFIX}/{partition_date}/"


def output_prefix(partition_date: str) -> str:
    return f"{OUTPUT_PREFIX}/{partition_date}/"


def output_key(raw_key: str, partition_date: str) -> str:
    return output_prefix(partition_date) + raw_key.removeprefix(raw_prefix(partition_date))


def quarantine_key(partition_date: str) -> str:
    return output_prefix(partition_date) + QUARANTINE_NAME


def posting_files(storage: ObjectStorage, partition_date: str) -> list[str]:
    """The day's JSONL files under the raw prefix, in a stable order."""
    return [
        key for key in storage.list_keys(raw_prefix(partition_date)) if key.endswith(POSTING_SUFFIXES)
    ]


@dataclass
class AugmentReport:
    """What a run did and what it cost; every figure goes into the materialization metadata."""

    partition_date: str
    batch_size: int
    files: int = 0
    lines_in: int = 0
    lines_out: int = 0
    lines_quarantined: int = 0
    lines_without_level: int = 0
    distinct_pairs: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    model_calls: int = 0
    items_sent: int = 0
    model_version: str = ""
    cache_status: str = ""
    seconds: float = 0.0
    output_keys: list[str] = field(default_factory=list)
    quarantine_key: str = ""
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    # Where the time went: read, pairs, levels (cache + model), write.
    phase_seconds: dict[str, float] = field(default_factory=dict)

    def lap(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.phase_seconds[phase] = round(self.phase_seconds.get(phase, 0.0) + now - since, 3)
        return now

    @property
    def expected_model_calls(self) -> int:
        return math.ceil(self.cache_misses / self.batch_size)

    def summary(self) -> str:
        return (
            f"{self.partition_date}: {self.lines_in:,} lines in, {self.lines_out:,} out, "
            f"{self.lines_quarantined:,} quarantined; {self.distinct_pairs:,} distinct pairs, "
            f"{self.cache_hits:,} cache hits, {self.model_calls:,} model calls "
            f"({self.items_sent:,} items) in {self.seconds:.1f} s"
        )


@dataclass
class AugmentResult:
    report: AugmentReport
    # The augmented postings as rows for the warehouse (`raw.job_postings`).
    postings: pl.DataFrame


def _normalized_pairs(parsed: list[ParsedPostings]) -> pl.DataFrame:
    """Each distinct raw (company, title) with its normalized form.

    Companies and titles are normalized once per distinct value, not per pair: a day has
    far fewer distinct companies and titles than distinct pairs.
    """
    raw = pl.concat([p.valid.select("company", "title") for p in parsed]).unique()
    companies = raw.select(pl.col("company").unique()).with_columns(
        company_normalized=normalize_text(pl.col("company"))
    )
    titles = raw.select(pl.col("title").unique()).with_columns(
        title_normalized=normalize_text(pl.col("title"))
    )
    return raw.join(companies, on="company").join(titles, on="title")


@dataclass
class PairLevels:
    """Levels for a list of normalized pairs, and what finding them cost."""

    levels: list[int]
    cache_hits: int
    cache_misses: int
    model_calls: int = 0
    items_sent: int = 0


def seniority_levels(
    companies: list[str], titles: list[str], cache: SeniorityCacheClient, model: SeniorityModelClient
) -> PairLevels:
    """A level for every normalized pair: cache first, one batched model ask for the misses,
    whose answers are then cached. Used by the daily runs and the warm-up alike."""
    hashes = pair_hashes(companies, titles)
    version = model.model_version
    levels = cache.get_many(version, hashes)
    misses = [i for i, level in enumerate(levels) if level is None]
    found = PairLevels(levels, len(hashes) - len(misses), len(misses))
    if misses:
        calls_before, items_before = model.calls, model.items_sent
        answered, _ = model.infer([companies[i] for i in misses], [titles[i] for i in misses])
        found.model_calls = model.calls - calls_before
        found.items_sent = model.items_sent - items_before
        for i, level in zip(misses, answered):
            levels[i] = level
        cache.set_many(version, [hashes[i] for i in misses], answered)
    return found


def _levels_for(
    distinct: pl.DataFrame,
    cache: SeniorityCacheClient,
    model: SeniorityModelClient,
    report: AugmentReport,
) -> pl.DataFrame:
    """The distinct normalized pairs with their level; the cost goes into the report."""
    found = seniority_levels(
        distinct["company_normalized"].to_list(), distinct["title_normalized"].to_list(), cache, model
    )
    report.cache_hits = found.cache_hits
    report.cache_misses = found.cache_misses
    report.model_calls = found.model_calls
    report.items_sent = found.items_sent
    return distinct.with_columns(seniority=pl.Series(found.levels, dtype=pl.Int8))


def _with_seniority(lines: pl.Series, levels: pl.Series) -> pl.Series:
    """The original line with `"seniority": N` added before its closing brace."""
    return pl.select(
        pl.concat_str(
            [lines.str.head(-1), pl.lit(',"seniority":'), levels.cast(pl.String), pl.lit("}")]
        )
    ).to_series()


def augment_postings(
    storage: ObjectStorage,
    cache: SeniorityCacheClient,
    model: SeniorityModelClient,
    partition_date: str,
    batch_size: int,
) -> AugmentResult:
    """Augment every raw posting of `partition_date` and publish the outputs."""
    started = time.perf_counter()
    report = AugmentReport(partition_date=partition_date, batch_size=batch_size)
    keys = posting_files(storage, partition_date)
    report.files = len(keys)

    # Local copies live for the whole run: each file is read twice (fields, then text).
    with contextlib.ExitStack() as copies:
        paths = {key: copies.enter_context(storage.local_copy(key)) for key in keys}
        return _augment_files(storage, cache, model, partition_date, report, paths, started)


def _augment_files(
    storage: ObjectStorage,
    cache: SeniorityCacheClient,
    model: SeniorityModelClient,
    partition_date: str,
    report: AugmentReport,
    paths: dict[str, Path],
    started: float,
) -> AugmentResult:
    # Two files at a time, like the bare Polars reader that reads files in parallel.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="parse") as pool:
        parsed = list(pool.map(lambda key: parse_postings_file(paths[key], key), paths))
    report.lines_in = sum(p.lines_in for p in parsed)
    lap = report.lap("read", started)

    pairs = _normalized_pairs(parsed) if parsed else None
    if pairs is not None and pairs.height:
        usable = (pl.col("company_normalized") != "") & (pl.col("title_normalized") != "")
        distinct = (
            pairs.filter(usable)
            .select("company_normalized", "title_normalized")
            .unique()
            # Sorted, so batches and reruns are reproducible.
            .sort("company_normalized", "title_normalized")
        )
        report.distinct_pairs = distinct.height
        lap = report.lap("pairs", lap)
        distinct = _levels_for(distinct, cache, model, report) if distinct.height else distinct
        lap = report.lap("levels", lap)
        pairs = pairs.join(
            distinct, on=["company_normalized", "title_normalized"], how="left", nulls_equal=True
        )
    report.cache_status = cache.status
    report.model_version = model.model_version

    # Files are published two at a time: Polars releases the GIL, so one file's lines
    # are built while another's are written.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="publish") as pool:
        published = list(
            pool.map(
                lambda p: _publish_file(p, paths[p.source_key], pairs, storage, partition_date),
                parsed,
            )
        )
    parsed.clear()  # the raw lines are written; free them before the warehouse load
    written = [f.output_key for f in published]
    warehouse_rows = [f.warehouse_rows for f in published]
    quarantined = [f.quarantine for f in published]
    report.lines_out = sum(f.warehouse_rows.height for f in published)
    report.lines_without_level = sum(f.lines_without_level for f in published)

    quarantine = pl.concat(quarantined) if quarantined else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    quarantine = quarantine.sort("source_key", "line_number")
    report.lines_quarantined = quarantine.height
    report.quarantine_reasons = _reason_counts(quarantine)
    report.quarantine_key = quarantine_key(partition_date)
    with storage.staging_file(report.quarantine_key) as tmp:
        quarantine.write_ndjson(tmp)
        storage.upload_file(tmp, report.quarantine_key)

    # Outputs of raw files that no longer exist would be stale: remove them.
    keep = set(written) | {report.quarantine_key}
    for key in storage.list_keys(output_prefix(partition_date)):
        if key not in keep:
            storage.delete(key)

    report.output_keys = written
    report.lap("write", lap)
    report.seconds = time.perf_counter() - started
    postings = (
        pl.concat(warehouse_rows)
        if warehouse_rows
        else pl.DataFrame(schema=WAREHOUSE_SCHEMA)
    )
    return AugmentResult(report=report, postings=postings)


@dataclass
class PublishedFile:
    output_key: str
    quarantine: pl.DataFrame
    warehouse_rows: pl.DataFrame
    lines_without_level: int


def _publish_file(
    p: ParsedPostings,
    path: Path,
    pairs: pl.DataFrame | None,
    storage: ObjectStorage,
    partition_date: str,
) -> PublishedFile:
    """Write one file's valid lines with their level; return its quarantine and warehouse rows."""
    quarantined = [p.quarantine]
    joined = p.valid
    if joined.height:
        text = read_valid_lines(path, joined)
        if text.height != joined.height:
            raise RuntimeError(
                f"{p.source_key} changed while it was being augmented "
                f"({joined.height} valid lines parsed, {text.height} found again)"
            )
        joined = joined.with_columns(line=text["line"])
    else:
        joined = joined.with_columns(line=pl.lit(None, pl.String))
    if pairs is not None and joined.height:
        joined = joined.join(pairs, on=["company", "title"], how="left", maintain_order="left")
    else:
        joined = joined.with_columns(
            company_normalized=pl.lit(None, pl.String),
            title_normalized=pl.lit(None, pl.String),
            seniority=pl.lit(None, pl.Int8),
        )
    # A pair that normalizes to nothing cannot be classified: quarantine, never guess.
    empty = (pl.col("company_normalized") == "") | (pl.col("title_normalized") == "")
    unusable = joined.filter(empty)
    if unusable.height:
        quarantined.append(
            unusable.select(
                source_key=pl.lit(p.source_key),
                line_number="line_number",
                reason=pl.when(pl.col("company_normalized") == "")
                .then(pl.lit("company is empty after normalization"))
                .otherwise(pl.lit("title is empty after normalization")),
                line="line",
                line_base64=pl.lit(None, pl.String),
            )
        )
        joined = joined.filter(~empty)
    without_level = joined.select(
        (pl.col("seniority").is_null() | ~pl.col("seniority").is_between(1, 7)).sum()
    ).item()

    out_key = output_key(p.source_key, partition_date)
    with storage.staging_file(out_key) as tmp:
        pl.DataFrame({"line": _with_seniority(joined["line"], joined["seniority"])}).write_csv(
            tmp, include_header=False, quote_style="never"
        )
        storage.upload_file(tmp, out_key)
    warehouse_rows = joined.with_columns(
        posting_date=pl.lit(partition_date).str.to_date(),
        source_key=pl.lit(p.source_key),
    ).select([pl.col(c).cast(t) for c, t in WAREHOUSE_SCHEMA.items()])
    return PublishedFile(out_key, pl.concat(quarantined), warehouse_rows, without_level)


def _reason_counts(quarantine: pl.DataFrame) -> dict[str, int]:
    """Reasons grouped by their kind (the text before any ':' detail)."""
    if not quarantine.height:
        return {}
    kinds = quarantine.select(
        pl.col("reason").str.replace(r"[:(].*$", "").str.strip_chars().alias("kind")
    )
    counts = kinds.group_by("kind").len().sort("kind")
    return dict(zip(counts["kind"].to_list(), counts["len"].to_list()))
