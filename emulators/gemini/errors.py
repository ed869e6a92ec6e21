"""Google's JSON error shape, and the messages the emulator answers with.

Google APIs answer errors as `{"error": {"code", "message", "status", "details"?}}`, where
`details` holds typed `google.rpc.*` messages. `google-genai` turns any 4xx into
`errors.ClientError` and any 5xx into `errors.ServerError`, reading `code`, `status` and
`message` from this body (`.details` on the exception is the whole parsed body).

Where a message is quoted from a real Google answer, the comment says where it was seen;
the others are the emulator's own wording, in Google's style (`* Field.path: reason\\n` for
validation failures, `Invalid ... at '...'` for JSON that does not fit the schema).
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from aiohttp import web

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

SERVICE = "generativelanguage.googleapis.com"

# Seen verbatim in answers from generativelanguage.googleapis.com (quoted in public bug reports:
# continuedev/continue#8516, google/timesketch#3703, googleapis/js-genai#898).
API_KEY_INVALID = "API key not valid. Please pass a valid API key."
UNREGISTERED_CALLER = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
# The plain quota message Google sends with 429 (e.g. google/generative-ai-docs#236).
RESOURCE_EXHAUSTED = "Resource has been exhausted (e.g. check quota)."
# Google's wording for 500 and 503 on the Gemini API, as logged in many public projects.
INTERNAL = (
    "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)
UNAVAILABLE = "The model is overloaded. Please try again later."
# Verbatim, trailing newline included, from live answers to batchEmbedContents with > 100
# requests (quoted in weaviate/weaviate#11277 and in several client test suites).
TOO_MANY_REQUESTS_IN_BATCH = (
    "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"
)
# Verbatim from Gemini for an empty input string (lingfengQAQ/webnovel-writer#49/#51).
EMPTY_PART = "EmbedContentRequest.content contains an empty Part."


class GoogleError(Exception):
    """An error answer in Google's shape; raised inside handlers, rendered by `response()`."""

    def __init__(
        self,
        code: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def response(self) -> web.Response:
        return error_response(self.code, self.message, self.details, self.headers)


def error_body(code: int, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return orjson.dumps({"error": error}, option=orjson.OPT_INDENT_2)


def error_response(
    code: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        status=code,
        body=error_body(code, message, details),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def fault_response(status: int) -> web.Response:
    """Body for an injected fault (`fault_middleware` calls this with 500, 503 or 429)."""
    if status == 429:
        return error_response(429, RESOURCE_EXHAUSTED, [retry_info(1.0)])
    return error_response(status, INTERNAL if status == 500 else UNAVAILABLE)


def bad_request(message: str, field: str | None = None) -> GoogleError:
    """400 INVALID_ARGUMENT; with `field`, a `google.rpc.BadRequest` naming it, as Google adds
    to its JSON-parsing errors."""
    details = None
    if field is not None:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        ]
    return GoogleError(400, message, details)


def invalid_api_key() -> GoogleError:
    """The exact body Google answers for an unknown key (400, not 401 or 403)."""
    return GoogleError(
        400,
        API_KEY_INVALID,
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": SERVICE},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": API_KEY_INVALID,
            },
        ],
    )


def missing_api_key() -> GoogleError:
    return GoogleError(403, UNREGISTERED_CALLER)


def model_not_found(model: str, api_version: str, method: str) -> GoogleError:
    # Wording of a live 404 for a retired model called through batchEmbedContents, which names
    # "embedContent" even for the batch method (quoted in a client's test suite).
    return GoogleError(
        404,
        f"models/{model} is not found for API version {api_version}, or is not supported for "
        f"{method}. Call ModelService.ListModels to see the list of available models and their "
        "supported methods.",
    )


def retry_info(seconds: float) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds:g}s"}


def rate_limited(wait: float, model: str, per: str, limit: float) -> GoogleError:
    """429 with the hints a careful client can honour (the SDK itself ignores both).

    `Retry-After` is whole seconds (HTTP allows no fraction); `RetryInfo.retryDelay` is the same
    value as a protobuf Duration. The `QuotaFailure` names which budget ran out; its metric
    names are the emulator's own, modelled on Google's `generate_content_*` ones.
    """
    seconds = max(1, math.ceil(wait))
    metric = "embed_content_requests" if per == "requests" else "embed_content_input_token_count"
    quota_id = (
        "EmbedContentRequestsPerMinutePerProjectPerModel"
        if per == "requests"
        else "EmbedContentInputTokensPerModelPerMinute"
    )
    return GoogleError(
        429,
        RESOURCE_EXHAUSTED,
        [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": f"{SERVICE}/{metric}",
                        "quotaId": quota_id,
                        "quotaDimensions": {"location": "global", "model": model},
                        "quotaValue": str(int(limit)),
                    }
                ],
            },
            retry_info(seconds),
        ],
        headers={"Retry-After": str(seconds)},
    )
