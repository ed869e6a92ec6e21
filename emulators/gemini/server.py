"""An HTTP emulator of the Gemini API's embedding endpoints, for the real `google-genai` SDK.

Google cannot be reached from development and CI machines, so the project's Gemini adapter is
exercised against this server instead: the real SDK, real HTTP, Google's URLs, request and
response shapes, error bodies and rate-limit answers. The vectors are deterministic
pseudo-random numbers, not semantic embeddings (see `embedding.py`).

Endpoints (`{v}` is `v1` or `v1beta`, as `HttpOptions(api_version=...)` chooses):

    POST /{v}/models/{model}:batchEmbedContents   what `client.models.embed_content` calls
    POST /{v}/models/{model}:embedContent         single text (the SDK uses it on Vertex only)
    GET  /{v}/models/{model}, GET /{v}/models     model metadata (`client.models.get/list`)
    GET  /_emulator/stats                         counters, no API key needed
    POST /_emulator/reset                         zero the counters and refill the quotas

Checks run in this order, authentication and quota first as at Google's front end: API key
(403 when missing, 400 when unknown), model and method (404), requests-per-minute quota (429),
body (400), tokens-per-minute quota (429). Quotas are token buckets per model that hold one
minute's worth and refill continuously: `rpm=3000` allows a burst of 3,000 requests, then 50 a
second. A single request estimated above the whole `tpm` budget still passes when the bucket is
full. A 429 carries `Retry-After` (whole seconds) and a `google.rpc.RetryInfo`; google-genai
ignores both, and retries only when given `HttpOptions(retry_options=...)`.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import random
import threading
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import orjson
from aiohttp import web

from emulators._runtime import (
    CLIENT_MAX_SIZE,
    BackgroundServer,
    Handler,
    TokenBucket,
    bind_socket,
    fault_middleware,
    latency_middleware,
    start_app,
)

from . import errors
from .embedding import MODELS, ModelSpec, embed_texts, estimate_tokens, truncate
from .errors import GoogleError
from .validation import EmbedItem, parse_batch, parse_single

API_VERSIONS = ("v1", "v1beta")
EMBED_METHODS = ("batchEmbedContents", "embedContent")
CONTROL_PREFIX = "/_emulator/"

Outcome = Literal["ok", "rejected", "rate_limited"]


def _zero_stats() -> dict[str, Any]:
    return {
        "requests": {"total": 0, "ok": 0, "rejected": 0, "rate_limited": 0, "faults": 0},
        "rejected_by_status": {},
        "faults_by_kind": {},
        "texts": 0,
        "tokens": 0,
        "truncated_texts": 0,
        "by_model": {},
        "by_dimension": {},
        "by_api_version": {},
    }


class Stats:
    """Counters served at `/_emulator/stats`. Updated on the server's loop, read from tests.

    `requests`: every API call by outcome (`ok`, `rejected` = any 4xx but 429, `rate_limited`
    = quota 429, `faults` = injected); `rejected_by_status` and `faults_by_kind` (500, 503,
    429, drop) break those down. `texts`, `tokens` (estimated, 4 characters each, per text
    after truncation) and `truncated_texts` count what was embedded; `by_model` holds the same
    per model (with successful `requests`), `by_dimension` texts per output size,
    `by_api_version` calls per URL version. `/_emulator/*` calls are not counted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data = _zero_stats()

    def reset(self) -> None:
        with self._lock:
            self._data = _zero_stats()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._data)

    def request(self, outcome: Outcome, status: int, api_version: str | None) -> None:
        with self._lock:
            self._data["requests"]["total"] += 1
            self._data["requests"][outcome] += 1
            if outcome == "rejected":
                by_status = self._data["rejected_by_status"]
                by_status[str(status)] = by_status.get(str(status), 0) + 1
            if api_version is not None:
                versions = self._data["by_api_version"]
                versions[api_version] = versions.get(api_version, 0) + 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._data["requests"]["total"] += 1
            self._data["requests"]["faults"] += 1
            faults = self._data["faults_by_kind"]
            faults[kind] = faults.get(kind, 0) + 1

    def embedded(self, model: str, dimensions: Iterable[int], tokens: int, truncated: int) -> None:
        dims = list(dimensions)
        with self._lock:
            data = self._data
            data["texts"] += len(dims)
            data["tokens"] += tokens
            data["truncated_texts"] += truncated
            per_model = data["by_model"].setdefault(model, {"requests": 0, "texts": 0, "tokens": 0})
            per_model["requests"] += 1
            per_model["texts"] += len(dims)
            per_model["tokens"] += tokens
            for dim in dims:
                data["by_dimension"][str(dim)] = data["by_dimension"].get(str(dim), 0) + 1


def _json_response(payload: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        content_type="application/json",
        charset="utf-8",
    )


def _model_resource(spec: ModelSpec) -> dict[str, Any]:
    return {
        "name": f"models/{spec.name}",
        "version": spec.version,
        "displayName": spec.display_name,
        "description": "Deterministic pseudo-random embeddings served by the local emulator.",
        "inputTokenLimit": spec.input_token_limit,
        "outputTokenLimit": 1,
        "supportedGenerationMethods": ["embedContent", "batchEmbedContents"],
    }


def _render(items: list[EmbedItem], spec: ModelSpec, single: bool) -> bytes:
    """Vectors for `items` serialised as Google's answer. CPU-bound: runs in a worker thread."""
    rows: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(items)
    # One vectorised call per requested size (a batch normally uses a single size).
    for dimension in {item.dimension for item in items}:
        indices = [i for i, item in enumerate(items) if item.dimension == dimension]
        matrix = embed_texts([items[i].text for i in indices], dimension, spec.name)
        for row, index in zip(matrix, indices, strict=True):
            rows[index] = row
    payload: dict[str, Any]
    if single:
        payload = {"embedding": {"values": rows[0]}}
    else:
        payload = {"embeddings": [{"values": row} for row in rows]}
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


class GeminiEmulator(BackgroundServer):
    """The Gemini embeddings emulator: configure, start (in-process or async), inspect, stop.

    `api_keys`: keys accepted in `x-goog-api-key` (or `?key=`); `None` accepts any non-empty
    key. `rpm` / `tpm`: requests and estimated input tokens per minute, per model (`None` = no
    limit; the command line defaults to 3,000 rpm, Google's paid tier 1). `latency_ms` delays
    every API answer by that much (+/- 25 %). `fault_rate` answers that fraction of API calls
    with 500, 503, 429 or a dropped connection. `seed` makes the fault sequence reproducible;
    the vectors are deterministic whatever it is.
    """

    def __init__(
        self,
        api_keys: Iterable[str] | None = ("gem-key",),
        rpm: float | None = None,
        tpm: float | None = None,
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        if rpm is not None and rpm <= 0:
            raise ValueError("rpm must be positive (or None for no limit)")
        if tpm is not None and tpm <= 0:
            raise ValueError("tpm must be positive (or None for no limit)")
        if latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if isinstance(api_keys, str):  # a lone key, not an iterable of one-letter keys
            api_keys = [api_keys]
        self.api_keys: frozenset[str] | None = None if api_keys is None else frozenset(api_keys)
        if self.api_keys is not None and not all(self.api_keys):
            raise ValueError("API keys must not be empty strings")
        self.rpm = rpm
        self.tpm = tpm
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self.seed = seed
        self.host: str | None = None
        self.port: int | None = None
        self._stats = Stats()
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._buckets_lock = threading.Lock()
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        where = self.base_url if self.port is not None else "not started"
        return f"<GeminiEmulator {where} rpm={self.rpm} tpm={self.tpm}>"

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Root URL to give `HttpOptions(base_url=...)`; the SDK appends `/v1/models/...`."""
        if self.host is None or self.port is None:
            raise RuntimeError("the emulator is not started")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> GeminiEmulator:
        """Serve on the running loop; `port=0` picks a free port (read it from `base_url`)."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already started")
        sock = bind_socket(host, port)
        try:
            self._runner = await start_app(self.build_app(), sock)
        except BaseException:
            sock.close()
            raise
        self.host = host
        self.port = int(sock.getsockname()[1])
        return self

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def __enter__(self) -> GeminiEmulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- observability -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """A copy of the counters (the same JSON `/_emulator/stats` serves)."""
        snapshot = self._stats.snapshot()
        snapshot["limits"] = {"rpm": self.rpm, "tpm": self.tpm}
        return snapshot

    def reset_stats(self) -> None:
        """Zero the counters and refill every quota bucket, so a test starts from a known state."""
        self._stats.reset()
        with self._buckets_lock:
            self._buckets.clear()

    # -- application ---------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        rng = random.Random(self.seed) if self.seed is not None else None
        app = web.Application(
            client_max_size=CLIENT_MAX_SIZE,
            middlewares=[
                self._drop_counter,
                _api_only(latency_middleware(self.latency_ms)),
                fault_middleware(self.fault_rate, self._fault_response, _is_api, rng),
            ],
        )
        versions = "{version:" + "|".join(API_VERSIONS) + "}"
        app.router.add_get(CONTROL_PREFIX + "stats", self._handle_stats)
        app.router.add_post(CONTROL_PREFIX + "reset", self._handle_reset)
        app.router.add_post(f"/{versions}/models/{{target}}", self._handle_model_call)
        app.router.add_get(f"/{versions}/models/{{target}}", self._handle_get_model)
        app.router.add_get(f"/{versions}/models", self._handle_list_models)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        return app

    def _fault_response(self, status: int) -> web.StreamResponse:
        self._stats.fault(str(status))
        return errors.fault_response(status)

    @web.middleware
    async def _drop_counter(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count injected dropped connections, and end them without an error log.

        `fault_middleware` aborts the socket and raises `ConnectionResetError`; left alone,
        aiohttp would log it as a handler crash. Returning a response instead lets aiohttp
        find the transport closed and drop it quietly.
        """
        try:
            return await handler(request)
        except ConnectionResetError:
            self._stats.fault("drop")
            return web.Response(status=500)

    def _check_key(self, request: web.Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key") or ""
        if not key:
            raise errors.missing_api_key()
        if self.api_keys is not None and key not in self.api_keys:
            raise errors.invalid_api_key()

    def _take(self, kind: str, model: str, limit: float | None, cost: float) -> float:
        """Seconds to wait before `cost` fits in the per-minute budget `limit` (0 = go)."""
        if limit is None:
            return 0.0
        with self._buckets_lock:
            bucket = self._buckets.get((kind, model))
            if bucket is None:
                bucket = self._buckets[(kind, model)] = TokenBucket(limit / 60.0, burst=limit)
        return bucket.take(cost)

    async def _handle_model_call(self, request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        try:
            response = await self._embed(request, version)
        except GoogleError as error:
            outcome: Outcome = "rate_limited" if error.code == 429 else "rejected"
            self._stats.request(outcome, error.code, version)
            return error.response()
        self._stats.request("ok", 200, version)
        return response

    async def _embed(self, request: web.Request, version: str) -> web.StreamResponse:
        self._check_key(request)
        model, _, method = request.match_info["target"].partition(":")
        spec = MODELS.get(model)
        if spec is None or method not in EMBED_METHODS:
            # Google names embedContent for both embed methods (seen on a live batch call).
            named = "embedContent" if method in EMBED_METHODS or not method else method
            raise errors.model_not_found(model, version, named)
        wait = self._take("requests", model, self.rpm, 1)
        if wait > 0:
            raise errors.rate_limited(wait, model, "requests", self.rpm or 0)
        body = await request.read()
        single = method == "embedContent"
        items = [parse_single(body, spec, version)] if single else parse_batch(body, spec, version)
        texts = [truncate(item.text, model) for item in items]
        tokens = sum(estimate_tokens(text) for text in texts)
        wait = self._take("tokens", model, self.tpm, tokens)
        if wait > 0:
            raise errors.rate_limited(wait, model, "tokens", self.tpm or 0)
        loop = asyncio.get_running_loop()
        body_out = await loop.run_in_executor(None, functools.partial(_render, items, spec, single))
        truncated = sum(len(text) < len(item.text) for text, item in zip(texts, items, strict=True))
        self._stats.embedded(model, (item.dimension for item in items), tokens, truncated)
        return web.Response(body=body_out, content_type="application/json", charset="utf-8")

    async def _handle_get_model(self, request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        try:
            self._check_key(request)
            model = request.match_info["target"]
            spec = MODELS.get(model)
            if spec is None:
                raise GoogleError(404, f"models/{model} is not found for API version {version}")
        except GoogleError as error:
            self._stats.request("rejected", error.code, version)
            return error.response()
        self._stats.request("ok", 200, version)
        return _json_response(_model_resource(spec))

    async def _handle_list_models(self, request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        try:
            self._check_key(request)
        except GoogleError as error:
            self._stats.request("rejected", error.code, version)
            return error.response()
        self._stats.request("ok", 200, version)
        return _json_response({"models": [_model_resource(spec) for spec in MODELS.values()]})

    async def _handle_unknown(self, request: web.Request) -> web.StreamResponse:
        self._stats.request("rejected", 404, None)
        return errors.error_response(404, f"Method not found: {request.method} {request.path}")

    async def _handle_stats(self, request: web.Request) -> web.StreamResponse:
        return _json_response(self.stats())

    async def _handle_reset(self, request: web.Request) -> web.StreamResponse:
        self.reset_stats()
        return _json_response(self.stats())


def _is_api(request: web.Request) -> bool:
    return not request.path.startswith(CONTROL_PREFIX)


def _api_only(middleware: Any) -> Any:
    """Wrap a middleware so that it skips the `/_emulator/` control endpoints."""

    @web.middleware
    async def wrapped(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _is_api(request):
            response: web.StreamResponse = await middleware(request, handler)
            return response
        return await handler(request)

    return wrapped
