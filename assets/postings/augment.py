"""Augmenting a day of raw postings with seniority levels: the work behind the asset.

One `PostingsDay` holds the day's state; each step is a function over it:

1. `open_postings_day`: what a killed run left removed; local copies of the raw files
   (decompressed); a staging file for every output. Objects of the day's prefix that are
   not posting files are listed as ignored, each with its reason.
2. `stage_files_the_cache_knows` (first pass): every file is parsed and its (company, title)
   pairs added to the day's pairs, each normalized and looked up in the cache once per
   day. A file whose pairs the cache all knows is staged straight away, while its lines
   are still in memory.
3. `DayPairs.ask_model_for_misses`: the distinct pairs the cache missed, over all files,
   asked of the model in batches.
4. `stage_waiting_files` (second pass): the other files, read again and staged.
5. `stage_quarantine`: the day's rejected lines, staged beside the outputs.
6. `PostingsDay.publish`: every staged output put in place of the previous one, and the
   outputs of raw files that are gone removed.

Every valid line is written unchanged but for a trailing `"seniority": <level>` field;
a compressed file's output is compressed the same way (`part.jsonl.gz` -> `part.jsonl.gz`).
Nothing is published before every output is staged, so a failure (the model down, a file
changed under us) leaves the previous outputs as they were; the asset also publishes
only once the checks have passed and the warehouse has the rows.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from assets.postings.pairs import (
    USABLE,
    DayPairs,
    PairKeys,
    SeniorityModelClient,
)
from assets.postings.parse import (
    BOM,
    QUARANTINE_SCHEMA,
    ParsedPostings,
    parse_postings_file,
    read_valid_lines,
)
from assets.progress import Progress
from resources.object_storage import ObjectStorage, StoredObject, is_hidden
from resources.seniority_cache import SeniorityCacheClient

RAW_PREFIX = "job-postings-raw"
OUTPUT_PREFIX = "job-postings-mod"
QUARANTINE_NAME = "_quarantine.jsonl"
POSTING_SUFFIXES = (".jsonl", ".ndjson")
# Compressed posting files, read and written in their own compression.
COMPRESSIONS = (".gz", ".zst")
ALL_POSTING_SUFFIXES = POSTING_SUFFIXES + tuple(
    s + c for s in POSTING_SUFFIXES for c in COMPRESSIONS
)
# Names starting with "_" are the platform's own beside the outputs (the quarantine), and
# by the Hadoop/Spark convention producers' markers (`_SUCCESS`): never a posting file, so
# no raw file can be published over the quarantine.
RESERVED_PREFIX = "_"
COPY_CHUNK = 16 * 1024 * 1024
# Files parsed and written at a time; Polars releases the GIL, so two overlap well.
PARALLEL_FILES = 2

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


def raw_prefix(partition_date: str) -> str:
    return f"{RAW_PREFIX}/{partition_date}/"


def output_prefix(partition_date: str) -> str:
    return f"{OUTPUT_PREFIX}/{partition_date}/"


def output_key(raw_key: str, partition_date: str) -> str:
    return output_prefix(partition_date) + raw_key.removeprefix(raw_prefix(partition_date))


def quarantine_key(partition_date: str) -> str:
    return output_prefix(partition_date) + QUARANTINE_NAME


def why_not_a_posting_file(key: str, prefix: str = "") -> str | None:
    """Why the object `key` (under `prefix`) is not a posting file, or None if it is one."""
    name = key.removeprefix(prefix)
    if is_hidden(name):
        return "hidden (a name starting with '.'): never a posting file"
    if any(part.startswith(RESERVED_PREFIX) for part in name.split("/")):
        return (
            "reserved (a name starting with '_' is a marker or the platform's own file, "
            "like the quarantine): rename it to read it"
        )
    if not name.endswith(ALL_POSTING_SUFFIXES):
        return "not a posting file (*.jsonl or *.ndjson, optionally .gz or .zst)"
    return None


def day_objects(
    storage: ObjectStorage, partition_date: str
) -> tuple[list[StoredObject], dict[str, str]]:
    """The day's posting files in a stable order, and every other object of its prefix
    (hidden ones included) by name under the prefix, with why it is ignored."""
    prefix = raw_prefix(partition_date)
    postings, ignored = [], {}
    for obj in storage.list_objects(prefix, include_hidden=True):
        reason = why_not_a_posting_file(obj.key, prefix)
        if reason is None:
            postings.append(obj)
        else:
            ignored[obj.key.removeprefix(prefix)] = reason
    return postings, ignored


def posting_files(storage: ObjectStorage, partition_date: str) -> list[str]:
    """The day's posting files under the raw prefix, in a stable order."""
    return [o.key for o in day_objects(storage, partition_date)[0]]


def compression_of(key: str) -> str | None:
    """ ".gz", ".zst" or None (a plain file)."""
    return next((c for c in COMPRESSIONS if key.endswith(c)), None)


def _zstd_stream(path: Path, mode: str):
    # No `zstandard` in the environment and no zstd in Python 3.11's stdlib: Arrow's codec.
    import pyarrow as pa

    if mode == "rb":
        return pa.CompressedInputStream(pa.OSFile(str(path), "rb"), "zstd")
    return pa.CompressedOutputStream(pa.OSFile(str(path), "wb"), "zstd")


def decompress(source: Path, target: Path, compression: str, key: str) -> None:
    """`source` decompressed into `target`; a damaged file fails naming `key`."""
    try:
        if compression == ".gz":
            opened = gzip.open(source, "rb")
        else:
            opened = _zstd_stream(source, "rb")
        with opened as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, COPY_CHUNK)
    except (OSError, EOFError, ValueError) as error:
        raise RuntimeError(f"{key} cannot be decompressed ({compression}): {error}") from error


def compress(source: Path, target: Path, compression: str) -> None:
    """`source` compressed into `target`, the same bytes for the same input (no name or time
    in a gzip header), so reruns stay byte-identical."""
    with source.open("rb") as src, contextlib.ExitStack() as stack:
        if compression == ".gz":
            raw_out = stack.enter_context(target.open("wb"))
            out = gzip.GzipFile(filename="", mode="wb", fileobj=raw_out, compresslevel=6, mtime=0)
        else:
            out = _zstd_stream(target, "wb")
        with out:
            shutil.copyfileobj(src, out, COPY_CHUNK)


@dataclass
class AugmentReport:
    """What a run did and what it cost; every figure goes into the materialization metadata."""

    partition_date: str
    quarantine_key: str
    # The batch size the model client really sends: the configured one, capped by the
    # server's own limit.
    batch_size: int = 0
    files: int = 0
    compressed_files: int = 0
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
    # Files written in the first pass, because the cache knew all their pairs.
    files_written_from_cache: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    # Objects of the raw prefix that are not posting files, by name, with the reason.
    ignored_objects: dict[str, str] = field(default_factory=dict)
    # Staging files a killed run had left under the output prefix, removed by this run.
    abandoned_staging_removed: list[str] = field(default_factory=list)
    # Where the time went: local copies, first pass (parse, pairs, cache, files the cache
    # fully knew), model, second pass (the other files), quarantine, publish.
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def timed_phase(self, phase: str) -> Iterator[None]:
        """Add the seconds the block takes to `phase_seconds[phase]`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = self.phase_seconds.get(phase, 0.0) + time.perf_counter() - started
            self.phase_seconds[phase] = round(spent, 3)

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


@dataclass
class StagedFile:
    """One file's output, staged but not yet published, and what goes beside it."""

    output_key: str
    staged: Path
    lines_in: int
    quarantine: pl.DataFrame
    warehouse_rows: pl.DataFrame
    lines_without_level: int


@dataclass
class PostingsDay:
    """One day's run: its raw files, where each output is staged, and what is staged so far.

    Built by `open_postings_day`, whose local copies and staging files last as long as
    the day: a raw file may be read twice, and nothing is published before every output
    is staged.
    """

    storage: ObjectStorage
    partition_date: str
    report: AugmentReport
    # When the run started, for `report.seconds`.
    started: float
    # Raw key -> a local copy to read, and -> where its output is staged.
    local_paths: dict[str, Path]
    staged_paths: dict[str, Path]
    staged_quarantine: Path
    # Where plain copies of compressed files are written before compression.
    scratch: Path
    files: list[StagedFile] = field(default_factory=list)
    # Every rejected line of the day, once staged.
    quarantine: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUARANTINE_SCHEMA))
    # Keys put in place so far by `publish`: what a failure during publishing changed.
    published: list[str] = field(default_factory=list)

    @property
    def raw_keys(self) -> list[str]:
        return list(self.local_paths)

    def warehouse_rows(self) -> pl.DataFrame:
        """The staged postings as rows for the warehouse (`raw.job_postings`)."""
        if not self.files:
            return pl.DataFrame(schema=WAREHOUSE_SCHEMA)
        return pl.concat([f.warehouse_rows for f in self.files])

    def publish(self) -> None:
        """Put every staged output in place of the previous one; remove outputs of raw files
        that no longer exist, which would be stale."""
        staged = [(f.staged, f.output_key) for f in self.files]
        staged.append((self.staged_quarantine, self.report.quarantine_key))

        def put_in_place(path: Path, key: str) -> None:
            self.storage.upload_file(path, key)
            self.published.append(key)

        with self.report.timed_phase("publish"):
            with ThreadPoolExecutor(PARALLEL_FILES, thread_name_prefix="publish") as pool:
                list(pool.map(lambda s: put_in_place(*s), staged))
            keep = {key for _, key in staged}
            for key in self.storage.list_keys(output_prefix(self.partition_date)):
                if key not in keep:
                    self.storage.delete(key)
        self.report.seconds = time.perf_counter() - self.started


@contextlib.contextmanager
def open_postings_day(storage: ObjectStorage, partition_date: str) -> Iterator[PostingsDay]:
    """The day's raw files as local copies, with a staging file for every output."""
    started = time.perf_counter()
    report = AugmentReport(partition_date, quarantine_key(partition_date))
    report.abandoned_staging_removed = storage.remove_abandoned_staging(
        output_prefix(partition_date)
    )
    objects, report.ignored_objects = day_objects(storage, partition_date)
    keys = [o.key for o in objects]
    report.files = len(keys)
    report.compressed_files = sum(compression_of(key) is not None for key in keys)
    with contextlib.ExitStack() as scratch:
        work = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="fieldwork-")))
        with report.timed_phase("local copies"):
            local_paths = {}
            for number, key in enumerate(keys):
                local = scratch.enter_context(storage.local_copy(key))
                compression = compression_of(key)
                if compression:
                    plain = work / f"raw-{number}.jsonl"
                    decompress(local, plain, compression, key)
                    local = plain
                local_paths[key] = local
        staged_paths = {
            key: scratch.enter_context(storage.staging_file(output_key(key, partition_date)))
            for key in keys
        }
        staged_quarantine = scratch.enter_context(storage.staging_file(report.quarantine_key))
        yield PostingsDay(
            storage,
            partition_date,
            report,
            started,
            local_paths,
            staged_paths,
            staged_quarantine,
            work,
        )


def augment_postings_day(
    day: PostingsDay,
    cache: SeniorityCacheClient,
    model: SeniorityModelClient,
    say: Callable[[str], None] | None = None,
) -> None:
    """Stage every output of the day (the augmented files, the quarantine) and fill its report.
    Progress (files done, lines per second) goes to `say` while it runs."""
    pairs = DayPairs(cache, model)
    pair_keys = PairKeys()
    report = day.report
    label = f"postings {day.partition_date}"
    with ThreadPoolExecutor(max_workers=PARALLEL_FILES, thread_name_prefix="augment") as pool:
        with report.timed_phase("first pass"):
            progress = Progress(say, label, len(day.raw_keys), "files read", "lines")
            first_pass = stage_files_the_cache_knows(day, pairs, pair_keys, pool, progress)
        with report.timed_phase("model"):
            pairs.ask_model_for_misses()
        with report.timed_phase("second pass"):
            waiting = sum(isinstance(f, ParsedPostings) for f in first_pass)
            progress = Progress(say, label, waiting, "files written after the model", "lines")
            day.files = stage_waiting_files(day, pairs, first_pass, pool, progress)
    with report.timed_phase("quarantine"):
        stage_quarantine(day)
    _report_figures(day, pairs, cache, model)


def stage_files_the_cache_knows(
    day: PostingsDay,
    pairs: DayPairs,
    pair_keys: PairKeys,
    pool: ThreadPoolExecutor,
    progress: Progress | None = None,
) -> list[StagedFile | ParsedPostings]:
    """First pass: parse every file and add its pairs to the day's. A file whose pairs the
    cache all knows comes back staged; the others as their parsed fields, waiting."""

    def stage_if_cached(key: str) -> StagedFile | ParsedPostings:
        parsed = parse_postings_file(day.local_paths[key], key, keep_text=True)
        parsed.valid = pair_keys.with_pair_key(parsed.valid)
        levels = pairs.add_file_pairs(parsed.valid)
        if levels.filter(USABLE & pl.col("seniority").is_null()).is_empty():
            return stage_augmented_file(parsed, parsed.text, levels, day)
        # Read again once the model has answered: holding every waiting file's text made
        # the files parsed after it 2-3x slower at 8M lines (measured).
        parsed.text = None
        return parsed

    done = []
    # In the run's thread, in file order, as each file is done.
    for result in pool.map(stage_if_cached, day.raw_keys):
        done.append(result)
        if progress is not None:
            progress.done(result.lines_in)
    return done


def stage_waiting_files(
    day: PostingsDay,
    pairs: DayPairs,
    first_pass: list[StagedFile | ParsedPostings],
    pool: ThreadPoolExecutor,
    progress: Progress | None = None,
) -> list[StagedFile]:
    """Second pass: read the files that waited for the model again and stage them; every
    file's output, in the order of the raw files."""
    waiting = [f for f in first_pass if isinstance(f, ParsedPostings)]
    day.report.files_written_from_cache = len(first_pass) - len(waiting)
    if not waiting:
        return [f for f in first_pass if isinstance(f, StagedFile)]
    levels = pairs.pair_levels()

    def stage(parsed: ParsedPostings) -> StagedFile:
        key = parsed.source_key
        text = read_valid_lines(day.local_paths[key], parsed.valid, parsed.lines_in, key)
        return stage_augmented_file(parsed, text, levels, day)

    staged_later = []
    for staged in pool.map(stage, waiting):
        staged_later.append(staged)
        if progress is not None:
            progress.done(staged.lines_in)
    later = iter(staged_later)
    return [next(later) if isinstance(f, ParsedPostings) else f for f in first_pass]


def stage_quarantine(day: PostingsDay) -> None:
    """Stage the day's rejected lines, from every file, as one JSONL file."""
    quarantine = pl.concat(
        [pl.DataFrame(schema=QUARANTINE_SCHEMA)] + [f.quarantine for f in day.files]
    ).sort("source_key", "line_number")
    quarantine.write_ndjson(day.staged_quarantine)
    day.quarantine = quarantine
    day.report.lines_quarantined = quarantine.height
    day.report.quarantine_reasons = _reason_counts(quarantine)


def _report_figures(
    day: PostingsDay, pairs: DayPairs, cache: SeniorityCacheClient, model: SeniorityModelClient
) -> None:
    """The day's figures, from its staged files, its pairs and the clients that found them."""
    report = day.report
    report.lines_in = sum(f.lines_in for f in day.files)
    report.lines_out = sum(f.warehouse_rows.height for f in day.files)
    report.lines_without_level = sum(f.lines_without_level for f in day.files)
    report.output_keys = [f.output_key for f in day.files]
    report.distinct_pairs = pairs.distinct
    report.cache_hits, report.cache_misses = pairs.cache_hits, pairs.cache_misses
    report.model_calls, report.items_sent = pairs.model_calls, pairs.items_sent
    report.cache_status = cache.status
    report.model_version = model.model_version
    report.batch_size = model.batch_size
    report.seconds = time.perf_counter() - day.started


def augment_postings(
    storage: ObjectStorage,
    cache: SeniorityCacheClient,
    model: SeniorityModelClient,
    partition_date: str,
) -> AugmentResult:
    """Augment every raw posting of `partition_date` and publish the outputs, unchecked.

    The asset checks the staged day and loads the warehouse before it publishes; this is
    the bare work, for the benchmark.
    """
    with open_postings_day(storage, partition_date) as day:
        augment_postings_day(day, cache, model)
        day.publish()
        return AugmentResult(report=day.report, postings=day.warehouse_rows())


# Every `"seniority":N}` an Int8 level can give, as an enum: the writer copies one of a few
# strings per line instead of building a string per line (measured: 35% less write time).
_SUFFIX_LEVELS = list(range(-128, 128))
_SUFFIXES = pl.Enum([f'"seniority":{level}}}' for level in _SUFFIX_LEVELS])


def _level_suffixes(levels: pl.Series) -> pl.Series:
    """`"seniority":N}` for each level (null for a null level)."""
    return levels.cast(pl.Int8).replace_strict(
        _SUFFIX_LEVELS, _SUFFIXES.categories.to_list(), return_dtype=_SUFFIXES
    )


def _write_with_seniority(lines: pl.Series, levels: pl.Series, path: Path, bom: bool) -> None:
    """Write each original line with `"seniority": N` added before its closing brace.

    Written as two CSV columns joined by the separator ",": the line without its brace,
    then `"seniority":N}`. Slicing off the brace is a view, so the lines are never
    copied into new strings (measured: about half the time of building whole lines).
    What follows a line's brace (the CR of a CRLF ending, blanks) follows the level.
    """
    if lines.str.ends_with("}").all():
        frame = pl.DataFrame({"head": lines.str.head(-1), "suffix": _level_suffixes(levels)})
    else:
        body = pl.col("line").str.strip_chars_end(" \t\r")
        frame = pl.DataFrame({"line": lines, "level": levels}).select(
            head=body.str.head(-1),
            suffix=pl.concat_str(
                pl.lit('"seniority":'),
                pl.col("level").cast(pl.String),
                pl.lit("}"),
                pl.col("line").str.slice(body.str.len_chars()),
            ),
        )
    options = {"include_header": False, "quote_style": "never", "separator": ","}
    if not bom:
        frame.write_csv(path, **options)
        return
    with path.open("wb") as out:
        out.write(BOM.encode())
        frame.write_csv(out, **options)


def stage_augmented_file(
    parsed: ParsedPostings, text: pl.Series, levels: pl.DataFrame, day: PostingsDay
) -> StagedFile:
    """Write one file's valid lines with their level (`levels`: by `pair_key`) to its staging
    file, compressed as the raw file is."""
    partition_date = day.partition_date
    staged = day.staged_paths[parsed.source_key]
    quarantined = [parsed.quarantine]
    # Joined on the key alone, then put beside the lines: a join of the whole frame would
    # copy every string of every line (measured: a third slower).
    found = parsed.valid.select("pair_key").join(
        levels, on="pair_key", how="left", maintain_order="left"
    )
    joined = parsed.valid.with_columns(line=text).hstack(found.drop("pair_key"))
    # A pair that normalizes to nothing cannot be classified: quarantine, never guess.
    unusable = joined.filter(~USABLE)
    if unusable.height:
        quarantined.append(
            unusable.select(
                source_key=pl.lit(parsed.source_key),
                line_number="line_number",
                reason=pl.when(pl.col("company_normalized") == "")
                .then(pl.lit("company is empty after normalization"))
                .otherwise(pl.lit("title is empty after normalization")),
                line="line",
                line_base64=pl.lit(None, pl.String),
            )
        )
        joined = joined.filter(USABLE)
    without_level = joined.select(
        (pl.col("seniority").is_null() | ~pl.col("seniority").is_between(1, 7)).sum()
    ).item()
    compression = compression_of(parsed.source_key)
    if compression is None:
        _write_with_seniority(joined["line"], joined["seniority"], staged, parsed.bom)
    else:
        plain = day.scratch / f"{staged.name}.plain"
        _write_with_seniority(joined["line"], joined["seniority"], plain, parsed.bom)
        compress(plain, staged, compression)
        plain.unlink()
    warehouse_rows = joined.with_columns(
        posting_date=pl.lit(partition_date).str.to_date(),
        source_key=pl.lit(parsed.source_key),
    ).select([pl.col(c).cast(t) for c, t in WAREHOUSE_SCHEMA.items()])
    return StagedFile(
        output_key(parsed.source_key, partition_date),
        staged,
        parsed.lines_in,
        pl.concat(quarantined),
        warehouse_rows,
        without_level,
    )


def _reason_counts(quarantine: pl.DataFrame) -> dict[str, int]:
    """Reasons grouped by their kind (the text before any ':' detail)."""
    if not quarantine.height:
        return {}
    kinds = quarantine.select(
        pl.col("reason").str.replace(r"[:(].*$", "").str.strip_chars().alias("kind")
    )
    counts = kinds.group_by("kind").len().sort("kind")
    return dict(zip(counts["kind"].to_list(), counts["len"].to_list(), strict=True))
