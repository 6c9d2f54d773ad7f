"""What a tagging backend is, the request read into the model's terms, and the default backend.

A backend turns one SuggestTagsRequest into SuggestTagsReply messages, one per module, each
yielded as soon as it is ready. Two ship: `TfidfBackend` (the model in the repository) and
`model_servers.tagging.chat.ChatBackend` (an OpenAI-compatible chat endpoint); benchmarks use
`StandInBackend`, whose own time is next to nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from model_servers.tagging.model import (
    MIN_APPROVED_MODULES,
    MODEL_VERSION,
    ApprovedModule,
    CustomerModel,
    ModuleText,
    Suggestion,
    TaxonomyTag,
)
from protos import tagging_pb2
from protos.contract import MAX_TAGS_PER_MODULE


class BadRequest(ValueError):
    """The request cannot be answered as sent (the server answers INVALID_ARGUMENT)."""


class BackendUnavailable(RuntimeError):
    """What the backend itself relies on (a chat endpoint) failed; the call cannot go on."""


class BackendRefused(RuntimeError):
    """What the backend relies on refused the call for good (a wrong key, an unknown model):
    asking again will not help, so the server says FAILED_PRECONDITION, not UNAVAILABLE."""


class Backend(Protocol):
    name: str  # "tfidf", "chat" or "stand-in", as DescribeModel reports it
    model_version: str  # the version of a customer without enough approvals

    def suggest(self, request: TaggingRequest) -> Iterator[tagging_pb2.SuggestTagsReply]:
        """One reply per module of the request, each yielded once ready."""
        ...


@dataclass(frozen=True)
class TaggingRequest:
    """A SuggestTagsRequest in the model's terms, checked."""

    customer_id: str
    taxonomy: tuple[TaxonomyTag, ...]
    modules: tuple[ModuleText, ...]
    approved: tuple[ApprovedModule, ...]
    max_tags: int


def read_request(request: tagging_pb2.SuggestTagsRequest) -> TaggingRequest:
    """The request's content, or BadRequest naming what is wrong and where."""
    if not request.customer_id.strip():
        raise BadRequest("customer_id is empty")
    if request.max_tags_per_module < 0:
        raise BadRequest(f"max_tags_per_module is {request.max_tags_per_module}, below 0")
    taxonomy = tuple(
        TaxonomyTag(tag.tag_id, tag.label, tag.description, tuple(tag.aliases))
        for tag in request.taxonomy
    )
    if not taxonomy:
        raise BadRequest(f"the taxonomy of customer {request.customer_id!r} has no tags")
    seen_tags: set[str] = set()
    for position, tag in enumerate(taxonomy):
        if not tag.tag_id.strip():
            raise BadRequest(f"taxonomy tag {position} has an empty tag_id")
        if tag.tag_id in seen_tags:
            raise BadRequest(f"taxonomy tag id {tag.tag_id!r} appears more than once")
        seen_tags.add(tag.tag_id)
    modules = tuple(ModuleText(m.module_id, m.title, m.description) for m in request.modules)
    seen_modules: set[str] = set()
    repeated: list[str] = []
    for position, module in enumerate(modules):
        if not module.module_id.strip():
            raise BadRequest(f"module {position} has an empty module_id")
        if module.module_id in seen_modules:
            repeated.append(module.module_id)
        seen_modules.add(module.module_id)
    if repeated:
        raise BadRequest(f"module ids requested more than once: {sorted(set(repeated))[:10]}")
    approved = tuple(
        ApprovedModule(a.module_id, tuple(a.tag_ids), a.title, a.description)
        for a in request.approved
    )
    return TaggingRequest(
        customer_id=request.customer_id,
        taxonomy=taxonomy,
        modules=modules,
        approved=approved,
        max_tags=request.max_tags_per_module or MAX_TAGS_PER_MODULE,
    )


def reply_from(suggestion: Suggestion) -> tagging_pb2.SuggestTagsReply:
    return tagging_pb2.SuggestTagsReply(
        module_id=suggestion.module_id,
        tags=[
            tagging_pb2.SuggestedTag(tag_id=tag_id, confidence=confidence)
            for tag_id, confidence in suggestion.tags
        ],
        rationale=suggestion.rationale,
        abstained=suggestion.abstained,
        model_version=suggestion.model_version,
    )


class TfidfBackend:
    """The model that ships in the repository (model_servers/tagging/model.py)."""

    name = "tfidf"
    model_version = MODEL_VERSION

    def __init__(self, *, min_approved: int = MIN_APPROVED_MODULES) -> None:
        self.min_approved = min_approved

    def suggest(self, request: TaggingRequest) -> Iterator[tagging_pb2.SuggestTagsReply]:
        if not request.modules:
            return
        fitted = CustomerModel(
            request.taxonomy, request.modules, request.approved, min_approved=self.min_approved
        )
        for suggestion in fitted.suggestions(request.max_tags):
            yield reply_from(suggestion)


class StandInBackend:
    """A model whose own time is next to nothing, for benchmarks of the platform around it
    (with `--batch-delay-seconds`, a tagger that takes a fixed time per batch): each module
    gets one or two tags of the taxonomy picked from a hash of its text, replies shaped like
    the real model's. Deterministic; not a model of anything."""

    name = "stand-in"
    model_version = "stand-in-1"

    def suggest(self, request: TaggingRequest) -> Iterator[tagging_pb2.SuggestTagsReply]:
        tags = request.taxonomy
        for module in request.modules:
            digest = hashlib.sha256(f"{module.title}\n{module.description}".encode()).digest()
            count = min(1 + digest[0] % 2, request.max_tags, len(tags))
            picked = [tags[(digest[1] + step * 7) % len(tags)] for step in range(count)]
            chosen = list(dict.fromkeys(tag.tag_id for tag in picked))
            yield tagging_pb2.SuggestTagsReply(
                module_id=module.module_id,
                tags=[
                    tagging_pb2.SuggestedTag(tag_id=tag_id, confidence=0.9 - 0.2 * rank)
                    for rank, tag_id in enumerate(chosen)
                ],
                rationale=f"stand-in: picked by a hash of the text ({', '.join(chosen)})",
                model_version=self.model_version,
            )
