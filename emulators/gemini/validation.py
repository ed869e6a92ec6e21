"""Parse and check embed request bodies the way Google's front end does, one field at a time.

Google reads request JSON with the protobuf JSON parser, so the emulator follows its rules:
field names may be camelCase or snake_case, `null` means "not set", an unknown field name is an
error (which is what catches a client that misspells `outputDimensionality`), enums may be given
by name or number, and integers may be JSON numbers or numeric strings.

Wire shapes (observed from google-genai 3.6.1):

    batchEmbedContents  {"requests": [EmbedContentRequest, ...]}  -> {"embeddings": [{"values"}]}
    embedContent        EmbedContentRequest                        -> {"embedding": {"values"}}
    EmbedContentRequest {"model": "models/<id>", "content": {"parts": [{"text": ...}], "role"},
                         "taskType", "title", "outputDimensionality"}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .embedding import ModelSpec
from .errors import EMPTY_PART, TOO_MANY_REQUESTS_IN_BATCH, GoogleError, bad_request

MAX_BATCH = 100
"""Google's cap on requests in one batchEmbedContents call (the SDK does not split)."""

# google.ai.generativelanguage TaskType. CODE_RETRIEVAL_QUERY is documented for
# gemini-embedding-001 by name only, so it is accepted by name only.
TASK_TYPES: dict[str, int | None] = {
    "TASK_TYPE_UNSPECIFIED": 0,
    "RETRIEVAL_QUERY": 1,
    "RETRIEVAL_DOCUMENT": 2,
    "SEMANTIC_SIMILARITY": 3,
    "CLASSIFICATION": 4,
    "CLUSTERING": 5,
    "QUESTION_ANSWERING": 6,
    "FACT_VERIFICATION": 7,
    "CODE_RETRIEVAL_QUERY": None,
}
_TASK_TYPE_BY_NUMBER = {number: name for name, number in TASK_TYPES.items() if number is not None}

# Canonical (snake_case) field name for each accepted JSON spelling.
_REQUEST_FIELDS = {
    "model": "model",
    "content": "content",
    "taskType": "task_type",
    "task_type": "task_type",
    "title": "title",
    "outputDimensionality": "output_dimensionality",
    "output_dimensionality": "output_dimensionality",
}
_BATCH_FIELDS = {"requests": "requests", "model": "model"}
_CONTENT_FIELDS = {"parts": "parts", "role": "role"}
# Part's `data` oneof members that are not text: a text-only embedding model cannot take them.
_NON_TEXT_DATA = (
    "inlineData",
    "inline_data",
    "fileData",
    "file_data",
    "functionCall",
    "function_call",
    "functionResponse",
    "function_response",
    "executableCode",
    "executable_code",
    "codeExecutionResult",
    "code_execution_result",
)


@dataclass(frozen=True)
class EmbedItem:
    """One text to embed, after validation. `text` is the parts joined, not yet truncated."""

    text: str
    dimension: int
    task_type: str | None


def _json_repr(value: Any) -> str:
    return orjson.dumps(value).decode()


def _type_url(api_version: str, message: str) -> str:
    return f"type.googleapis.com/google.ai.generativelanguage.{api_version}.{message}"


def _invalid_value(path: str, type_name: str, value: Any) -> GoogleError:
    # Google's protobuf-JSON wording, e.g.
    # Invalid value at 'requests[0].task_type' (type.googleapis.com/...TaskType), "BOGUS"
    return bad_request(f"Invalid value at '{path}' ({type_name}), {_json_repr(value)}", path)


def _fields(obj: dict[str, Any], allowed: dict[str, str], path: str) -> dict[str, Any]:
    """Map JSON keys to canonical names, refusing unknown ones and dropping nulls."""
    found: dict[str, Any] = {}
    for key, value in obj.items():
        name = allowed.get(key)
        if name is None:
            where = f" at '{path}'" if path else ""
            raise bad_request(
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.',
                path or None,
            )
        if value is not None:
            found[name] = value
    return found


def load_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request("Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(data, dict):
        raise bad_request("Invalid JSON payload received. Root element must be a message.")
    return data


def parse_batch(body: bytes, spec: ModelSpec, api_version: str) -> list[EmbedItem]:
    """Validate a batchEmbedContents body; raises `GoogleError` (400) on the first problem."""
    fields = _fields(load_json(body), _BATCH_FIELDS, "")
    requests = fields.get("requests", [])
    if not isinstance(requests, list):
        raise _invalid_value("requests", _type_url(api_version, "EmbedContentRequest"), requests)
    if not requests:
        raise bad_request("* BatchEmbedContentsRequest.requests: requests must not be empty\n")
    if len(requests) > MAX_BATCH:
        raise bad_request(TOO_MANY_REQUESTS_IN_BATCH)
    return [
        _parse_request(
            request,
            spec,
            api_version,
            json_path=f"requests[{index}]",
            label=f"BatchEmbedContentsRequest.requests[{index}]",
            model_required=True,
        )
        for index, request in enumerate(requests)
    ]


def parse_single(body: bytes, spec: ModelSpec, api_version: str) -> EmbedItem:
    """Validate an embedContent body (the model comes from the URL; `model` is optional)."""
    return _parse_request(
        load_json(body),
        spec,
        api_version,
        json_path="",
        label="EmbedContentRequest",
        model_required=False,
    )


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _parse_request(
    request: Any,
    spec: ModelSpec,
    api_version: str,
    *,
    json_path: str,
    label: str,
    model_required: bool,
) -> EmbedItem:
    if not isinstance(request, dict):
        raise _invalid_value(
            json_path or "request", _type_url(api_version, "EmbedContentRequest"), request
        )
    fields = _fields(request, _REQUEST_FIELDS, json_path)
    _check_model(fields.get("model"), spec, json_path, label, model_required)
    text = _content_text(fields.get("content"), api_version, json_path, label)
    task_type = _task_type(fields.get("task_type"), api_version, json_path)
    title = fields.get("title")
    if title is not None and not isinstance(title, str):
        raise _invalid_value(_join(json_path, "title"), "TYPE_STRING", title)
    dimension = _dimension(fields.get("output_dimensionality"), spec, json_path, label)
    return EmbedItem(text=text, dimension=dimension, task_type=task_type)


def _check_model(model: Any, spec: ModelSpec, json_path: str, label: str, required: bool) -> None:
    if model is None:
        if required:
            # Google needs the model in every batch entry (the Dart SDK learnt this the hard way).
            raise bad_request(f"* {label}.model: model is required\n")
        return
    if not isinstance(model, str):
        raise _invalid_value(_join(json_path, "model"), "TYPE_STRING", model)
    name = model.removeprefix("models/")
    if name != spec.name:
        raise bad_request(
            f"* {label}.model: {model} does not match the model in the request URL "
            f"(models/{spec.name})\n"
        )


def _content_text(content: Any, api_version: str, json_path: str, label: str) -> str:
    content_path = _join(json_path, "content")
    if content is None:
        raise bad_request(f"* {label}.content: content is required\n")
    if not isinstance(content, dict):
        raise _invalid_value(content_path, _type_url(api_version, "Content"), content)
    parts = _fields(content, _CONTENT_FIELDS, content_path).get("parts", [])
    if not isinstance(parts, list):
        raise _invalid_value(_join(content_path, "parts"), _type_url(api_version, "Part"), parts)
    if not parts:
        # Google's wording for the same mistake in generateContent.
        raise bad_request(f"* {label}.content.parts: contents.parts must not be empty.\n")
    texts: list[str] = []
    for index, part in enumerate(parts):
        part_path = f"{content_path}.parts[{index}]"
        if not isinstance(part, dict):
            raise _invalid_value(part_path, _type_url(api_version, "Part"), part)
        text = part.get("text")
        if text is None:
            if any(part.get(name) is not None for name in _NON_TEXT_DATA):
                raise bad_request(
                    f"* {label}.content.parts[{index}]: only text parts can be embedded by "
                    "this model\n"
                )
            # Google's wording for a part that carries no data at all.
            raise bad_request(
                f"* {label}.content.parts[{index}].data: required oneof field 'data' must have "
                "one initialized field\n"
            )
        if not isinstance(text, str):
            raise _invalid_value(f"{part_path}.text", "TYPE_STRING", text)
        if not text:
            raise bad_request(EMPTY_PART, f"{part_path}.text")
        texts.append(text)
    # Parts are concatenated without a separator: a text split into parts embeds like the whole.
    return "".join(texts)


def _task_type(value: Any, api_version: str, json_path: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value in TASK_TYPES:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value in _TASK_TYPE_BY_NUMBER:
        return _TASK_TYPE_BY_NUMBER[value]
    raise _invalid_value(_join(json_path, "task_type"), _type_url(api_version, "TaskType"), value)


def _dimension(value: Any, spec: ModelSpec, json_path: str, label: str) -> int:
    if value is None:
        return spec.dimension
    path = _join(json_path, "output_dimensionality")
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            number = None
    if number is None or not -(2**31) <= number < 2**31:
        raise _invalid_value(path, "TYPE_INT32", value)
    if not spec.min_dimension <= number <= spec.dimension:
        raise bad_request(
            f"* {label}.output_dimensionality: output_dimensionality must be between "
            f"{spec.min_dimension} and {spec.dimension} for models/{spec.name}, got {number}\n"
        )
    return number
