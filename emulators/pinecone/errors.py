"""Error values and the wire shapes Pinecone answers them in.

Pinecone uses three different error shapes, and the SDK (and the sync engine's adapters) see
each of them, so the emulator reproduces all three:

* Data-plane vector operations answer the spec's `rpcStatus` JSON,
  `{"code": <gRPC code>, "message": "...", "details": []}`, with the HTTP status the gateway
  maps that gRPC code to (400 INVALID_ARGUMENT=3, 404 NOT_FOUND=5, 403 PERMISSION_DENIED=7 ...).
  Observed on the real service, e.g. `{"code":3,"message":"Vector dimension 1536 does not match
  the dimension of the index 1024","details":[]}`.
* The authentication and rate-limit layers in front of the data plane answer plain text:
  401 `Unauthorized`, 429 with a `Retry-After` header.
* The control plane answers the control spec's `ErrorResponse`,
  `{"error": {"code": "NOT_FOUND", "message": "..."}, "status": 404}`.
"""

from __future__ import annotations

import math
from enum import IntEnum

import orjson
from aiohttp import web


class GrpcCode(IntEnum):
    """The gRPC status codes the data plane puts in `rpcStatus.code`."""

    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    UNAUTHENTICATED = 16


# HTTP status -> gRPC code, for errors raised by aiohttp itself (unknown route, bad method).
_CODE_FOR_STATUS: dict[int, GrpcCode] = {
    400: GrpcCode.INVALID_ARGUMENT,
    401: GrpcCode.UNAUTHENTICATED,
    403: GrpcCode.PERMISSION_DENIED,
    404: GrpcCode.NOT_FOUND,
    405: GrpcCode.UNIMPLEMENTED,
    409: GrpcCode.ALREADY_EXISTS,
    413: GrpcCode.RESOURCE_EXHAUSTED,
    429: GrpcCode.RESOURCE_EXHAUSTED,
    500: GrpcCode.INTERNAL,
    503: GrpcCode.UNAVAILABLE,
}


def grpc_code_for_status(status: int) -> GrpcCode:
    return _CODE_FOR_STATUS.get(status, GrpcCode.INTERNAL)


class ApiFailure(Exception):
    """A request the data plane rejects; turned into an `rpcStatus` response by the server."""

    def __init__(self, status: int, code: GrpcCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        return rpc_status_response(self.status, self.code, self.message)


def invalid(message: str) -> ApiFailure:
    """400 INVALID_ARGUMENT, the answer to every malformed or over-limit request."""
    return ApiFailure(400, GrpcCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ApiFailure:
    return ApiFailure(404, GrpcCode.NOT_FOUND, message)


class RateLimited(Exception):
    """The rate-limit layer refused a request; `retry_after` is in seconds."""

    def __init__(self, retry_after: float, message: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.message = message

    def response(self) -> web.Response:
        return rate_limited_response(self.retry_after, self.message)


def rpc_status_response(status: int, code: int, message: str) -> web.Response:
    body = orjson.dumps({"code": int(code), "message": message, "details": []})
    return web.Response(status=status, body=body, content_type="application/json")


def unauthorized_response() -> web.Response:
    """The data plane's 401: plain text, exactly as the real gateway answers it."""
    return web.Response(status=401, text="Unauthorized")


def retry_after_header(seconds: float) -> str:
    """`Retry-After` in whole seconds, rounded up (RFC 9110 allows only integers there).

    The SDK would parse a fraction, but other HTTP clients reject one; rounding up never makes
    a well-behaved client retry too early.
    """
    return str(max(1, math.ceil(seconds)))


def rate_limited_response(retry_after: float, message: str) -> web.Response:
    response = web.Response(status=429, text=message)
    response.headers["Retry-After"] = retry_after_header(retry_after)
    return response


def control_error_response(status: int, code: str, message: str) -> web.Response:
    """The control plane's `ErrorResponse` shape (control spec, components.schemas)."""
    body = orjson.dumps({"error": {"code": code, "message": message}, "status": status})
    return web.Response(status=status, body=body, content_type="application/json")
