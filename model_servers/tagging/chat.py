"""The chat backend: an OpenAI-compatible chat endpoint (vLLM, Ollama, a hosted model) suggests
the tags, choosing from a shortlist the default model draws from the customer's taxonomy.

Sending a shortlist, not the whole taxonomy, keeps the prompt short and the choice easy; the
model still sees each candidate's label, description and aliases. Each request covers one
module or a small batch and asks for a strict JSON schema (answer_schema.py). What comes
back is relayed as the model said it: an unknown id, a confidence of 1.7, a module it was
not asked about all reach the platform's checks. Only an answer that cannot be read as the
schema is not relayed as tags: each of its modules gets a reply with `unreadable_output`
(the raw text, cut to 2,000 characters) and no tags, so the checks can name it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

import openai

from model_servers.tagging.answer_schema import UnreadableAnswer, parse_answer, response_format
from model_servers.tagging.backends import BackendRefused, BackendUnavailable, TaggingRequest
from model_servers.tagging.model import MIN_APPROVED_MODULES, MODEL_VERSION, CustomerModel
from protos import tagging_pb2

UNREADABLE_OUTPUT_CHARS = 2000  # tagging.proto: SuggestTagsReply.unreadable_output
# Stands for an empty answer, so that an unreadable reply is never mistaken for a readable one.
EMPTY_ANSWER = "<empty answer>"

SYSTEM_PROMPT = (
    "You tag training modules of a sales and service training platform so that a customer "
    "can relate training to field performance. For each module you are given its title, "
    "its description and a short list of candidate tags from the customer's taxonomy. "
    "Choose the candidates that describe what the module teaches, at most "
    "max_tags_per_module, best first, each with a confidence between 0 and 1. Use only the "
    "tag_id values listed for that module. If no candidate fits, answer an empty tags list "
    "and say why in the rationale. The rationale is one short sentence. Answer with JSON "
    "only, following the schema."
)


# Statuses an endpoint may answer differently a moment later (the openai client retried them).
TRANSIENT_STATUSES = frozenset({408, 409, 429})


class ChatEndpointError(BackendUnavailable):
    """The chat endpoint could not be reached or kept failing, retries included."""


class ChatEndpointRefused(BackendRefused):
    """The chat endpoint refused the request for good (authentication, unknown model)."""


class ChatBackend:
    """Suggests tags through an OpenAI-compatible chat-completions endpoint."""

    name = "chat"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        *,
        shortlist_size: int = 5,
        batch_size: int = 1,
        concurrency: int = 4,
        timeout_seconds: float = 60.0,
        max_retries: int = 2,
        min_approved: int = MIN_APPROVED_MODULES,
    ) -> None:
        if shortlist_size < 1 or batch_size < 1 or concurrency < 1:
            raise ValueError(
                f"shortlist_size, batch_size and concurrency must be at least 1, got "
                f"{shortlist_size}, {batch_size} and {concurrency}"
            )
        self.base_url = base_url
        self.model = model
        self.shortlist_size = shortlist_size
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.min_approved = min_approved
        # The client retries connection errors, 408, 429 and 5xx with backoff by itself.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout_seconds, max_retries=max_retries
        )
        self.model_version = self._version(MODEL_VERSION)

    def _version(self, shortlist_version: str) -> str:
        """Names the chat model and what drew its shortlist: both change the answers."""
        return f"chat-{self.model}+top{self.shortlist_size}-{shortlist_version}"

    def suggest(self, request: TaggingRequest) -> Iterator[tagging_pb2.SuggestTagsReply]:
        if not request.modules:
            return
        shortlister = CustomerModel(
            request.taxonomy, request.modules, request.approved, min_approved=self.min_approved
        )
        version = self._version(shortlister.model_version)
        tags = {tag.tag_id: tag for tag in request.taxonomy}
        prompts = []
        for start in range(0, len(request.modules), self.batch_size):
            batch = []
            for index in range(start, min(start + self.batch_size, len(request.modules))):
                module = request.modules[index]
                candidates = shortlister.shortlist(index, self.shortlist_size)
                batch.append(
                    {
                        "module_id": module.module_id,
                        "title": module.title,
                        "description": module.description,
                        "candidates": [
                            {
                                "tag_id": tag_id,
                                "label": tags[tag_id].label,
                                "description": tags[tag_id].description,
                                "aliases": list(tags[tag_id].aliases),
                            }
                            for tag_id in candidates
                        ],
                    }
                )
            prompts.append(batch)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="chat")
        futures: list[Future[list[tagging_pb2.SuggestTagsReply]]] = [
            pool.submit(self._ask, request.max_tags, batch, version) for batch in prompts
        ]
        try:
            for future in as_completed(futures):
                yield from future.result()
        finally:
            # The caller may stop early (the client went away): ask nothing more.
            pool.shutdown(wait=False, cancel_futures=True)

    def _ask(
        self, max_tags: int, batch: Sequence[dict[str, object]], version: str
    ) -> list[tagging_pb2.SuggestTagsReply]:
        """One chat request for `batch`; its answer read strictly, relayed as said."""
        module_ids = [str(item["module_id"]) for item in batch]
        prompt = json.dumps(
            {"max_tags_per_module": max_tags, "modules": list(batch)}, ensure_ascii=False
        )
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": prompt},
                ],
                response_format=response_format(),  # type: ignore[arg-type]
                temperature=0,
            )
        except openai.OpenAIError as exc:
            problem = (
                f"chat endpoint {self.base_url} (model {self.model}) failed for modules "
                f"{module_ids[:5]}: {type(exc).__name__}: {exc}"
            )
            status = getattr(exc, "status_code", None)
            if isinstance(status, int) and status < 500 and status not in TRANSIENT_STATUSES:
                raise ChatEndpointRefused(problem) from exc
            raise ChatEndpointError(problem) from exc
        if not completion.choices:
            return _unreadable(module_ids, "", "the chat endpoint answered no choices", version)
        choice = completion.choices[0]
        text = choice.message.content or ""
        refusal = getattr(choice.message, "refusal", None)
        if refusal and not text:
            return _unreadable(module_ids, refusal, "the model refused", version)
        try:
            answer = parse_answer(text)
        except UnreadableAnswer as exc:
            cut = " (the answer hit the token limit)" if choice.finish_reason == "length" else ""
            return _unreadable(module_ids, text, f"{exc}{cut}", version)
        return [
            tagging_pb2.SuggestTagsReply(
                module_id=item["module_id"],
                tags=[
                    tagging_pb2.SuggestedTag(tag_id=tag["tag_id"], confidence=tag["confidence"])
                    for tag in item["tags"]
                ],
                rationale=item["rationale"],
                abstained=not item["tags"],
                model_version=version,
            )
            for item in answer["modules"]
        ]


def _unreadable(
    module_ids: Sequence[str], text: str, problem: str, version: str
) -> list[tagging_pb2.SuggestTagsReply]:
    return [
        tagging_pb2.SuggestTagsReply(
            module_id=module_id,
            rationale=f"the chat model's answer could not be read: {problem}",
            model_version=version,
            unreadable_output=text[:UNREADABLE_OUTPUT_CHARS] or EMPTY_ANSWER,
        )
        for module_id in module_ids
    ]
