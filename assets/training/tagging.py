"""Suggesting tags for one customer's modules: which modules need a suggestion, the cache
first, then the tagging model in batches, every request in the request log, invalid answers
re-asked at most twice (the failed modules only), then the dead-letter store.

Which modules: those without tags in the catalog, and those whose text changed since their
last suggestion (the review set remembers each module's content hash when laid out), less
those waiting in the dead-letter store for a replay under the same taxonomy and model.

What a request is: one SuggestTags call for a batch, keyed by its modules at their content,
the taxonomy version and the model version (requests.suggest_key). `succeeded` when every
module came back valid (its answers are then kept beside the log, so the same request asked
again is read, never sent twice); `failed` when the call failed or some answers were invalid
(the error says which); `dead` when its modules used up their re-asks, with a dead letter.
A model that stops answering fails its request at the client's deadline and stops the run's
remaining batches: the run fails and says so, and nothing hangs.

Batches in flight: up to the tagging model's `max_batches_in_flight` requests are open at
once (1: one after the other), so the model's time per batch overlaps instead of adding up.
Each batch keeps its own tally (re-asks and dead letters included) and the run adds them up
in batch order: the outputs, the request log and the figures are those of a sequential run,
whatever order the batches finish in. A failed call lets the batches in flight finish and
starts no other.

The model version in every key is the platform's name for the model it asks: the tagger's own
version, plus a digest of the approvals sent with the request once there are enough for the
tagger to learn from them (so new approvals mean a new model, and fresh suggestions).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from assets.training.layout import answers_key
from assets.training.requests import (
    RequestLog,
    RequestRecord,
    count_by_status,
    replay_dead_letters,
    suggest_request,
)
from assets.training.review import PublishedApproval
from assets.training.snapshot import frame_bytes
from assets.training.suggestions import (
    CHECKS,
    INVALID_SCHEMA,
    MAX_REASKS,
    VALID_SCHEMA,
    SuggestionValidation,
    plan_reasks,
    validate_suggestions,
)
from resources.grpc_client import ModelRejected
from resources.object_storage import ObjectStorage
from resources.suggestion_cache import SuggestionCacheClient
from resources.tagging_model import (
    ApprovedModule,
    ModuleText,
    SuggestionsUnavailable,
    TaggingClient,
    TaxonomyTag,
)
from resources.training_catalog import Taxonomy

SUGGESTION_SCHEMA: dict[str, pl.DataType] = {
    **VALID_SCHEMA,
    "suggested_at": pl.Datetime("us", "UTC"),
}
# Problems of one run, each with the ask it came from (1 = first ask, 2-3 = re-asks).
PROBLEM_SCHEMA: dict[str, pl.DataType] = {
    **INVALID_SCHEMA,
    "ask": pl.Int32(),
    "idempotency_key": pl.String(),
}
DEFAULT_BATCH_SIZE = 1_000
# The reference tagger trains a customer's own classifier from 50 approved modules on
# (model_servers/tagging/model.py, MIN_APPROVED_MODULES); fewer approvals change nothing.
MIN_APPROVALS_TO_SEND = 50
PROGRESS_EVERY_SECONDS = 5.0
# How often the run's thread passes on the messages of the batches in flight.
RELAY_EVERY_SECONDS = 0.5
# Problems named in a dead letter's reason (all of them are in the check metadata).
REASON_PROBLEMS = 5


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- Which modules, and which model ----------------------------------------------------------


@dataclass(frozen=True)
class ModulesToSuggest:
    """`considered`: modules to suggest for now (module_id, content_hash, title,
    description). `waiting`: modules that need a suggestion but wait in the dead-letter store.
    `untagged` and `changed` count the two reasons (a module may have both)."""

    considered: pl.DataFrame
    waiting: pl.DataFrame
    untagged: int
    changed: int


def modules_to_suggest(
    modules: pl.DataFrame,
    review_set: dict[str, str],
    waiting_pairs: set[tuple[str, str]],
) -> ModulesToSuggest:
    """From the catalog snapshot's modules (MODULE_SCHEMA), the review set (module id ->
    content hash when laid out) and the (module id, content hash) pairs in dead letters."""
    last_hash = pl.DataFrame(
        list(review_set.items()),
        schema={"module_id": pl.String, "suggested_hash": pl.String},
        orient="row",
    )
    frame = modules.join(last_hash, on="module_id", how="left").with_columns(
        untagged=pl.col("tag_ids").list.len() == 0,
        changed=pl.col("suggested_hash").is_not_null()
        & (pl.col("suggested_hash") != pl.col("content_hash")),
    )
    needed = frame.filter(pl.col("untagged") | pl.col("changed"))
    is_waiting = pl.Series(
        [(m, h) in waiting_pairs for m, h in needed.select("module_id", "content_hash").rows()],
        dtype=pl.Boolean,
    )
    columns = ["module_id", "content_hash", "title", "description"]
    return ModulesToSuggest(
        considered=needed.filter(~is_waiting).select(columns).sort("module_id"),
        waiting=needed.filter(is_waiting).select(columns).sort("module_id"),
        untagged=int(needed["untagged"].sum()),
        changed=int(needed["changed"].sum()),
    )


def waiting_pairs(
    log: RequestLog, customer_id: str, taxonomy_version: str, model_version: str
) -> set[tuple[str, str]]:
    """(module id, content hash) of every module in a suggest dead letter asked under this
    taxonomy and model: the replay job asks them again, not every run."""
    pairs: set[tuple[str, str]] = set()
    for letter in log.dead_letters.list(customer_id, kind="suggest"):
        payload = letter.payload
        if (
            payload.get("taxonomy_version") == taxonomy_version
            and payload.get("model_version") == model_version
        ):
            pairs.update((m, h) for m, h in payload["modules"])
    return pairs


def approvals_to_send(
    published: PublishedApproval | None,
    modules: pl.DataFrame,
    minimum: int = MIN_APPROVALS_TO_SEND,
) -> list[ApprovedModule]:
    """The customer's published approvals with their modules' current text, once there are
    `minimum` of them (fewer teach the tagger nothing, and would only change the model
    version); modules gone from the catalog are left out."""
    if published is None or published.modules.height < max(1, minimum):
        return []
    text = {
        m: (title, description)
        for m, title, description in modules.select("module_id", "title", "description").rows()
    }
    approvals = [
        ApprovedModule(module_id, tuple(tags), *text[module_id])
        for module_id, tags in published.modules.rows()
        if module_id in text
    ]
    return approvals if len(approvals) >= max(1, minimum) else []


def model_version_for(tagger_version: str, approvals: Sequence[ApprovedModule]) -> str:
    """The platform's name for the model it asks (cache and request keys)."""
    if not approvals:
        return tagger_version
    canonical = json.dumps(
        sorted([a.module_id, sorted(a.tag_ids), a.title, a.description] for a in approvals),
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return f"{tagger_version}+approvals-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


# --- One customer's run ----------------------------------------------------------------------


@dataclass(frozen=True)
class SuggestJob:
    """What to ask: `modules` as `ModulesToSuggest.considered` gives them."""

    customer_id: str
    taxonomy: Taxonomy
    modules: pl.DataFrame
    model_version: str
    approvals: tuple[ApprovedModule, ...] = ()
    batch_size: int = DEFAULT_BATCH_SIZE
    max_tags_per_module: int = 3
    max_reasks: int = MAX_REASKS

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


@dataclass(frozen=True)
class FailedRequest:
    idempotency_key: str
    module_count: int
    status: str  # failed (the next run retries it) or dead (the replay job does)
    error: str


@dataclass
class SuggestionRun:
    """What a run did and cost. `valid`: every valid suggestion of the considered modules
    (SUGGESTION_SCHEMA), cached or new. `problems`: every problem of every ask."""

    customer_id: str
    model_version: str
    modules_considered: int
    valid: pl.DataFrame
    problems: pl.DataFrame
    modules_cached: int = 0
    modules_sent: int = 0  # distinct modules sent at least once
    modules_dead_lettered: list[str] = field(default_factory=list)
    modules_failed: list[str] = field(default_factory=list)  # in failed requests, not dead
    modules_unsent: int = 0  # left for the next run after the model stopped answering
    modules_answered_from_log: int = 0  # from the answers of a request that had succeeded
    tagger_calls: int = 0
    reasks: int = 0  # re-ask calls
    modules_reasked: int = 0  # module re-asks (one module re-asked twice counts 2)
    model_seconds: float = 0.0  # summed over calls (batches in flight at once overlap)
    seconds: float = 0.0
    batches: int = 0
    max_batches_in_flight: int = 1
    cache_status: str = ""
    records: dict[str, RequestRecord] = field(default_factory=dict)
    failed_requests: list[FailedRequest] = field(default_factory=list)
    reply_model_versions: set[str] = field(default_factory=set)

    @property
    def tags_suggested(self) -> int:
        return int(self.valid["tag_ids"].list.len().sum()) if self.valid.height else 0

    @property
    def abstentions(self) -> int:
        return int(self.valid["abstained"].sum()) if self.valid.height else 0

    @property
    def modules_new(self) -> int:
        """Valid suggestions the model gave in this run."""
        return self.valid.height - self.modules_cached - self.modules_answered_from_log

    @property
    def reconciles(self) -> bool:
        """Considered = valid + dead-lettered + failed + unsent: no module vanished."""
        return self.modules_considered == (
            self.valid.height
            + len(self.modules_dead_lettered)
            + len(self.modules_failed)
            + self.modules_unsent
        )

    def resolved_problems(self) -> dict[str, int]:
        """Problems of modules that a re-ask then answered validly, by check."""
        fixed = self.problems.filter(pl.col("module_id").is_in(self.valid["module_id"]))
        return dict(Counter(fixed["check"].to_list()))

    def final_problems(self) -> pl.DataFrame:
        """The problems the run ends with: those of modules that did not end valid (from
        their last ask), and answers about modules nobody asked for. Problems a re-ask fixed
        are not among them (`resolved_problems` counts them)."""
        if not self.problems.height:
            return self.problems
        valid_ids = set(self.valid["module_id"])
        last_ask = self.problems.group_by("module_id").agg(pl.col("ask").max().alias("last"))
        return (
            self.problems.join(last_ask, on="module_id")
            .filter((pl.col("ask") == pl.col("last")) & ~pl.col("module_id").is_in(valid_ids))
            .drop("last")
        )

    def check_validation(self) -> SuggestionValidation:
        """The run's final problems in the shape the asset checks' metadata reads."""
        final = self.final_problems()
        counts = Counter(final["check"].to_list())
        invalid = final.select(list(INVALID_SCHEMA))
        failed_ids = sorted(set(self.modules_dead_lettered) | set(self.modules_failed))
        return SuggestionValidation(
            valid=self.valid.select(list(VALID_SCHEMA)),
            invalid=invalid,
            failure_counts={check: counts.get(check, 0) for check in CHECKS},
            reask_module_ids=failed_ids,
            modules_requested=self.modules_considered - self.modules_unsent,
            replies_received=self.valid.height,
            abstentions=self.abstentions,
        )

    def request_counts(self) -> dict[str, int]:
        return count_by_status(self.records.values())

    def figures(self) -> dict[str, Any]:
        """Cost and progress, for the materialization's metadata and the logs."""
        return {
            "modules_considered": self.modules_considered,
            "modules_cached": self.modules_cached,
            "modules_answered_from_log": self.modules_answered_from_log,
            "modules_sent": self.modules_sent,
            "modules_new": self.modules_new,
            "tags_suggested": self.tags_suggested,
            "abstentions": self.abstentions,
            "reasks": self.reasks,
            "modules_reasked": self.modules_reasked,
            "dead_letters": len(self.modules_dead_lettered),
            "modules_failed": len(self.modules_failed),
            "modules_unsent": self.modules_unsent,
            "tagger_calls": self.tagger_calls,
            "model_seconds": round(self.model_seconds, 3),
            "seconds": round(self.seconds, 3),
            "batches": self.batches,
            "max_batches_in_flight": self.max_batches_in_flight,
        }


class _Progress:
    """Logs a long batch's replies at most every PROGRESS_EVERY_SECONDS (its end is logged
    with its outcome)."""

    def __init__(self, say: Callable[[str], None], label: str) -> None:
        self.say, self.label = say, label
        self.last = time.monotonic()

    def __call__(self, received: int, total: int) -> None:
        now = time.monotonic()
        if received < total and now - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = now
            self.say(f"{self.label}: {received:,} of {total:,} replies")


@dataclass
class _BatchTally:
    """What one batch did and cost, re-asks included. Each batch in flight keeps its own;
    the run adds them up in batch order, so its report is the same whatever order the
    batches finished in."""

    valid: list[pl.DataFrame] = field(default_factory=list)
    problems: list[pl.DataFrame] = field(default_factory=list)  # one frame per ask, in order
    records: dict[str, RequestRecord] = field(default_factory=dict)
    sent: set[str] = field(default_factory=set)
    dead_lettered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    failed_requests: list[FailedRequest] = field(default_factory=list)
    reply_model_versions: set[str] = field(default_factory=set)
    unsent: int = 0
    answered_from_log: int = 0
    tagger_calls: int = 0
    reasks: int = 0
    modules_reasked: int = 0
    model_seconds: float = 0.0


class CustomerSuggester:
    """One customer's suggestion run: `run()` once, then read `report`.

    Batches go to the model up to `batches_in_flight` at once (default: the tagging
    model's `max_batches_in_flight`), each in a worker thread with its own tally; the
    request log holds one object per request, so concurrent batches never write the same
    one. Messages from the workers are relayed by the calling thread (`say` may be
    Dagster's `context.log`). A failed call stops the run: no batch starts after it, the
    ones already in flight finish (their requests end logged, never left running)."""

    def __init__(
        self,
        job: SuggestJob,
        tagger: TaggingClient,
        cache: SuggestionCacheClient,
        log: RequestLog,
        storage: ObjectStorage,
        say: Callable[[str], None] = lambda message: None,
        clock: Callable[[], dt.datetime] = _utc_now,
        batches_in_flight: int | None = None,
    ) -> None:
        self.job, self.tagger, self.cache, self.log = job, tagger, cache, log
        self.storage, self.clock = storage, clock
        self.batches_in_flight = batches_in_flight or tagger.config.max_batches_in_flight
        if self.batches_in_flight < 1:
            raise ValueError(f"batches_in_flight must be at least 1, got {batches_in_flight}")
        self.taxonomy_tags = [
            TaxonomyTag(t.tag_id, t.label, t.description, t.aliases) for t in job.taxonomy.tags
        ]
        self.tag_ids = job.taxonomy.tag_ids
        self._say = say
        self._messages: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._cache_lock = threading.Lock()  # the cache client counts and degrades unlocked
        self._valid: list[pl.DataFrame] = []
        self._problems: list[pl.DataFrame] = []
        self._sent: set[str] = set()
        self.report = SuggestionRun(
            customer_id=job.customer_id,
            model_version=job.model_version,
            modules_considered=job.modules.height,
            valid=pl.DataFrame(schema=SUGGESTION_SCHEMA),
            problems=pl.DataFrame(schema=PROBLEM_SCHEMA),
            max_batches_in_flight=self.batches_in_flight,
        )

    def say(self, message: str) -> None:
        """From any thread; the thread that called `run` passes it on."""
        self._messages.put(message)

    def _relay(self) -> None:
        while True:
            try:
                message = self._messages.get_nowait()
            except queue.Empty:
                return
            self._say(message)

    def run(self) -> SuggestionRun:
        started = time.perf_counter()
        job, report = self.job, self.report
        misses = self._from_cache(job.modules)
        batches = [
            misses.slice(offset, job.batch_size)
            for offset in range(0, misses.height, job.batch_size)
        ]
        report.batches = len(batches)
        if misses.height:
            self._say(
                f"{job.customer_id}: {job.modules.height:,} modules need suggestions, "
                f"{report.modules_cached:,} cached; asking the model for {misses.height:,} "
                f"in {len(batches)} batch(es) of up to {job.batch_size:,}, "
                f"up to {self.batches_in_flight} at once"
            )
        for tally in self._ask_batches(batches):
            self._add(tally)
        report.valid = pl.concat(
            [pl.DataFrame(schema=SUGGESTION_SCHEMA), *self._valid], how="vertical"
        ).sort("module_id")
        report.problems = pl.concat(
            [pl.DataFrame(schema=PROBLEM_SCHEMA), *self._problems], how="vertical"
        )
        report.modules_sent = len(self._sent)
        report.cache_status = self.cache.status
        report.seconds = time.perf_counter() - started
        return report

    def _ask_batches(self, batches: list[pl.DataFrame]) -> list[_BatchTally]:
        """Every batch asked, up to `batches_in_flight` at once; their tallies in batch order.
        A batch that raises stops the others from starting, and its error is raised once
        those in flight are done."""
        if not batches:
            return []
        customer_id = self.job.customer_id
        pool = ThreadPoolExecutor(
            max_workers=min(self.batches_in_flight, len(batches)),
            thread_name_prefix=f"suggest-{customer_id}",
        )
        futures = [
            pool.submit(self._ask_batch, batch, f"{customer_id} batch {n}/{len(batches)}")
            for n, batch in enumerate(batches, start=1)
        ]
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, RELAY_EVERY_SECONDS, FIRST_COMPLETED)
                if any(future.exception() is not None for future in done):
                    self._stopped.set()
                self._relay()
        except BaseException:  # interrupted: start no other batch, let those in flight end
            self._stopped.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self._relay()
        return [future.result() for future in futures]

    def _add(self, tally: _BatchTally) -> None:
        report = self.report
        self._valid.extend(tally.valid)
        self._problems.extend(tally.problems)
        self._sent.update(tally.sent)
        report.records.update(tally.records)
        report.modules_dead_lettered.extend(tally.dead_lettered)
        report.modules_failed.extend(tally.failed)
        report.failed_requests.extend(tally.failed_requests)
        report.reply_model_versions.update(tally.reply_model_versions)
        report.modules_unsent += tally.unsent
        report.modules_answered_from_log += tally.answered_from_log
        report.tagger_calls += tally.tagger_calls
        report.reasks += tally.reasks
        report.modules_reasked += tally.modules_reasked
        report.model_seconds += tally.model_seconds

    # --- the cache ---------------------------------------------------------------------------

    def _from_cache(self, modules: pl.DataFrame) -> pl.DataFrame:
        """Hits go to the valid suggestions; the misses are returned."""
        job = self.job
        found = self.cache.get_many(
            job.customer_id, job.taxonomy.version, job.model_version, modules["content_hash"]
        )
        hits = [
            (module_id, content_hash, value)
            for (module_id, content_hash), value in zip(
                modules.select("module_id", "content_hash").rows(), found, strict=True
            )
            if value is not None
        ]
        if hits:
            self._valid.append(
                pl.DataFrame(
                    [
                        {
                            "module_id": module_id,
                            "content_hash": content_hash,
                            "tag_ids": value["tag_ids"],
                            "confidences": [float(c) for c in value["confidences"]],
                            "rationale": value["rationale"],
                            "model_version": value["model_version"],
                            "abstained": value["abstained"],
                            "suggested_at": dt.datetime.fromisoformat(value["suggested_at"]),
                        }
                        for module_id, content_hash, value in hits
                    ],
                    schema=SUGGESTION_SCHEMA,
                )
            )
        self.report.modules_cached = len(hits)
        hit_ids = {module_id for module_id, _, _ in hits}
        return modules.filter(~pl.col("module_id").is_in(hit_ids))

    def _remember(self, valid: pl.DataFrame, tally: _BatchTally) -> None:
        """Valid suggestions into the batch's results and the cache."""
        if not valid.height:
            return
        tally.valid.append(valid)
        values = {
            row["content_hash"]: {
                **row,
                "confidences": list(row["confidences"]),
                "suggested_at": row["suggested_at"].isoformat(),
            }
            for row in valid.iter_rows(named=True)
        }
        with self._cache_lock:
            self.cache.set_many(
                self.job.customer_id, self.job.taxonomy.version, self.job.model_version, values
            )

    # --- asking the model --------------------------------------------------------------------

    def _ask_batch(self, batch: pl.DataFrame, label: str) -> _BatchTally:
        """Ask for `batch`, then re-ask its failed modules until valid or out of re-asks."""
        tally = _BatchTally()
        if self._stopped.is_set():
            tally.unsent = batch.height
            return tally
        asked: Counter[str] = Counter()
        pending = batch
        ask = 0
        while pending.height:
            ask += 1
            if ask > 1:
                if self._stopped.is_set():
                    # Another batch's call failed: no re-ask. Their request is logged failed,
                    # so the next run asks for these modules again.
                    tally.failed.extend(pending["module_id"])
                    self.say(f"{label}: {pending.height} module(s) not re-asked: the run stops")
                    return tally
                tally.reasks += 1
                tally.modules_reasked += pending.height
                self.say(f"{label}: re-asking {pending.height} module(s) (re-ask {ask - 1})")
            validation, record = self._ask(pending, label, ask, tally)
            if validation is None:
                return tally  # the call failed: the run stops asking
            asked.update(pending["module_id"].to_list())
            plan = plan_reasks(validation.reask_module_ids, asked, self.job.max_reasks)
            if plan.dead_letter:
                self._dead_letter(record, pending, plan.dead_letter, asked, tally)
            pending = pending.filter(pl.col("module_id").is_in(plan.reask)).sort("module_id")
        return tally

    def _ask(
        self, pending: pl.DataFrame, label: str, ask: int, tally: _BatchTally
    ) -> tuple[SuggestionValidation | None, RequestRecord]:
        """One request: logged, sent (or read from the log), validated, its valid answers kept."""
        job = self.job
        request = suggest_request(job.customer_id, pending, job.taxonomy.version, job.model_version)
        record = self.log.open(request)
        key = record.idempotency_key
        if record.status == "succeeded":
            answers = self._read_answers(key, pending)
            tally.answered_from_log += answers.height
            self._remember(answers, tally)
            tally.records[key] = record
            validation = validate_suggestions(
                pending, _as_replies(answers), self.tag_ids, job.max_tags_per_module
            )
            return validation, record
        if record.status == "running":  # a run that died mid-call left it so
            record = self.log.fail(record, "interrupted: found running by a later run")
        before = record.attempts
        record = self.log.start(record)
        tally.records[key] = record
        tally.sent.update(pending["module_id"])
        texts = [
            ModuleText(m, title or "", description or "")
            for m, title, description in pending.select("module_id", "title", "description").rows()
        ]
        try:
            result = self.tagger.suggest(
                job.customer_id,
                job.taxonomy.version,
                self.taxonomy_tags,
                texts,
                approved=job.approvals,
                request_id=key,
                on_progress=_Progress(self.say, label),
            )
        except SuggestionsUnavailable as error:
            partial = error.result
            tally.tagger_calls += 1
            tally.model_seconds += partial.seconds
            # Replies that did arrive are as good as any: the valid ones are kept.
            validation = (
                self._validate(pending, partial.replies, True, ask, key, tally)[0]
                if partial.replies
                else None
            )
            record = self.log.fail(
                record,
                str(error),
                latency_seconds=partial.seconds,
                attempts=before + max(partial.attempts, 1),
            )
            # At the deadline: failed, for the next run. Out of retries: dead, for a replay.
            if not partial.cut_short:
                record = self.log.mark_dead(record, str(error))
            self._stop(pending, validation, record, str(error), tally)
            return None, record
        except ModelRejected as error:
            tally.tagger_calls += 1
            record = self.log.fail(record, str(error), attempts=before + 1)
            record = self.log.mark_dead(record, f"refused by the model: {error}")
            self._stop(pending, None, record, str(error), tally)
            return None, record
        tally.tagger_calls += 1
        tally.model_seconds += result.seconds
        tally.reply_model_versions.update(result.model_versions)
        validation, valid = self._validate(
            pending, result.replies, result.cut_short, ask, key, tally
        )
        attempts = before + result.attempts
        versions = ",".join(result.model_versions) or None
        if validation.modules_failed == 0 and validation.invalid.height == 0:
            self._write_answers(key, valid)
            record = self.log.succeed(
                record, latency_seconds=result.seconds, model_version=versions, attempts=attempts
            )
        else:
            record = self.log.fail(
                record,
                _problem_summary(validation, result.error),
                latency_seconds=result.seconds,
                attempts=attempts,
            )
        tally.records[key] = record
        self.say(
            f"{label}: {validation.valid.height:,} of {pending.height:,} valid"
            + (f", {validation.modules_failed:,} invalid" if validation.modules_failed else "")
            + f" in {result.seconds:.1f} s (attempts {result.attempts})"
        )
        return validation, record

    def _validate(
        self,
        pending: pl.DataFrame,
        replies,
        cut_short: bool,
        ask: int,
        key: str,
        tally: _BatchTally,
    ) -> tuple[SuggestionValidation, pl.DataFrame]:
        """Validate one ask's replies; keep (and cache) the valid ones, record the problems.
        Returns the validation and the valid suggestions (SUGGESTION_SCHEMA)."""
        validation = validate_suggestions(
            pending.select("module_id", "content_hash"),
            replies,
            self.tag_ids,
            self.job.max_tags_per_module,
            cut_short=cut_short,
        )
        valid = validation.valid.with_columns(suggested_at=pl.lit(self.clock())).cast(
            SUGGESTION_SCHEMA
        )  # type: ignore[arg-type]
        self._remember(valid, tally)
        if validation.invalid.height:
            tally.problems.append(
                validation.invalid.with_columns(
                    ask=pl.lit(ask, pl.Int32), idempotency_key=pl.lit(key)
                )
            )
        return validation, valid

    def _stop(
        self,
        pending: pl.DataFrame,
        validation: SuggestionValidation | None,
        record: RequestRecord,
        error: str,
        tally: _BatchTally,
    ) -> None:
        """The model failed a call: its modules are failed (or dead), and no batch follows."""
        valid = set(validation.valid["module_id"]) if validation is not None else set()
        unanswered = [m for m in pending["module_id"] if m not in valid]
        if record.status == "dead":
            tally.dead_lettered.extend(unanswered)
        else:
            tally.failed.extend(unanswered)
        tally.records[record.idempotency_key] = record
        tally.failed_requests.append(
            FailedRequest(record.idempotency_key, len(pending), record.status, error)
        )
        self._stopped.set()
        self.say(
            f"{self.job.customer_id}: request {record.idempotency_key} {record.status}: {error}"
        )

    def _dead_letter(
        self,
        record: RequestRecord,
        pending: pl.DataFrame,
        dead_ids: list[str],
        asked: Counter[str],
        tally: _BatchTally,
    ) -> None:
        """Modules whose answers stayed invalid after their re-asks: to the dead-letter store,
        as a request of exactly those modules (a replay asks nothing else)."""
        job = self.job
        # The reasons of the batch's last ask (the earlier ones are in the check metadata).
        problems = tally.problems[-1].filter(pl.col("module_id").is_in(dead_ids))
        named = "; ".join(
            f"{m}: {check}: {reason} ({value})"
            for m, check, reason, value in problems.tail(REASON_PROBLEMS)
            .select("module_id", "check", "reason", "value")
            .rows()
        )
        times = max(asked[m] for m in dead_ids)
        reason = f"{len(dead_ids)} module(s) still invalid after {times} asks: {named}"
        if set(dead_ids) != set(record.module_ids):
            subset = pending.filter(pl.col("module_id").is_in(dead_ids))
            record = self.log.open(
                suggest_request(job.customer_id, subset, job.taxonomy.version, job.model_version)
            )
            if record.status in ("pending", "running"):
                # Never sent as such: its modules were asked `times` times in other requests.
                record = self.log.fail(record, reason, attempts=times)
        if record.status == "failed":
            record = self.log.mark_dead(record, reason)
        tally.records[record.idempotency_key] = record
        if record.status != "dead":  # the same modules answered in another run: not dead here
            tally.failed.extend(dead_ids)
            return
        tally.dead_lettered.extend(dead_ids)
        self.say(f"{job.customer_id}: dead letter {record.idempotency_key}: {reason}")

    # --- the answers of succeeded requests ---------------------------------------------------

    def _write_answers(self, key: str, valid: pl.DataFrame) -> None:
        """The valid answers of a request about to be marked succeeded."""
        self.storage.write_bytes(answers_key(self.job.customer_id, key), frame_bytes(valid))

    def _read_answers(self, key: str, pending: pl.DataFrame) -> pl.DataFrame:
        path = answers_key(self.job.customer_id, key)
        if not self.storage.exists(path):
            raise RuntimeError(
                f"request {key} of {self.job.customer_id} succeeded, but its answers are not "
                f"at {self.storage.uri(path)}: the request log and its answers disagree"
            )
        answers = pl.read_parquet(io.BytesIO(self.storage.read_bytes(path)))
        return answers.cast(SUGGESTION_SCHEMA).filter(  # type: ignore[arg-type]
            pl.col("module_id").is_in(pending["module_id"])
        )


def _as_replies(valid: pl.DataFrame) -> list[dict[str, Any]]:
    """Valid rows as the replies validate_suggestions reads (answers read back are checked
    again: a file is input like any other)."""
    return [
        {
            "module_id": row["module_id"],
            "tag_ids": list(row["tag_ids"]),
            "confidences": list(row["confidences"]),
            "rationale": row["rationale"],
            "abstained": row["abstained"],
            "model_version": row["model_version"],
        }
        for row in valid.iter_rows(named=True)
    ]


def _problem_summary(validation: SuggestionValidation, stream_error: str) -> str:
    failing = {check: n for check, n in validation.failure_counts.items() if n}
    text = (
        f"{validation.modules_failed} of {validation.modules_requested} modules invalid "
        f"({', '.join(f'{check} {n}' for check, n in failing.items())})"
    )
    return text + (f"; stream: {stream_error}" if stream_error else "")


def suggest_for_customer(
    job: SuggestJob,
    tagger: TaggingClient,
    cache: SuggestionCacheClient,
    log: RequestLog,
    storage: ObjectStorage,
    say: Callable[[str], None] = lambda message: None,
) -> SuggestionRun:
    return CustomerSuggester(job, tagger, cache, log, storage, say).run()


# --- Replaying suggest dead letters ----------------------------------------------------------


@dataclass(frozen=True)
class SuggestReplay:
    replayed: list[str]
    still_dead: list[str]
    cleared: list[str]
    # Dead letters asked under another taxonomy or model, or for text that has changed since:
    # the next suggestions run asks for these modules afresh, so nothing is sent.
    superseded: list[str]
    modules_valid: int


def replay_suggestions(
    job: SuggestJob,
    tagger: TaggingClient,
    cache: SuggestionCacheClient,
    log: RequestLog,
    storage: ObjectStorage,
) -> SuggestReplay:
    """Ask the model again for the modules of the customer's suggest dead letters (one call
    each, no re-asks); valid answers go to the cache, where the next run finds them. `job`
    holds the current taxonomy, model and the modules' current text."""
    suggester = CustomerSuggester(job, tagger, cache, log, storage)
    current = {m: h for m, h in job.modules.select("module_id", "content_hash").rows()}
    superseded: list[str] = []
    valid = 0

    def replay(record: RequestRecord) -> dict[str, Any]:
        nonlocal valid
        payload = record.payload
        modules = [m for m, h in payload["modules"] if current.get(m) == h]
        if (
            payload["taxonomy_version"] != job.taxonomy.version
            or payload["model_version"] != job.model_version
            or not modules
        ):
            superseded.append(record.idempotency_key)
            return {}
        pending = job.modules.filter(pl.col("module_id").is_in(modules)).sort("module_id")
        result = tagger.suggest(
            job.customer_id,
            job.taxonomy.version,
            suggester.taxonomy_tags,
            [
                ModuleText(m, t or "", d or "")
                for m, t, d in pending.select("module_id", "title", "description").rows()
            ],
            approved=job.approvals,
            request_id=record.idempotency_key,
        )
        validation, _ = suggester._validate(
            pending, result.replies, result.cut_short, 1, "", _BatchTally()
        )
        valid += validation.valid.height
        if validation.modules_failed or validation.invalid.height:
            raise ValueError(_problem_summary(validation, result.error))
        return {"model_version": ",".join(result.model_versions) or None}

    report = replay_dead_letters(log, job.customer_id, replay, kind="suggest")
    return SuggestReplay(report.replayed, report.still_dead, report.cleared, superseded, valid)
