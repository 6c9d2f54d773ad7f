"""A small local OpenAI-compatible chat-completions server that tests and demos start, so the
tagger's chat backend talks real HTTP through the official `openai` client.

It answers `POST /v1/chat/completions` the way a structured-output model would: the request
must carry a strict `json_schema` response_format, and the answer is JSON of that schema. The
"model" is the repository's TF-IDF tagger restricted to the candidates the prompt lists, so
its choices are sensible and deterministic. `GET /v1/models` lists the one model.

Faults make it answer like a real model on a bad day, per module (a glob on module ids):
`prose` (an explanation instead of JSON), `truncated-json` (the answer cut off at the token
limit), `unknown-tag` (an id nobody listed), `confidence-out-of-range` (1.7),
`duplicate-tags`, and `http-error` (503, as an overloaded endpoint answers).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from model_servers.tagging.answer_schema import schema_problems
from model_servers.tagging.model import ModuleText, TaxonomyTag, suggest_tags

log = logging.getLogger(__name__)

DEFAULT_MODEL = "fieldwork-tfidf-chat"
FAULT_MODES = (
    "prose",
    "truncated-json",
    "unknown-tag",
    "confidence-out-of-range",
    "duplicate-tags",
    "http-error",
)
INVENTED_TAG_ID = "invented-by-the-model"
OUT_OF_RANGE_CONFIDENCE = 1.7


@dataclass(frozen=True)
class Fault:
    """Answer modules whose id matches `modules` (an fnmatch glob) wrongly, as `mode` says."""

    mode: str
    modules: str = "*"

    @classmethod
    def parse(cls, text: str) -> Fault:
        """`MODE` or `MODE=GLOB`, e.g. `prose=m-2*`."""
        mode, _, modules = text.partition("=")
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; known: {', '.join(FAULT_MODES)}")
        return cls(mode, modules or "*")

    def applies_to(self, module_id: str) -> bool:
        return fnmatch.fnmatchcase(module_id, self.modules)


class RequestRefused(Exception):
    """The request is not one this server can answer; `status` is the HTTP status to send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ChatCompletionsServer(ThreadingHTTPServer):
    """The HTTP server. For tests: `requests` keeps every chat-completions body received,
    `answers` the text answered to each (prose and cut-off JSON as sent) by the index of its
    request in `requests`; `faults` may be replaced between requests (an endpoint that
    recovers)."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        model: str = DEFAULT_MODEL,
        faults: tuple[Fault, ...] = (),
        api_key: str | None = None,
    ) -> None:
        super().__init__(address, _Handler)
        self.model = model
        self.faults = faults
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.answers: dict[int, str] = {}
        self._lock = threading.Lock()
        self._counter = 0

    def record(self, body: dict[str, Any]) -> int:
        with self._lock:
            self.requests.append(body)
            self._counter += 1
            return self._counter

    def answered(self, number: int, text: str) -> None:
        with self._lock:
            self.answers[number - 1] = text

    def faults_for(self, module_ids: list[str]) -> set[str]:
        return {f.mode for f in self.faults if any(f.applies_to(m) for m in module_ids)}

    def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one chat-completions request."""
        number = self.record(body)
        if body.get("model") != self.model:
            raise RequestRefused(404, f"model {body.get('model')!r} not served; try {self.model!r}")
        schema = _strict_schema(body.get("response_format"))
        asked = _tagging_prompt(body.get("messages"))
        module_ids = [str(m.get("module_id")) for m in asked["modules"]]
        modes = self.faults_for(module_ids)
        if "http-error" in modes:
            raise RequestRefused(503, "overloaded (fault http-error)")
        answer = {
            "modules": [
                self._answer_module(module, int(asked.get("max_tags_per_module", 5)))
                for module in asked["modules"]
            ]
        }
        problems = schema_problems(answer, schema)
        if problems:  # a bug of this server: its own answer must fit the schema
            raise RequestRefused(500, f"answer does not fit the schema: {problems[:3]}")
        text = json.dumps(answer, ensure_ascii=False)
        finish_reason = "stop"
        if "prose" in modes:
            chosen = ", ".join(t["tag_id"] for m in answer["modules"] for t in m["tags"])
            text = (
                "Sure! Looking at these training modules, I would tag them with "
                f"{chosen or 'nothing in particular'}, because that is what they teach."
            )
        elif "truncated-json" in modes:
            text, finish_reason = text[: max(1, len(text) // 2)], "length"
        self.answered(number, text)
        return 200, {
            "id": f"chatcmpl-fieldwork-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": len(json.dumps(body)) // 4,
                "completion_tokens": len(text) // 4,
                "total_tokens": (len(json.dumps(body)) + len(text)) // 4,
            },
        }

    def _answer_module(self, module: dict[str, Any], max_tags: int) -> dict[str, Any]:
        """The TF-IDF model's choice among the module's candidates, then this module's faults."""
        module_id = str(module.get("module_id", ""))
        candidates = [
            TaxonomyTag(
                str(c["tag_id"]),
                str(c.get("label", "")),
                str(c.get("description", "")),
                tuple(c.get("aliases", ())),
            )
            for c in module.get("candidates", [])
        ]
        if not candidates:
            return {"module_id": module_id, "tags": [], "rationale": "no candidates were listed"}
        text = ModuleText(
            module_id, str(module.get("title", "")), str(module.get("description", ""))
        )
        [suggestion] = suggest_tags(candidates, [text], max_tags=max(1, max_tags))
        tags = [{"tag_id": t, "confidence": c} for t, c in suggestion.tags]
        modes = self.faults_for([module_id])
        if "unknown-tag" in modes:
            tags.append({"tag_id": INVENTED_TAG_ID, "confidence": 0.8})
        if "confidence-out-of-range" in modes:
            tags = tags or [{"tag_id": candidates[0].tag_id, "confidence": 0.5}]
            tags[0]["confidence"] = OUT_OF_RANGE_CONFIDENCE
        if "duplicate-tags" in modes:
            tags = tags or [{"tag_id": candidates[0].tag_id, "confidence": 0.5}]
            tags.append(dict(tags[0]))
        return {"module_id": module_id, "tags": tags, "rationale": suggestion.rationale}


def _strict_schema(response_format: object) -> dict[str, Any]:
    """The schema of a strict json_schema response_format, or 400."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        raise RequestRefused(400, "response_format must be {'type': 'json_schema', ...}")
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or spec.get("strict") is not True or not spec.get("name"):
        raise RequestRefused(400, "response_format.json_schema needs a name and strict: true")
    schema = spec.get("schema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise RequestRefused(400, "response_format.json_schema.schema must be an object schema")
    return schema


def _tagging_prompt(messages: object) -> dict[str, Any]:
    """The JSON the tagging backend sends as the last user message, or 400."""
    if not isinstance(messages, list) or not messages:
        raise RequestRefused(400, "messages must be a non-empty list")
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise RequestRefused(400, "no user message")
    try:
        asked = json.loads(users[-1].get("content", ""))
    except (TypeError, json.JSONDecodeError) as exc:
        raise RequestRefused(400, f"the user message is not the tagging JSON: {exc}") from None
    if not isinstance(asked, dict) or not isinstance(asked.get("modules"), list):
        raise RequestRefused(400, "the user message has no 'modules' list")
    return asked


class _Handler(BaseHTTPRequestHandler):
    server: ChatCompletionsServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            self._send(404, _error(f"no route {self.path}"))
            return
        self._send(200, {"object": "list", "data": [{"id": self.server.model, "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, _error(f"no route {self.path}"))
            return
        expected = self.server.api_key
        if expected and self.headers.get("Authorization") != f"Bearer {expected}":
            self._send(401, _error("missing or wrong API key"))
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise RequestRefused(400, "the body must be a JSON object")
            status, answer = self.server.complete(body)
        except json.JSONDecodeError as exc:
            status, answer = 400, _error(f"the body is not JSON: {exc}")
        except RequestRefused as exc:
            status, answer = exc.status, _error(str(exc))
        self._send(status, answer)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error"}}


def serve(
    host: str = "127.0.0.1", port: int = 0, **options: Any
) -> tuple[ChatCompletionsServer, int]:
    """Start the server on a daemon thread; returns it and its port. Stop it with
    `server.shutdown(); server.server_close()`. `options`: model, faults, api_key."""
    server = ChatCompletionsServer((host, port), **options)
    threading.Thread(target=server.serve_forever, name="chat-completions", daemon=True).start()
    return server, server.server_address[1]
