"""The aiohttp applications: one control plane, and one data plane per index.

Request pipeline of a data plane (outermost first), and why in that order:

1. `_observe` counts the request before anything can reject it (so `writes_received` proves
   whether a write ever reached the port), reads the body once and decodes it, which tells
   which namespace the request is for.
2. latency (``--latency-ms``), then fault injection (``--fault-rate``: 500/503/429 or a dropped
   connection), both from `emulators._runtime`, as the network and the service's front end
   would add them before authentication.
3. `_auth`: missing/unknown `Api-Key` -> 401 plain text `Unauthorized`; a read-only key
   attempting a write -> 403 `rpcStatus` PERMISSION_DENIED.
4. `_errors` turns `ApiFailure` / `RateLimited` / aiohttp's own errors into the service's
   shapes; the handlers then apply the rate limit (plain-text 429 + `Retry-After`), the
   request-size limit and validation, in that order, and only then touch the store.

Everything under `/_emulator/` bypasses 1-4 (see `emulators.pinecone.stats`). A body over
8 MB (`_runtime.CLIENT_MAX_SIZE`) is refused with 413 by step 1 itself, as a front proxy would,
before authentication; the upsert limit proper (2 MB) is the handler's.

`X-Pinecone-Api-Version`: the data-plane operations emulated here have the same wire shape in
2026-04 and 2026-07, so any value (or none) is served alike; the control plane answers the
version-specific `IndexModel` (see `IndexDescription.model`).
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import orjson
from aiohttp import web

from emulators._runtime import (
    CLIENT_MAX_SIZE,
    Handler,
    RateLimiter,
    fault_middleware,
    latency_middleware,
)
from emulators.pinecone.errors import (
    ApiFailure,
    GrpcCode,
    RateLimited,
    control_error_response,
    grpc_code_for_status,
    invalid,
    not_found,
    rpc_status_response,
    unauthorized_response,
)
from emulators.pinecone.filters import FilterError, Predicate, compile_filter
from emulators.pinecone.stats import WRITE_OPERATIONS, StatsRegistry
from emulators.pinecone.store import IndexData, NamespaceData, Record, Sparse
from emulators.pinecone.validation import (
    DEFAULT_NAMESPACE_ALIAS,
    FETCH_BY_METADATA_LIMIT_MAX,
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    MAX_DELETE_IDS,
    MAX_FETCH_IDS,
    MAX_TOP_K,
    MAX_UPSERT_BODY_BYTES,
    MAX_VECTORS_PER_UPSERT,
    NAMESPACE_LIMIT_MAX,
    ZERO_EPSILON,
    CreateNamespaceIn,
    DeleteIn,
    DescribeStatsIn,
    FetchByMetadataIn,
    QueryIn,
    SparseValuesIn,
    UpdateIn,
    UpsertIn,
    VectorIn,
    canonical_namespace,
    check_id,
    check_namespace_name,
    check_sparse,
    decode_body,
    decode_token,
    display_namespace,
    echo,
    encode_token,
    encoded_metadata,
    id_problem,
    normalize_metadata,
    parse_limit,
    record_ref,
)

logger = logging.getLogger(__name__)

EMULATOR_PREFIX = "/_emulator/"

# Long enough for a fetch of 1,000 IDs of 512 characters each in the query string.
MAX_REQUEST_LINE = 1024 * 1024
RUNNER_OPTIONS: dict[str, Any] = {
    "max_line_size": MAX_REQUEST_LINE,
    "max_field_size": 64 * 1024,
    "shutdown_timeout": 1.0,
}

_NUMPY = orjson.OPT_SERIALIZE_NUMPY

# --- rate limits ----------------------------------------------------------------------------

#: Pinecone serverless defaults (FACTS.md / docs). `delete` and `namespaces` are not published
#: for serverless REST; these are conservative choices of the same order.
DEFAULT_RATE_LIMITS: dict[str, float | None] = {
    "fetch": 100.0,  # requests/s per index
    "list": 200.0,  # requests/s per index
    "upsert": 100.0,  # requests/s per namespace
    "upsert_bytes": 50.0 * 1024 * 1024,  # bytes/s per namespace
    "update": 100.0,  # requests/s per namespace
    "query": 100.0,  # requests/s per namespace
    "delete": 100.0,  # requests/s per namespace (emulator's choice)
    "describe_index_stats": 100.0,  # requests/s per index
    "fetch_by_metadata": 100.0,  # requests/s per index (emulator's choice)
    "namespaces": 50.0,  # list/describe/create/delete namespace, requests/s per index (choice)
}
PER_NAMESPACE_LIMITS = frozenset({"upsert", "upsert_bytes", "update", "query", "delete"})

# Operation -> the rate limit that governs it.
_LIMIT_FOR_OP = {
    "list": "list",
    "fetch": "fetch",
    "fetch_by_metadata": "fetch_by_metadata",
    "upsert": "upsert",
    "update": "update",
    "delete": "delete",
    "query": "query",
    "describe_index_stats": "describe_index_stats",
    "list_namespaces": "namespaces",
    "describe_namespace": "namespaces",
    "create_namespace": "namespaces",
    "delete_namespace": "namespaces",
}

_DECODERS: dict[str, type[msgspec.Struct]] = {
    "upsert": UpsertIn,
    "update": UpdateIn,
    "delete": DeleteIn,
    "query": QueryIn,
    "describe_index_stats": DescribeStatsIn,
    "create_namespace": CreateNamespaceIn,
    "fetch_by_metadata": FetchByMetadataIn,
}


@dataclass(frozen=True)
class AccessPolicy:
    """Which `Api-Key` values are accepted. With no keys configured, any non-empty key is."""

    read_write: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()

    @property
    def open(self) -> bool:
        return not self.read_write and not self.read_only

    def accepts(self, key: str | None) -> bool:
        if not key:
            return False
        return self.open or key in self.read_write or key in self.read_only

    def may_write(self, key: str) -> bool:
        return key not in self.read_only or key in self.read_write


@dataclass
class ServerSettings:
    """What every plane of one emulator shares."""

    access: AccessPolicy
    stats: StatsRegistry
    limiter: RateLimiter
    rate_limits: dict[str, float | None]
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    emulator_routes: list[tuple[str, str, Handler]] = field(default_factory=list)


class _InjectedFault(web.Response):
    """A response produced by fault injection, so `_observe` can count it."""


@dataclass(slots=True)
class _Context:
    op: str
    namespace: str | None
    body: bytes
    payload: Any = None
    decode_error: ApiFailure | None = None

    def require_payload(self) -> Any:
        if self.decode_error is not None:
            raise self.decode_error
        return self.payload


_CTX = web.RequestKey("pinecone_emulator_context", _Context)


def _ctx(request: web.Request) -> _Context:
    return request[_CTX]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(data, option=_NUMPY), content_type="application/json"
    )


def _api_only(middleware: Any) -> Any:
    """Apply a shared middleware to API paths only, never to `/_emulator/`."""

    @web.middleware
    async def gated(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(EMULATOR_PREFIX):
            return await handler(request)
        response: web.StreamResponse = await middleware(request, handler)
        return response

    return gated


def _body_size(response: web.StreamResponse) -> int:
    body = getattr(response, "body", None)
    return len(body) if isinstance(body, bytes | bytearray) else 0


def _filter(flt: Any) -> Predicate | None:
    try:
        return compile_filter(flt)
    except FilterError as exc:
        raise invalid(f"Invalid filter: {exc}") from exc


def _check_values(values: list[float], dimension: int, vector_id: str) -> np.ndarray:
    """One dense vector as float32, refusing a wrong width, non-finite or all-zero values."""
    if len(values) != dimension:
        raise invalid(
            f"Vector dimension {len(values)} does not match the dimension of the index "
            f"{dimension} ({record_ref(vector_id)})"
        )
    row = np.asarray(values, dtype=np.float32)
    if not np.isfinite(row).all():
        raise invalid(f"Vector values must be finite 32-bit floats ({record_ref(vector_id)})")
    if (np.abs(row) < ZERO_EPSILON).all():
        raise invalid(
            "Dense vectors must contain at least one non-zero value. "
            f"Vector ID {echo(vector_id)} contains only zeros"
        )
    return row


def _sparse_tuple(sparse: SparseValuesIn | None) -> Sparse | None:
    if sparse is None:
        return None
    return (list(sparse.indices), [float(v) for v in sparse.values])


class DataPlane:
    """The data-plane application of one index."""

    def __init__(
        self,
        index: IndexData,
        settings: ServerSettings,
        *,
        fault_rng: random.Random,
        latency_rng: random.Random,
    ) -> None:
        self.index = index
        self.settings = settings
        self._fault_rng = fault_rng
        self._latency_rng = latency_rng
        self._ops: dict[Any, str] = {}
        self._request_ids = itertools.count(1)

    # --- application --------------------------------------------------------------------

    def app(self) -> web.Application:
        settings = self.settings
        middlewares = [
            self._observe,
            _api_only(latency_middleware(settings.latency_ms, rng=self._latency_rng)),
            _api_only(
                fault_middleware(settings.fault_rate, self._fault_response, rng=self._fault_rng)
            ),
            self._auth,
            self._errors,
        ]
        app = web.Application(middlewares=middlewares, client_max_size=CLIENT_MAX_SIZE)
        routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]], str]] = [
            ("GET", "/vectors/list", self._list, "list"),
            ("GET", "/vectors/fetch", self._fetch, "fetch"),
            ("POST", "/vectors/fetch_by_metadata", self._fetch_by_metadata, "fetch_by_metadata"),
            ("POST", "/vectors/upsert", self._upsert, "upsert"),
            ("POST", "/vectors/update", self._update, "update"),
            ("POST", "/vectors/delete", self._delete, "delete"),
            ("POST", "/query", self._query, "query"),
            ("POST", "/describe_index_stats", self._describe_stats, "describe_index_stats"),
            # Clients before API 2024-07 used GET; it answers the same.
            ("GET", "/describe_index_stats", self._describe_stats, "describe_index_stats"),
            ("GET", "/namespaces", self._list_namespaces, "list_namespaces"),
            ("POST", "/namespaces", self._create_namespace, "create_namespace"),
            ("GET", "/namespaces/{namespace}", self._describe_namespace, "describe_namespace"),
            ("DELETE", "/namespaces/{namespace}", self._delete_namespace, "delete_namespace"),
        ]
        for method, path, handler, op in routes:
            route = app.router.add_route(method, path, handler)
            self._ops[route] = op
        for method, path, handler in settings.emulator_routes:
            app.router.add_route(method, path, handler)
        return app

    def _fault_response(self, status: int) -> web.StreamResponse:
        if status == 429:
            return _InjectedFault(status=429, text="Too Many Requests (injected fault)")
        body = orjson.dumps(
            {
                "code": int(grpc_code_for_status(status)),
                "message": f"Injected fault: HTTP {status}",
                "details": [],
            }
        )
        return _InjectedFault(status=status, body=body, content_type="application/json")

    # --- middlewares --------------------------------------------------------------------

    @web.middleware
    async def _observe(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(EMULATOR_PREFIX):
            return await handler(request)
        stats, name = self.settings.stats, self.index.name
        op = self._ops.get(request.match_info.route, "other")
        body = b""
        too_large: ApiFailure | None = None
        if request.body_exists:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge as exc:
                too_large = ApiFailure(
                    413, GrpcCode.RESOURCE_EXHAUSTED, f"Request body is too large: {exc.text}"
                )
        ctx = _Context(op=op, namespace=self._namespace_of(request, op), body=body)
        decoder = _DECODERS.get(op)
        if decoder is not None and too_large is None:
            if op == "upsert" and len(body) > MAX_UPSERT_BODY_BYTES:
                pass  # answered 413 by the handler; decoding it would be wasted work
            else:
                try:
                    ctx.payload = decode_body(body, decoder)
                except ApiFailure as failure:
                    ctx.decode_error = failure
                ctx.namespace = self._namespace_of(request, op, ctx.payload)
        request[_CTX] = ctx
        namespace = ctx.namespace
        bytes_in = len(body) or (request.content_length or 0)
        stats.request(name, namespace, op, bytes_in, write=op in WRITE_OPERATIONS)
        try:
            if too_large is not None:
                response: web.StreamResponse = too_large.response()
            else:
                response = await handler(request)
        except ConnectionResetError:
            # fault_middleware's "dropped connection": the socket is already aborted. Returning
            # a placeholder (rather than re-raising) keeps aiohttp from logging a traceback for
            # every injected fault: writing it fails with a ConnectionError that aiohttp
            # ignores, and the client sees the connection close without an answer.
            stats.add(name, namespace, faults_injected=1)
            return web.Response(status=503, text="connection dropped (injected fault)")
        if isinstance(response, _InjectedFault):
            stats.add(name, namespace, faults_injected=1)
        response.headers["x-pinecone-request-id"] = str(next(self._request_ids))
        stats.response(name, namespace, response.status, _body_size(response))
        return response

    def _namespace_of(self, request: web.Request, op: str, payload: Any = None) -> str | None:
        if op in ("list", "fetch"):
            return canonical_namespace(request.query.get("namespace", ""))
        if op in ("describe_namespace", "delete_namespace"):
            return canonical_namespace(request.match_info.get("namespace", ""))
        if op == "create_namespace":
            return payload.name if isinstance(payload, CreateNamespaceIn) else None
        if (
            op in ("upsert", "update", "delete", "query", "fetch_by_metadata")
            and payload is not None
        ):
            return canonical_namespace(payload.namespace)
        return None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(EMULATOR_PREFIX):
            return await handler(request)
        access = self.settings.access
        key = request.headers.get("Api-Key")
        if key is None or not access.accepts(key):
            return unauthorized_response()
        op = _ctx(request).op
        if op in WRITE_OPERATIONS and not access.may_write(key):
            return rpc_status_response(
                403,
                GrpcCode.PERMISSION_DENIED,
                f"Forbidden: this API key is read-only and cannot perform {op}",
            )
        return await handler(request)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiFailure as failure:
            return failure.response()
        except RateLimited as limited:
            return limited.response()
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return rpc_status_response(exc.status, grpc_code_for_status(exc.status), exc.reason)
        except Exception as exc:
            logger.exception(
                "pinecone emulator: internal error on %s %s", request.method, request.path
            )
            return rpc_status_response(500, GrpcCode.INTERNAL, f"Internal error: {exc!r}")

    # --- shared steps -------------------------------------------------------------------

    def _throttle(self, ctx: _Context, cost_bytes: int = 0) -> None:
        """Apply the operation's rate limit(s); raises `RateLimited` (429 + Retry-After)."""
        limit = _LIMIT_FOR_OP.get(ctx.op)
        if limit is None:
            return
        limits = self.settings.rate_limits
        checks: list[tuple[str, float]] = [(limit, 1.0)]
        if ctx.op == "upsert":
            checks.append(("upsert_bytes", float(cost_bytes)))
        for name, cost in checks:
            rate = limits.get(name)
            if rate is None:
                continue
            scope = ctx.namespace if name in PER_NAMESPACE_LIMITS else None
            wait = self.settings.limiter.take((self.index.name, scope, name), rate, cost)
            if wait > 0:
                self.settings.stats.add(self.index.name, ctx.namespace, rate_limited=1)
                where = "per namespace" if name in PER_NAMESPACE_LIMITS else "per index"
                unit = (
                    f"{rate / (1024 * 1024):g} MB of request bodies per second"
                    if name == "upsert_bytes"
                    else f"{rate:g} requests per second"
                )
                raise RateLimited(
                    wait,
                    f"Too Many Requests: {ctx.op} is limited to {unit} {where} on index "
                    f"{self.index.name!r}. Retry after {wait:.2f} s.",
                )

    def _namespace_data(self, namespace: str) -> NamespaceData | None:
        return self.index.namespace(namespace)

    def _count(self, ctx: _Context, **amounts: int) -> None:
        self.settings.stats.add(self.index.name, ctx.namespace, **amounts)

    # --- vectors ------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        self._throttle(ctx)
        query = request.query
        namespace = ctx.namespace or ""
        check_namespace_name(namespace)
        limit = parse_limit(query.get("limit"), default=LIST_LIMIT_DEFAULT, maximum=LIST_LIMIT_MAX)
        prefix = query.get("prefix", "")
        token = query.get("paginationToken")
        after = decode_token(token) if token else None
        data = self._namespace_data(namespace)
        ids, more = data.page(prefix, after, limit) if data is not None else ([], False)
        body: dict[str, Any] = {
            "vectors": [{"id": vector_id} for vector_id in ids],
            "namespace": namespace,
            "usage": {"readUnits": 1},
        }
        if more:
            body["pagination"] = {"next": encode_token(ids[-1])}
        self._count(ctx, vectors_read=len(ids))
        return _json(body)

    def _vector_body(self, data: NamespaceData, slot: int) -> dict[str, Any]:
        body: dict[str, Any] = {"id": data.record_id(slot), "values": data.values(slot)}
        sparse = data.sparse(slot)
        if sparse is not None:
            body["sparseValues"] = {"indices": sparse[0], "values": sparse[1]}
        encoded = data.metadata_json(slot)
        if encoded is not None:
            # Already-encoded JSON, spliced in as is: metadata is never re-serialized on reads.
            body["metadata"] = orjson.Fragment(encoded)
        return body

    async def _fetch(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        self._throttle(ctx)
        ids = request.query.getall("ids", [])
        if not ids:
            raise invalid("No IDs provided: pass 1 to 1000 IDs as repeated `ids` parameters")
        if len(ids) > MAX_FETCH_IDS:
            raise invalid(
                f"Too many IDs: fetch accepts at most {MAX_FETCH_IDS} IDs per request, "
                f"got {len(ids)}"
            )
        for vector_id in ids:
            check_id(vector_id)
        namespace = ctx.namespace or ""
        check_namespace_name(namespace)
        data = self._namespace_data(namespace)
        vectors: dict[str, Any] = {}
        if data is not None:
            for vector_id in ids:
                slot = data.slot(vector_id)
                if slot is not None and vector_id not in vectors:
                    vectors[vector_id] = self._vector_body(data, slot)
        self._count(ctx, vectors_read=len(vectors))
        return _json(
            {
                "vectors": vectors,
                "namespace": namespace,
                "usage": {"readUnits": max(1, -(-len(vectors) // 10))},
            }
        )

    async def _fetch_by_metadata(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        self._throttle(ctx)
        payload: FetchByMetadataIn = ctx.require_payload()
        check_namespace_name(payload.namespace)
        if not 1 <= payload.limit <= FETCH_BY_METADATA_LIMIT_MAX:
            raise invalid(
                f"Invalid value for limit: {payload.limit}, it must be between 1 and "
                f"{FETCH_BY_METADATA_LIMIT_MAX}"
            )
        if not payload.filter:
            raise invalid("Empty filter provided for fetch by metadata request")
        predicate = _filter(payload.filter)
        assert predicate is not None
        after = decode_token(payload.pagination_token) if payload.pagination_token else None
        namespace = ctx.namespace or ""
        data = self._namespace_data(namespace)
        vectors: dict[str, Any] = {}
        more = False
        last = ""
        if data is not None:
            for vector_id in data.ids_from(after, inclusive=False):
                slot = data.slot(vector_id)
                if slot is None or not predicate(data.metadata(slot)):
                    continue
                if len(vectors) == payload.limit:
                    more = True
                    break
                vectors[vector_id] = self._vector_body(data, slot)
                last = vector_id
        body: dict[str, Any] = {
            "vectors": vectors,
            "namespace": namespace,
            "usage": {"readUnits": max(1, -(-len(vectors) // 10))},
        }
        if more:
            body["pagination"] = {"next": encode_token(last)}
        self._count(ctx, vectors_read=len(vectors))
        return _json(body)

    def _prepare_upsert(self, vectors: list[VectorIn]) -> tuple[list[Record], np.ndarray]:
        """Validate every vector before anything is written; the first offender is reported."""
        dimension, metric = self.index.dimension, self.index.metric
        records: list[Record] = []
        failure: ApiFailure | None = None
        for vector in vectors:
            try:
                problem = id_problem(vector.id)
                if problem is not None:
                    raise invalid(f"{problem} (vector #{len(records)} in the request)")
                where = record_ref(vector.id)
                if len(vector.values) != dimension:
                    raise invalid(
                        f"Vector dimension {len(vector.values)} does not match the dimension "
                        f"of the index {dimension} ({where})"
                    )
                if vector.sparse_values is not None:
                    check_sparse(vector.sparse_values, where, metric)
                metadata = normalize_metadata(vector.metadata, where) if vector.metadata else None
                encoded = encoded_metadata(metadata, where)
            except ApiFailure as exc:
                failure = exc
                break
            records.append(
                Record(vector.id, metadata, encoded, _sparse_tuple(vector.sparse_values))
            )
        valid = len(records)
        matrix = np.array([vector.values for vector in vectors[:valid]], dtype=np.float32).reshape(
            valid, dimension
        )
        bad = ~np.isfinite(matrix).all(axis=1) | (np.abs(matrix) < ZERO_EPSILON).all(axis=1)
        if bad.any():
            position = int(np.argmax(bad))
            where = record_ref(records[position].id)
            if not np.isfinite(matrix[position]).all():
                raise invalid(f"Vector values must be finite 32-bit floats ({where})")
            raise invalid(
                "Dense vectors must contain at least one non-zero value. "
                f"Vector ID {echo(records[position].id)} contains only zeros"
            )
        if failure is not None:
            raise failure
        if len({r.id for r in records}) != len(records):
            # The same ID twice in one request: the later one wins, as it would in two requests.
            last = {r.id: position for position, r in enumerate(records)}
            keep = sorted(last.values())
            records = [records[position] for position in keep]
            matrix = matrix[keep]
        return records, matrix

    async def _upsert(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        if len(ctx.body) > MAX_UPSERT_BODY_BYTES:
            raise ApiFailure(
                413,
                GrpcCode.RESOURCE_EXHAUSTED,
                f"Your request is larger than the maximum supported size - 2MB "
                f"({len(ctx.body)} bytes > {MAX_UPSERT_BODY_BYTES} bytes). Please try to "
                "reduce your batch size.",
            )
        self._throttle(ctx, cost_bytes=len(ctx.body))
        payload: UpsertIn = ctx.require_payload()
        check_namespace_name(payload.namespace)
        count = len(payload.vectors)
        if count == 0:
            raise invalid("Upsert request must contain at least 1 vector")
        if count > MAX_VECTORS_PER_UPSERT:
            raise invalid(
                f"Upsert request contains {count} vectors, more than the maximum of "
                f"{MAX_VECTORS_PER_UPSERT} per request"
            )
        records, matrix = self._prepare_upsert(payload.vectors)
        self.index.upsert(ctx.namespace or "", records, matrix)
        self._count(ctx, vectors_written=len(records))
        return _json({"upsertedCount": count})

    async def _update(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        self._throttle(ctx)
        payload: UpdateIn = ctx.require_payload()
        check_namespace_name(payload.namespace)
        if payload.id is not None and payload.filter is not None:
            raise invalid("Exactly one of id or filter must be provided, not both")
        if payload.id is None and payload.filter is None:
            raise invalid("Exactly one of id or filter must be provided, got neither")
        namespace = ctx.namespace or ""
        if payload.id is not None:
            return self._update_by_id(ctx, payload, namespace)
        return self._update_by_filter(ctx, payload, namespace)

    def _update_by_id(self, ctx: _Context, payload: UpdateIn, namespace: str) -> web.Response:
        assert payload.id is not None
        check_id(payload.id)
        where = record_ref(payload.id)
        values = None
        if payload.values is not None:
            values = _check_values(payload.values, self.index.dimension, payload.id)
        if payload.sparse_values is not None:
            check_sparse(payload.sparse_values, where, self.index.metric)
        changes = normalize_metadata(payload.set_metadata, where) if payload.set_metadata else None
        data = self._namespace_data(namespace)
        slot = data.slot(payload.id) if data is not None else None
        if data is None or slot is None:
            raise not_found(
                f"Vector ID {echo(payload.id)} not found in namespace "
                f"{display_namespace(namespace)!r}"
            )
        if changes:
            merged = {**(data.metadata(slot) or {}), **changes}
            data.set_metadata(slot, merged, encoded_metadata(merged, where))
        if values is not None:
            data.set_values(slot, values)
        if payload.sparse_values is not None:
            data.set_sparse(slot, _sparse_tuple(payload.sparse_values))
        self.index.rewrite(namespace, [slot])
        self._count(ctx, vectors_written=1)
        return _json({})

    def _update_by_filter(self, ctx: _Context, payload: UpdateIn, namespace: str) -> web.Response:
        if payload.values is not None or payload.sparse_values is not None:
            raise invalid("Update by metadata request does not support updating vector values.")
        if not payload.filter:
            raise invalid("Update with empty metadata filter is not allowed")
        predicate = _filter(payload.filter)
        assert predicate is not None
        changes = (
            normalize_metadata(payload.set_metadata, "setMetadata")
            if payload.set_metadata
            else None
        )
        data = self._namespace_data(namespace)
        slots = data.matching(predicate) if data is not None else []
        if data is not None and changes and not payload.dry_run:
            # Build and size-check every merged record first: all or nothing.
            staged = []
            for slot in slots:
                merged = {**(data.metadata(slot) or {}), **changes}
                staged.append(
                    (slot, merged, encoded_metadata(merged, record_ref(data.record_id(slot))))
                )
            for slot, merged, encoded in staged:
                data.set_metadata(slot, merged, encoded)
            self.index.rewrite(namespace, slots)
            self._count(ctx, vectors_written=len(slots))
        return _json({"matchedRecords": len(slots)})

    async def _delete(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        self._throttle(ctx)
        payload: DeleteIn = ctx.require_payload()
        check_namespace_name(payload.namespace)
        if payload.delete_all and payload.ids:
            raise invalid("No explicit IDs allowed when delete_all=true")
        if payload.delete_all and payload.filter is not None:
            raise invalid("No filter allowed when delete_all=true")
        predicate: Predicate | None = None
        if payload.filter is not None:
            # The service ignores `ids` when a filter is present (the SDK warns about it).
            if not payload.filter:
                raise invalid("Delete with empty metadata filter is not allowed")
            predicate = _filter(payload.filter)
        elif payload.ids is not None:
            if not payload.ids or len(payload.ids) > MAX_DELETE_IDS:
                raise invalid(
                    f"Delete by IDs accepts 1 to {MAX_DELETE_IDS} IDs per request, "
                    f"got {len(payload.ids)}"
                )
            for vector_id in payload.ids:
                check_id(vector_id)
        elif not payload.delete_all:
            raise invalid("Delete request must specify one of ids, deleteAll or filter")
        namespace = ctx.namespace or ""
        if not self.index.exists(namespace):
            # Serverless answers 404 for a delete in a namespace that does not exist.
            raise not_found("Namespace not found")
        data = self._namespace_data(namespace)
        if payload.delete_all:
            deleted = self.index.clear(namespace)
        elif predicate is not None:
            doomed = (
                [data.record_id(slot) for slot in data.matching(predicate)]
                if data is not None
                else []
            )
            deleted = self.index.delete(namespace, doomed)
        else:
            deleted = self.index.delete(namespace, payload.ids or [])
        self._count(ctx, vectors_deleted=deleted)
        return _json({})

    async def _describe_stats(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        self._throttle(ctx)
        payload: DescribeStatsIn = ctx.require_payload()
        if payload.filter:
            raise invalid(
                "Serverless and Starter indexes do not support describing index stats with "
                "metadata filtering"
            )
        index = self.index
        namespaces = {
            display_namespace(name): {"vectorCount": len(data)}
            for name, data in sorted(index.namespaces.items())
        }
        return _json(
            {
                "namespaces": namespaces,
                "dimension": index.dimension,
                "indexFullness": 0.0,
                "totalVectorCount": index.total(),
                "metric": index.metric,
                "vectorType": "dense",
            }
        )

    async def _query(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        self._throttle(ctx)
        payload: QueryIn = ctx.require_payload()
        check_namespace_name(payload.namespace)
        index = self.index
        if not 1 <= payload.top_k <= MAX_TOP_K:
            raise invalid(
                f"Invalid value for topK: {payload.top_k}, it must be between 1 and {MAX_TOP_K}"
            )
        if payload.queries:
            raise invalid("The deprecated `queries` field is not supported: send `vector` or `id`")
        if payload.id is not None and payload.vector is not None:
            raise invalid("Cannot provide both 'ID' and 'vector' at the same time")
        if payload.id is None and payload.vector is None and payload.sparse_vector is None:
            raise invalid("No query provided: send one of `vector`, `id` or `sparseVector`")
        query_vector: np.ndarray | None = None
        if payload.vector is not None:
            if len(payload.vector) != index.dimension:
                raise invalid(
                    f"Query vector dimension {len(payload.vector)} does not match the dimension "
                    f"of the index {index.dimension}"
                )
            query_vector = np.asarray(payload.vector, dtype=np.float32)
            if not np.isfinite(query_vector).all():
                raise invalid("Query vector values must be finite 32-bit floats")
        sparse_query: Sparse | None = None
        if payload.sparse_vector is not None:
            check_sparse(payload.sparse_vector, "query", index.metric)
            sparse_query = _sparse_tuple(payload.sparse_vector)
        predicate = _filter(payload.filter)
        namespace = ctx.namespace or ""
        data = self._namespace_data(namespace)
        matches: list[dict[str, Any]] = []
        if data is not None:
            if payload.id is not None:
                check_id(payload.id)
                source = data.slot(payload.id)
                query_vector = data.values(source).copy() if source is not None else None
            if query_vector is not None or sparse_query is not None:
                candidates = data.matching(predicate) if predicate is not None else None
                for slot, score in data.search(
                    query_vector, sparse_query, index.metric, payload.top_k, candidates
                ):
                    match: dict[str, Any] = {
                        "id": data.record_id(slot),
                        "score": np.float32(score),
                        "values": data.values(slot) if payload.include_values else [],
                    }
                    sparse = data.sparse(slot)
                    if payload.include_values and sparse is not None:
                        match["sparseValues"] = {"indices": sparse[0], "values": sparse[1]}
                    if payload.include_metadata:
                        encoded = data.metadata_json(slot)
                        if encoded is not None:
                            match["metadata"] = orjson.Fragment(encoded)
                    matches.append(match)
        elif payload.id is not None:
            check_id(payload.id)
        self._count(ctx, vectors_read=len(matches))
        size = len(data) if data is not None else 0
        return _json(
            {
                "matches": matches,
                "namespace": namespace,
                # 1 RU per GB of namespace scanned, at least 1 (float32 values only).
                "usage": {"readUnits": max(1, -(-size * index.dimension * 4 // 1_000_000_000))},
            }
        )

    # --- namespaces ---------------------------------------------------------------------

    def _namespace_description(self, name: str, data: NamespaceData | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": display_namespace(name),
            "record_count": len(data) if data is not None else 0,
        }
        if data is not None and data.schema is not None:
            body["schema"] = data.schema
        return body

    async def _list_namespaces(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        self._throttle(ctx)
        query = request.query
        limit = parse_limit(query.get("limit"), default=None, maximum=NAMESPACE_LIMIT_MAX)
        prefix = query.get("prefix", "")
        token = query.get("paginationToken")
        after = decode_token(token) if token else None
        names = sorted(
            (display_namespace(name), name)
            for name in self.index.namespaces
            if display_namespace(name).startswith(prefix)
        )
        remaining = [pair for pair in names if after is None or pair[0] > after]
        page = remaining[:limit]
        body: dict[str, Any] = {
            "namespaces": [
                self._namespace_description(name, self.index.namespace(name)) for _, name in page
            ],
            "total_count": len(names),
        }
        if len(remaining) > limit:
            body["pagination"] = {"next": encode_token(page[-1][0])}
        return _json(body)

    async def _describe_namespace(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        self._throttle(ctx)
        namespace = ctx.namespace or ""
        check_namespace_name(namespace)
        if not self.index.exists(namespace):
            raise not_found("Namespace not found")
        return _json(self._namespace_description(namespace, self.index.namespace(namespace)))

    async def _create_namespace(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        self._throttle(ctx)
        payload: CreateNamespaceIn = ctx.require_payload()
        name = payload.name
        if not name:
            raise invalid("Namespace name must not be empty")
        check_namespace_name(name)
        if name == DEFAULT_NAMESPACE_ALIAS:
            raise invalid(f"Namespace name {name!r} is reserved and cannot be created")
        schema = payload.schema
        if schema is not None:
            fields = schema.get("fields")
            if set(schema) != {"fields"} or not isinstance(fields, dict):
                raise invalid("schema must be an object with exactly one key, `fields`")
            for field_name, config in fields.items():
                if not isinstance(config, dict) or config.get("filterable") is not True:
                    raise invalid(
                        f"Field '{field_name}' is set to filterable: false. Only filterable: "
                        "true is supported. To avoid indexing the field, omit it from the "
                        "list of fields."
                    )
        if self.index.namespace(name) is not None:
            raise ApiFailure(409, GrpcCode.ALREADY_EXISTS, f"Namespace {name!r} already exists")
        data = self.index.create_namespace(name, schema)
        return _json(self._namespace_description(name, data))

    async def _delete_namespace(self, request: web.Request) -> web.Response:
        ctx = _ctx(request)
        self._throttle(ctx)
        namespace = ctx.namespace or ""
        check_namespace_name(namespace)
        if not self.index.exists(namespace):
            raise not_found("Namespace not found")
        deleted = self.index.drop_namespace(namespace)
        self._count(ctx, vectors_deleted=deleted)
        return _json({})


# --- control plane --------------------------------------------------------------------------

LATEST_API_VERSION = "2026-07"


@dataclass(frozen=True)
class IndexDescription:
    """What the control plane says about one index."""

    name: str
    dimension: int
    metric: str
    host: str
    cloud: str
    region: str
    tags: dict[str, str] | None = None

    def model(self, api_version: str) -> dict[str, Any]:
        """The `IndexModel` for `api_version`: the 2026-07 schema/deployment shape, or the
        older dimension/metric/spec shape of the 2026-04 specification for earlier versions."""
        status = {"ready": True, "state": "Ready"}
        if api_version >= LATEST_API_VERSION:
            return {
                "name": self.name,
                "host": self.host,
                "status": status,
                "schema": {
                    "fields": {
                        # `_values` is the reserved field name the 2026-07 vectors API
                        # addresses dense values by (SDK: legacy_index_translation.DENSE_FIELD).
                        "_values": {
                            "type": "dense_vector",
                            "dimension": self.dimension,
                            "metric": self.metric,
                        }
                    }
                },
                "deployment": {
                    "deployment_type": "managed",
                    "cloud": self.cloud,
                    "region": self.region,
                },
                "deletion_protection": "disabled",
                "tags": self.tags,
            }
        model: dict[str, Any] = {
            "name": self.name,
            "dimension": self.dimension,
            "metric": self.metric,
            "host": self.host,
            "deletion_protection": "disabled",
            "spec": {
                "serverless": {
                    "cloud": self.cloud,
                    "region": self.region,
                    "read_capacity": {"mode": "OnDemand", "status": {"state": "Ready"}},
                }
            },
            "status": status,
            "vector_type": "dense",
        }
        if self.tags:
            model["tags"] = self.tags
        return model


def api_version_of(request: web.Request) -> str:
    """The requested API version; absent or unparseable means the latest."""
    version = request.headers.get("X-Pinecone-Api-Version", "").strip()
    if len(version) == 7 and version[4] == "-" and version.replace("-", "").isdigit():
        return version
    return LATEST_API_VERSION


class ControlPlane:
    """`GET /indexes` and `GET /indexes/{name}`, in the control plane's own error shape."""

    def __init__(self, indexes: list[IndexDescription], settings: ServerSettings) -> None:
        self.indexes = {description.name: description for description in indexes}
        self.settings = settings
        self._ops: dict[Any, str] = {}

    def app(self, latency_rng: random.Random) -> web.Application:
        middlewares = [
            self._observe,
            _api_only(latency_middleware(self.settings.latency_ms, rng=latency_rng)),
            self._auth,
            self._errors,
        ]
        app = web.Application(middlewares=middlewares)
        for method, path, handler, op in (
            ("GET", "/indexes", self._list_indexes, "list_indexes"),
            ("GET", "/indexes/{name}", self._describe_index, "describe_index"),
        ):
            self._ops[app.router.add_route(method, path, handler)] = op
        for method, path, route_handler in self.settings.emulator_routes:
            app.router.add_route(method, path, route_handler)
        return app

    @web.middleware
    async def _observe(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(EMULATOR_PREFIX):
            return await handler(request)
        response = await handler(request)
        self.settings.stats.control(
            self._ops.get(request.match_info.route, "other"),
            response.status,
            request.content_length or 0,
            _body_size(response),
        )
        return response

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(EMULATOR_PREFIX):
            return await handler(request)
        if not self.settings.access.accepts(request.headers.get("Api-Key")):
            return control_error_response(401, "UNAUTHENTICATED", "Invalid API key.")
        return await handler(request)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPMethodNotAllowed:
            return control_error_response(
                405,
                "UNIMPLEMENTED",
                f"The Pinecone emulator does not implement {request.method} {request.path}; "
                "indexes are declared when the emulator starts (--index NAME:DIMENSION).",
            )
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = "NOT_FOUND" if exc.status == 404 else "INVALID_ARGUMENT"
            return control_error_response(exc.status, code, f"{exc.reason}: {request.path}")

    async def _list_indexes(self, request: web.Request) -> web.Response:
        version = api_version_of(request)
        return _json({"indexes": [d.model(version) for d in self.indexes.values()]})

    async def _describe_index(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        description = self.indexes.get(name)
        if description is None:
            return control_error_response(404, "NOT_FOUND", f"Index {name} not found.")
        return _json(description.model(api_version_of(request)))
