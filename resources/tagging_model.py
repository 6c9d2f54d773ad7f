"""The tagging model client: one streamed SuggestTags call per batch, over the shared gRPC
foundation, with a deadline that scales with the batch and extends while replies arrive.

`TaggingModel` is the Dagster resource (configuration only); `connect()` yields a
`TaggingClient` that owns the channel for the duration of a run step. Channel, health wait,
error mapping and the local reference server (`python -m model_servers.tagging` when no
endpoint is set) live in `resources.grpc_client`.

What the client does NOT do is judge the answers: replies come back exactly as the server
sent them (unknown tag ids, confidences out of range, duplicates, modules nobody asked for),
for the platform's checks (assets/training/suggestions.py) to name.

Retries are the client's own, not gRPC's policy: SuggestTags is retried only while nothing
has streamed (UNAVAILABLE and the other retryable codes), with exponential backoff and full
jitter, so that `attempts` is the true count (gRPC's transparent retries cannot be counted
from the client: `grpc-previous-rpc-attempts` reaches the server only).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar

import grpc

from protos import tagging_pb2, tagging_pb2_grpc
from protos.contract import MAX_TAGS_PER_MODULE, TAGGING_SERVICE_NAME
from resources.grpc_client import (
    RETRYABLE_CODES,
    GrpcClient,
    GrpcClientResource,
    ModelRejected,
    ModelUnavailable,
)


@dataclass(frozen=True)
class TaxonomyTag:
    tag_id: str
    label: str
    description: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModuleText:
    module_id: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class ApprovedModule:
    """A module with the tags its customer approved: what a model may learn from."""

    module_id: str
    tag_ids: tuple[str, ...]
    title: str = ""
    description: str = ""


@dataclass(frozen=True)
class ModuleSuggestion:
    """One SuggestTagsReply as the server sent it; tags as two parallel tuples (the shape
    assets.training.suggestions.validate_suggestions reads)."""

    module_id: str
    tag_ids: tuple[str, ...]
    confidences: tuple[float, ...]
    rationale: str
    abstained: bool
    model_version: str
    unreadable_output: str = ""

    @classmethod
    def from_message(cls, reply: tagging_pb2.SuggestTagsReply) -> ModuleSuggestion:
        return cls(
            module_id=reply.module_id,
            tag_ids=tuple(tag.tag_id for tag in reply.tags),
            confidences=tuple(float(tag.confidence) for tag in reply.tags),
            rationale=reply.rationale,
            abstained=reply.abstained,
            model_version=reply.model_version,
            unreadable_output=reply.unreadable_output,
        )


@dataclass(frozen=True)
class TaggerDescription:
    model_version: str  # of a customer without its own classifier; replies name their own
    max_batch_size: int  # 0: the server declares no limit
    backend: str  # "tfidf", "chat" or "stand-in" (benchmarks)


@dataclass(frozen=True)
class SuggestResult:
    """The replies of one SuggestTags request and the facts of the call that got them.

    `cut_short`: the stream ended with an error after some replies (`error` says which);
    the replies received are all here, the unanswered modules are for a re-ask.
    `initial_deadline_seconds` is what the batch was given; `deadline_seconds` is where the
    deadline stood at the end, after the extensions that arriving replies earned.
    """

    request_id: str
    modules_requested: int
    replies: tuple[ModuleSuggestion, ...]
    attempts: int
    seconds: float
    cut_short: bool
    error: str
    initial_deadline_seconds: float
    deadline_seconds: float

    @property
    def replies_received(self) -> int:
        return len(self.replies)

    @property
    def model_versions(self) -> tuple[str, ...]:
        """The model versions the replies name, sorted (cache keys use the reply's own)."""
        return tuple(sorted({reply.model_version for reply in self.replies}))


class SuggestionsUnavailable(ModelUnavailable):
    """No usable answer: retries used up, or the deadline passed with the server silent.
    `result` holds what the call got before it failed (replies streamed, attempts, seconds)."""

    def __init__(self, message: str, result: SuggestResult) -> None:
        super().__init__(message)
        self.result = result


ProgressCallback = Callable[[int, int], None]  # (replies received, modules requested)


class TaggingModel(GrpcClientResource):
    """Settings of the tagging model client (`endpoint=None`: start the reference server).

    A batch of n modules gets max(`deadline_floor_seconds`, n / `modules_per_second`)
    seconds; each reply pushes the deadline to at least now + `deadline_slack` x
    max(`seconds_per_module_floor`, 1 / `modules_per_second`), so a slow but steady model
    finishes and a silent one is cancelled. `deadline_seconds` (the foundation's) bounds the
    other calls (DescribeModel, health).

    `max_batches_in_flight`: SuggestTags calls a run keeps open at once (1: one batch after
    the other). Each call's deadline starts when it is sent, so keep it at or below what the
    server answers at once (the reference server: `--max-workers`, 8): a call the server
    queues spends its deadline waiting.
    """

    SERVICE_NAMES: ClassVar[tuple[str, ...]] = (TAGGING_SERVICE_NAME,)
    REFERENCE_SERVER_MODULE: ClassVar[str] = "model_servers.tagging"
    DISPLAY_NAME: ClassVar[str] = "tagging model"

    modules_per_second: float = 60.0
    deadline_floor_seconds: float = 30.0
    seconds_per_module_floor: float = 5.0
    deadline_slack: float = 2.0
    max_tags_per_module: int = MAX_TAGS_PER_MODULE
    max_batches_in_flight: int = 4

    def service_config(self) -> dict[str, object]:
        """The foundation's retry policy, except for SuggestTags, which the client retries
        itself (a more specific method name overrides the service-wide entry)."""
        config = super().service_config()
        suggest = {"name": [{"service": TAGGING_SERVICE_NAME, "method": "SuggestTags"}]}
        config["methodConfig"] = [*config["methodConfig"], suggest]  # type: ignore[misc]
        return config

    def initial_deadline(self, modules: int) -> float:
        return max(self.deadline_floor_seconds, modules / self.modules_per_second)

    def progress_allowance(self) -> float:
        """How long after a reply the next one may take before the call is given up."""
        return self.deadline_slack * max(self.seconds_per_module_floor, 1 / self.modules_per_second)

    @contextmanager
    def connect(self) -> Iterator[TaggingClient]:
        """A connected, healthy client; closes the channel (and any local server) on exit."""
        problems = [
            f"{name} must be above 0, got {value}"
            for name, value in (
                ("modules_per_second", self.modules_per_second),
                ("deadline_floor_seconds", self.deadline_floor_seconds),
                ("deadline_slack", self.deadline_slack),
                ("max_tags_per_module", self.max_tags_per_module),
                ("max_batches_in_flight", self.max_batches_in_flight),
            )
            if not value > 0
        ]
        if self.seconds_per_module_floor < 0:
            problems.append(
                f"seconds_per_module_floor must be 0 or more, got {self.seconds_per_module_floor}"
            )
        if problems:
            raise ValueError(f"{self.DISPLAY_NAME} settings: {'; '.join(problems)}")
        with self.open_client(TaggingClient) as client:
            yield client


class TaggingClient(GrpcClient):
    """`calls` counts SuggestTags requests that returned a result, `items_sent` their modules.

    One client serves the batches a run keeps in flight at once (the channel multiplexes
    their streams): `suggest` may be called from several threads.
    """

    config: TaggingModel

    def __init__(self, channel: grpc.Channel, target: str, config: TaggingModel) -> None:
        super().__init__(channel, target, config)
        self._stub = tagging_pb2_grpc.TaggingModelStub(channel)
        self._description: TaggerDescription | None = None
        self._lock = threading.Lock()  # the counters and the description, shared by threads

    def describe(self) -> TaggerDescription:
        """The model's description, asked once per client."""
        with self._lock:
            return self._describe()

    def _describe(self) -> TaggerDescription:
        if self._description is None:
            reply = self._call(self._stub.DescribeModel, tagging_pb2.DescribeTaggerRequest())
            self._description = TaggerDescription(
                model_version=reply.model_version,
                max_batch_size=reply.max_batch_size,
                backend=reply.backend,
            )
        return self._description

    def suggest(
        self,
        customer_id: str,
        taxonomy_version: str,
        taxonomy: Sequence[TaxonomyTag],
        modules: Sequence[ModuleText],
        approved: Sequence[ApprovedModule] = (),
        request_id: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> SuggestResult:
        """Suggested tags for `modules`, streamed; replies as sent, in the order they came.

        Raises ValueError before sending for input the server would refuse (no taxonomy,
        a module id twice, a batch over the server's limit); SuggestionsUnavailable when
        retries are used up or the deadline passes in silence; ModelRejected for a refusal
        that retrying won't change.
        """
        request_id = request_id or uuid.uuid4().hex
        where = f"{self.name}, request {request_id} ({customer_id}, {len(modules)} modules)"
        deadline = self.config.initial_deadline(len(modules))
        if not modules:
            return SuggestResult(request_id, 0, (), 0, 0.0, False, "", deadline, deadline)
        self._check_input(where, taxonomy, modules)
        request = tagging_pb2.SuggestTagsRequest(
            customer_id=customer_id,
            taxonomy_version=taxonomy_version,
            taxonomy=[
                tagging_pb2.TaxonomyTag(
                    tag_id=t.tag_id, label=t.label, description=t.description, aliases=t.aliases
                )
                for t in taxonomy
            ],
            modules=[
                tagging_pb2.ModuleText(
                    module_id=m.module_id, title=m.title, description=m.description
                )
                for m in modules
            ],
            max_tags_per_module=self.config.max_tags_per_module,
            approved=[
                tagging_pb2.ApprovedTags(
                    module_id=a.module_id,
                    tag_ids=a.tag_ids,
                    title=a.title,
                    description=a.description,
                )
                for a in approved
            ],
            request_id=request_id,
        )
        call = _StreamedCall(self, request, where, on_progress)
        result = call.run()
        with self._lock:
            self.calls += 1
            self.items_sent += len(modules)
        return result

    def _check_input(
        self, where: str, taxonomy: Sequence[TaxonomyTag], modules: Sequence[ModuleText]
    ) -> None:
        if not taxonomy:
            raise ValueError(f"{where}: the taxonomy has no tags")
        counts = Counter(m.module_id for m in modules)
        repeated = sorted(module_id for module_id, n in counts.items() if n > 1)
        if repeated:
            raise ValueError(f"{where}: module ids listed more than once: {repeated[:10]}")
        empty = [i for i, m in enumerate(modules) if not m.module_id.strip()]
        if empty:
            raise ValueError(f"{where}: modules at positions {empty[:10]} have no module_id")
        limit = self.describe().max_batch_size
        if 0 < limit < len(modules):
            raise ValueError(
                f"{where}: the server takes at most {limit} modules per request; split the batch"
            )


class _StreamedCall:
    """One suggest(): attempts with backoff, the stream read, the watchdog at the deadline."""

    def __init__(
        self,
        client: TaggingClient,
        request: tagging_pb2.SuggestTagsRequest,
        where: str,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.client = client
        self.config = client.config
        self.request = request
        self.where = where
        self.on_progress = on_progress
        self.total = len(request.modules)
        self.replies: list[ModuleSuggestion] = []
        self.attempts = 0
        self.started = time.monotonic()
        self.initial_deadline = self.config.initial_deadline(self.total)
        self.watchdog = _Watchdog(self.started + self.initial_deadline)

    def run(self) -> SuggestResult:
        try:
            return self._attempts()
        finally:
            self.watchdog.stop()

    def _attempts(self) -> SuggestResult:
        max_attempts = self.config.retry_attempts()
        while True:
            self.attempts += 1
            try:
                self._stream()
                return self._result(cut_short=False, error="")
            except grpc.RpcError as exc:
                failure = exc  # kept as the cause of what we raise
            code = failure.code()
            status = f"{code}: {failure.details()}"
            if self.watchdog.fired:
                raise SuggestionsUnavailable(
                    self._deadline_message(), self._result(True, status)
                ) from failure
            if self.replies:
                return self._result(cut_short=True, error=status)  # a re-ask's business
            if code.name not in RETRYABLE_CODES:
                raise ModelRejected(
                    f"{self.where} rejected on attempt {self.attempts}: {status}"
                ) from failure
            if self.attempts >= max_attempts:
                raise SuggestionsUnavailable(
                    f"{self.where} unavailable after {self.attempts} attempt"
                    f"{'s' if self.attempts != 1 else ''}: {status}",
                    self._result(False, status),
                ) from failure
            backoff = random.uniform(0, self._backoff_cap())
            if time.monotonic() + backoff >= self.watchdog.deadline:
                raise SuggestionsUnavailable(
                    f"{self.where} unavailable after {self.attempts} attempts, and the "
                    f"{self.initial_deadline:g} s deadline leaves no time for another: {status}",
                    self._result(False, status),
                ) from failure
            time.sleep(backoff)

    def _backoff_cap(self) -> float:
        """gRPC's schedule: initial x multiplier^(retries so far), at most the maximum."""
        grown = self.config.initial_backoff_seconds * (
            self.config.backoff_multiplier ** (self.attempts - 1)
        )
        return min(self.config.max_backoff_seconds, grown)

    def _stream(self) -> None:
        call = self.client._stub.SuggestTags(self.request)
        self.watchdog.watch(call)
        allowance = self.config.progress_allowance()
        try:
            for reply in call:
                self.replies.append(ModuleSuggestion.from_message(reply))
                self.watchdog.extend_to(time.monotonic() + allowance)
                if self.on_progress is not None:
                    self.on_progress(len(self.replies), self.total)
        except grpc.RpcError:
            raise
        except BaseException:
            call.cancel()  # e.g. on_progress raised: free the server before we go
            raise

    def _result(self, cut_short: bool, error: str) -> SuggestResult:
        return SuggestResult(
            request_id=self.request.request_id,
            modules_requested=self.total,
            replies=tuple(self.replies),
            attempts=self.attempts,
            seconds=time.monotonic() - self.started,
            cut_short=cut_short,
            error=error,
            initial_deadline_seconds=self.initial_deadline,
            deadline_seconds=self.watchdog.deadline - self.started,
        )

    def _deadline_message(self) -> str:
        c = self.config
        silent = time.monotonic() - (self.watchdog.last_extended or self.started)
        return (
            f"{self.where} stopped answering: {len(self.replies)} of {self.total} replies in "
            f"{time.monotonic() - self.started:.1f} s, cancelled at the deadline "
            f"({self.initial_deadline:g} s for {self.total} modules at "
            f"{c.modules_per_second:g}/s, floor {c.deadline_floor_seconds:g} s, each reply "
            f"allowing {c.progress_allowance():g} s more; silent for {silent:.1f} s); "
            f"attempts {self.attempts}"
        )


@dataclass
class _Watchdog:
    """Cancels the current call once the deadline passes; the deadline only moves later."""

    deadline: float
    fired: bool = False
    last_extended: float | None = None
    _call: grpc.Future | None = None
    _done: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        threading.Thread(target=self._run, name="tagging-deadline", daemon=True).start()

    def watch(self, call: grpc.Future) -> None:
        with self._cond:
            self._call = call
            if self.fired:
                call.cancel()

    def extend_to(self, deadline: float) -> None:
        with self._cond:
            self.last_extended = time.monotonic()
            self.deadline = max(self.deadline, deadline)

    def stop(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._done:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    self.fired = True
                    if self._call is not None:
                        self._call.cancel()
                    return
                self._cond.wait(remaining)
