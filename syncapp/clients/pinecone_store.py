"""Pinecone adapter: the only module that touches the `pinecone` SDK.

Two classes, deliberately asymmetric: `PineconeSource` can only read (it has no write method at
all, so no code path can write to a source index), `PineconeTarget` reads and upserts. Both hand
out plain `syncengine.Record` objects, never SDK response objects, and turn SDK exceptions into
the engine's `TransientError` / `PermanentError`.

The SDK client is built lazily, in the process that uses it: django-q2 forks its workers, and an
httpx connection pool created in the parent must not be shared with a child (FACTS.md).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pinecone import Pinecone
from pinecone.errors import (
    ApiError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    PineconeValueError,
    RateLimitError,
    ResponseParsingError,
    ServiceError,
    UnauthorizedError,
)

from syncengine import PermanentError, Record, TransientError

T = TypeVar("T")

# Pinecone's `list` serves at most 100 IDs a page; asking for the maximum minimises requests.
LIST_PAGE_SIZE = 100
# The SDK reports the default namespace under this name in describe_index_stats.
DEFAULT_NAMESPACE_STATS_KEY = "__default__"


@dataclass(frozen=True, slots=True)
class IndexDescription:
    name: str
    host: str
    dimension: int | None
    metric: str | None
    ready: bool


def translate_error(exc: Exception, what: str) -> Exception:
    """Map an SDK exception to the engine's error types, with a message naming the operation.

    The SDK has already retried 429/5xx/transport failures (4 attempts honouring Retry-After),
    so what reaches us is either permanent or a transient condition that outlasted those tries;
    the engine retries the latter a few more times with its own backoff. `status` lets the
    engine tell "this service refuses us" (401/403/404) from "this record is bad".
    """
    if isinstance(exc, UnauthorizedError):
        return PermanentError(f"{what}: the API key was rejected (401 Unauthorized)", status=401)
    if isinstance(exc, ForbiddenError):
        return PermanentError(f"{what}: the API key may not do this (403 Forbidden)", status=403)
    if isinstance(exc, NotFoundError):
        return PermanentError(f"{what}: not found (404): {exc.message}", status=404)
    if isinstance(exc, PayloadTooLargeError):
        return PermanentError(f"{what}: request too large (413): {exc.message}", status=413)
    if isinstance(exc, RateLimitError | ServiceError):
        return TransientError(f"{what}: {exc}", status=exc.status_code)
    if isinstance(exc, PineconeTimeoutError | PineconeConnectionError):
        return TransientError(f"{what}: {exc.message}")
    if isinstance(exc, ApiError):
        status = exc.status_code
        if status in (408, 409) or status >= 500:
            return TransientError(f"{what}: {exc}", status=status)
        return PermanentError(f"{what}: {exc}", status=status)
    if isinstance(exc, PineconeValueError):
        return PermanentError(f"{what}: invalid request: {exc.message}")
    if isinstance(exc, ResponseParsingError):
        return PermanentError(f"{what}: unexpected response from Pinecone: {exc.message}")
    if isinstance(exc, PineconeError):
        return PermanentError(f"{what}: {exc.message}")
    return exc


def _call(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except PineconeError as exc:
        raise translate_error(exc, what) from exc


# Budget for the `ids=...&ids=...` query string of one fetch, well under httpx's 64 KB URL cap.
FETCH_QUERY_BUDGET = 32_000


def _chunks_by_query_length(ids: Sequence[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    used = 0
    for vid in ids:
        # "ids=" + the percent-encoded ID + "&"; an ASCII ID at most triples when encoded.
        cost = 5 + 3 * len(vid)
        if chunk and used + cost > FETCH_QUERY_BUDGET:
            yield chunk
            chunk, used = [], 0
        chunk.append(vid)
        used += cost
    if chunk:
        yield chunk


class PineconeConnection:
    """An API key plus a control-plane address; builds the SDK client on first use per process."""

    def __init__(self, *, api_key: str, controller_host: str = "", timeout: float = 60.0) -> None:
        self._api_key = api_key
        self._controller_host = controller_host
        self._timeout = timeout
        self._client: Pinecone | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def client(self) -> Pinecone:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                kwargs: dict[str, Any] = {"api_key": self._api_key, "timeout": self._timeout}
                if self._controller_host:
                    kwargs["host"] = self._controller_host
                self._client = Pinecone(**kwargs)
                self._pid = os.getpid()
            return self._client

    def describe_index(self, name: str) -> IndexDescription:
        model = _call(f"describe index {name!r}", lambda: self.client().describe_index(name))
        with warnings.catch_warnings():
            # `dimension` / `metric` are deprecated conveniences over the schema's single dense
            # field, which is exactly what a plain vector index has.
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                dimension = model.dimension
            except AttributeError:
                dimension = None
            try:
                metric = model.metric
            except AttributeError:
                metric = None
        status = getattr(model, "status", None)
        return IndexDescription(
            name=model.name,
            host=model.host,
            dimension=dimension,
            metric=str(metric) if metric is not None else None,
            ready=bool(getattr(status, "ready", True)),
        )


class _IndexReader:
    """Read operations shared by source and target: list, fetch, count."""

    role = "index"

    def __init__(
        self,
        *,
        connection: PineconeConnection,
        index_name: str,
        namespace: str,
        host: str = "",
    ) -> None:
        self.connection = connection
        self.index_name = index_name
        self.namespace = namespace
        self._host = host
        self._index: Any = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.index_name}/{self.namespace or '(default)'}>"

    @property
    def label(self) -> str:
        return f"{self.role} {self.index_name}/{self.namespace or '(default namespace)'}"

    def host(self) -> str:
        if not self._host:
            self._host = self.connection.describe_index(self.index_name).host
        return self._host

    def index(self) -> Any:
        with self._lock:
            if self._index is None or self._pid != os.getpid():
                host = self.host()
                self._index = _call(
                    f"open {self.label}", lambda: self.connection.client().Index(host=host)
                )
                self._pid = os.getpid()
            return self._index

    def list_id_pages(self) -> Iterator[list[str]]:
        """Pages of IDs in Pinecone's order (bytewise), following pagination tokens."""
        token: str | None = None
        while True:
            page = _call(
                f"list IDs of {self.label}",
                lambda token=token: self.index().list_paginated(  # type: ignore[misc]
                    namespace=self.namespace, limit=LIST_PAGE_SIZE, pagination_token=token
                ),
            )
            ids = [item.id for item in page.vectors]
            if ids:
                yield ids
            token = page.pagination.next if page.pagination else None
            if not token:
                return

    def fetch(self, ids: Sequence[str]) -> dict[str, Record]:
        """Records by ID; IDs the namespace does not hold are simply absent.

        IDs travel in the query string, and httpx refuses URLs over 64 KB before sending
        (1,000 IDs of 512 characters would be ~500 KB), so long ID lists are split into
        several requests by encoded length.
        """
        records: dict[str, Record] = {}
        for chunk in _chunks_by_query_length(ids):
            response = _call(
                f"fetch {len(chunk)} records from {self.label}",
                lambda chunk=chunk: self.index().fetch(ids=chunk, namespace=self.namespace),  # type: ignore[misc]
            )
            for vid, vector in response.vectors.items():
                records[vid] = Record(
                    id=vid,
                    values=list(vector.values) if vector.values is not None else None,
                    metadata=dict(vector.metadata or {}),
                )
        return records

    def describe_stats(self) -> tuple[int | None, int]:
        """(index dimension, records in this namespace) from the data plane.

        Used by preflight: it proves the key works on the data plane and the host answers,
        whether the host came from the control plane or an override.
        """
        stats = _call(f"describe {self.label}", lambda: self.index().describe_index_stats())
        key = self.namespace or DEFAULT_NAMESPACE_STATS_KEY
        summary = stats.namespaces.get(key)
        if summary is None and not self.namespace:
            summary = stats.namespaces.get("")
        return stats.dimension, summary.vector_count if summary is not None else 0

    def count(self) -> int | None:
        """Records in the namespace per describe_index_stats (eventually consistent)."""
        return self.describe_stats()[1]

    def close(self) -> None:
        with self._lock:
            if self._index is not None and self._pid == os.getpid():
                self._index.close()
            self._index = None


class PineconeSource(_IndexReader):
    """The read-only side. It has no write methods, by design: see the module docstring."""

    role = "source"


class PineconeTarget(_IndexReader):
    """The written side: reads plus whole-record upserts."""

    role = "target"

    def upsert(self, records: Sequence[Record]) -> None:
        """Send one upsert request; the caller keeps it within 1,000 records and 2 MB.

        No `batch_size` is passed on purpose: with it, the SDK swallows failed batches into
        `failed_items` instead of raising, and the engine needs the failure to isolate it.
        """
        vectors = [
            {"id": r.id, "values": list(r.values or ()), "metadata": dict(r.metadata)}
            for r in records
        ]
        response = _call(
            f"upsert {len(vectors)} records to {self.label}",
            lambda: self.index().upsert(vectors=vectors, namespace=self.namespace),
        )
        if response.upserted_count != len(vectors):
            raise TransientError(
                f"upsert to {self.label}: Pinecone acknowledged {response.upserted_count} "
                f"of {len(vectors)} records"
            )
