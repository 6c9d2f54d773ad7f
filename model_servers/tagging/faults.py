"""Wrong answers on purpose (`--garbage MODE[,MODE]`), so that the platform's checks on the
model's output are tested against a real server that answers wrongly.

Each mode spoils one thing in an otherwise good stream: the tag modes change the first reply
sent, the module modes drop, add or repeat a reply, and cut-short ends the stream with an
error after half the replies. Modes combine.
"""

from __future__ import annotations

from collections.abc import Iterator

from model_servers.tagging.backends import TaggingRequest
from protos import tagging_pb2

GARBAGE_MODES = (
    "unknown-tag",
    "confidence-out-of-range",
    "duplicate-tags",
    "too-many-tags",
    "missing-module",
    "extra-module",
    "repeated-module",
    "cut-short",
)
UNKNOWN_TAG_ID = "not-in-the-taxonomy"
OUT_OF_RANGE_CONFIDENCE = 1.7
EXTRA_MODULE_ID = "module-nobody-asked-for"


class CutShort(Exception):
    """The stream must end here with an error status (garbage mode cut-short)."""


def parse_garbage(text: str) -> tuple[str, ...]:
    """`unknown-tag,cut-short` -> the modes, or ValueError naming the unknown one."""
    modes = tuple(mode.strip() for mode in text.split(",") if mode.strip())
    unknown = [mode for mode in modes if mode not in GARBAGE_MODES]
    if unknown:
        raise ValueError(f"unknown garbage modes {unknown}; known: {', '.join(GARBAGE_MODES)}")
    return modes


def garble(
    replies: Iterator[tagging_pb2.SuggestTagsReply],
    request: TaggingRequest,
    modes: tuple[str, ...],
) -> Iterator[tagging_pb2.SuggestTagsReply]:
    """`replies` spoilt as `modes` say; raises CutShort where the stream must break."""
    if not modes:
        yield from replies
        return
    total = len(request.modules)
    cut_after = (total + 1) // 2 if "cut-short" in modes else None
    last_id = request.modules[-1].module_id if request.modules else None
    sent = 0
    for reply in replies:
        if "missing-module" in modes and reply.module_id == last_id:
            continue
        if sent == 0:
            _spoil_tags(reply, request, modes)
        for _ in range(2 if sent == 0 and "repeated-module" in modes else 1):
            yield reply
        sent += 1
        if cut_after is not None and sent >= cut_after:
            raise CutShort(
                f"stream cut short after {sent} of {total} replies (--garbage cut-short)"
            )
    if "extra-module" in modes:
        yield tagging_pb2.SuggestTagsReply(
            module_id=EXTRA_MODULE_ID,
            tags=[tagging_pb2.SuggestedTag(tag_id=request.taxonomy[0].tag_id, confidence=0.5)],
            rationale="a module nobody asked for (--garbage extra-module)",
            model_version=reply.model_version if sent else "",
        )


def _spoil_tags(
    reply: tagging_pb2.SuggestTagsReply, request: TaggingRequest, modes: tuple[str, ...]
) -> None:
    """Spoil the tags of `reply` in place, as each tag mode asks."""
    first_tag = request.taxonomy[0].tag_id
    if "too-many-tags" in modes:
        del reply.tags[:]
        # One more than allowed; from the taxonomy, so the only fault is the count.
        for tag in request.taxonomy[: request.max_tags + 1]:
            reply.tags.add(tag_id=tag.tag_id, confidence=0.5)
    if "unknown-tag" in modes:
        reply.tags.add(tag_id=UNKNOWN_TAG_ID, confidence=0.9)
    if "confidence-out-of-range" in modes:
        if not reply.tags:
            reply.tags.add(tag_id=first_tag, confidence=0.5)
        reply.tags[0].confidence = OUT_OF_RANGE_CONFIDENCE
    if "duplicate-tags" in modes:
        if not reply.tags:
            reply.tags.add(tag_id=first_tag, confidence=0.5)
        reply.tags.add(tag_id=reply.tags[0].tag_id, confidence=reply.tags[0].confidence)
    if len(reply.tags):
        reply.abstained = False
