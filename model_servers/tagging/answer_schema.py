"""The JSON a chat model must answer with, and the strict reading of its answer.

The schema fixes the answer's shape only: which keys, which types, nothing else. Whether a tag
id is in the customer's taxonomy or a confidence lies in [0, 1] is the platform's check on
every backend's output, so a chat model's wrong id or 1.7 reaches those checks as it was
said. An answer that is not JSON of this shape (prose, JSON cut off by a token limit) is
not repaired: the caller reports it as unreadable, with the raw text.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_NAME = "tag_suggestions"

SUGGESTED_TAG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tag_id": {"type": "string"},
        "confidence": {"type": "number"},
    },
    "required": ["tag_id", "confidence"],
    "additionalProperties": False,
}

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "modules": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "module_id": {"type": "string"},
                    "tags": {"type": "array", "items": SUGGESTED_TAG_SCHEMA},
                    "rationale": {"type": "string"},
                },
                "required": ["module_id", "tags", "rationale"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["modules"],
    "additionalProperties": False,
}


def response_format(schema: dict[str, Any] = ANSWER_SCHEMA) -> dict[str, Any]:
    """The chat-completions `response_format` that asks for exactly `schema` (strict mode)."""
    return {
        "type": "json_schema",
        "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": schema},
    }


class UnreadableAnswer(ValueError):
    """The model's text is not JSON of the schema; the message says where it breaks."""


def parse_answer(text: str, schema: dict[str, Any] = ANSWER_SCHEMA) -> dict[str, Any]:
    """The answer as a dict, or UnreadableAnswer. NaN and Infinity are not JSON."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise UnreadableAnswer(f"not JSON: {exc}") from None
    problems = schema_problems(value, schema)
    if problems:
        raise UnreadableAnswer(f"not of the schema: {'; '.join(problems[:5])}")
    return value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def schema_problems(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Where `value` breaks `schema`, for the subset strict mode uses (type, properties,
    required, additionalProperties false, items, enum); empty when it conforms."""
    expected = schema.get("type")
    if expected is not None:
        types = expected if isinstance(expected, list) else [expected]
        allowed = tuple(t for name in types for t in _TYPES[name])
        is_bool = isinstance(value, bool)
        if not isinstance(value, allowed) or (is_bool and "boolean" not in types):
            return [f"{path} is {type(value).__name__}, expected {' or '.join(types)}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path} is {value!r}, not one of {schema['enum']}"]
    problems: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path} lacks {key!r}")
        for key, item in value.items():
            if key in properties:
                problems += schema_problems(item, properties[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{path} has unexpected key {key!r}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += schema_problems(item, schema["items"], f"{path}[{index}]")
    return problems
