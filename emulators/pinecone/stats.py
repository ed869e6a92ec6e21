"""Counters behind the observability endpoint `GET /_emulator/stats` and `emu.stats()`.

The `/_emulator/` prefix is never used by the real API, needs no API key, and is not subject
to latency, faults or rate limits; it is served on the control plane and on every data plane
and always reports the whole emulator. `POST /_emulator/reset` zeroes every counter and
refills the rate-limit buckets. `GET /_emulator/health` answers `{"ok": true}`.

JSON shape (all counters are integers)::

    {
      "control": {
        "requests": {"list_indexes": 1, "describe_index": 2},   # by operation
        "requests_total": 3,
        "responses": {"200": 2, "404": 1},                       # by HTTP status
        "bytes_in": 0, "bytes_out": 1234
      },
      "indexes": {
        "<index name>": {
          "requests": {"upsert": 5, "fetch": 2, ...},           # by operation, see OPERATIONS
          "requests_total": 7,
          "responses": {"200": 6, "403": 1},
          "writes_received": 5,      # upsert/update/delete/create_namespace/delete_namespace
                                     # requests received, counted BEFORE auth, rate limiting,
                                     # fault injection or validation: any write that reached the
                                     # port counts, whatever its fate
          "vectors_read": 100,       # vectors returned by fetch/query/fetch_by_metadata + IDs
                                     # returned by list
          "vectors_written": 40,     # vectors upserted or updated
          "vectors_deleted": 3,
          "bytes_in": 4096,          # request bodies
          "bytes_out": 8192,         # response bodies
          "rate_limited": 1,         # answered 429 by the rate limiter
          "faults_injected": 0,      # answered 500/503/429 or dropped by --fault-rate
          "namespaces": {
            "__default__": { ...the same counters, without "namespaces"... },
            "<namespace>": { ... }
          }
        }
      }
    }

A request is attributed to a namespace when its namespace is known before it is handled: the
`namespace` query parameter (list, fetch), the path (`/namespaces/{ns}`), or the JSON body when
it decodes (upsert, update, delete, query, fetch_by_metadata); the default namespace is shown
as `__default__`. Index-level counters include every request, namespace-level ones only the
attributed requests (index-wide operations such as describe_index_stats have no namespace).

Counters are updated on the event loop thread and read from any thread (`emu.stats()`), so
every update and the snapshot take one lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from emulators.pinecone.validation import display_namespace

#: Data-plane operation names used in `requests`.
OPERATIONS = (
    "list",
    "fetch",
    "fetch_by_metadata",
    "upsert",
    "update",
    "delete",
    "query",
    "describe_index_stats",
    "list_namespaces",
    "describe_namespace",
    "create_namespace",
    "delete_namespace",
    "other",
)

WRITE_OPERATIONS = frozenset({"upsert", "update", "delete", "create_namespace", "delete_namespace"})

_SCALARS = (
    "writes_received",
    "vectors_read",
    "vectors_written",
    "vectors_deleted",
    "bytes_in",
    "bytes_out",
    "rate_limited",
    "faults_injected",
)


class _Counters:
    __slots__ = ("requests", "responses", "values")

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.values: Counter[str] = Counter()

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": dict(self.requests),
            "requests_total": sum(self.requests.values()),
            "responses": dict(self.responses),
        }
        for name in _SCALARS:
            out[name] = self.values[name]
        return out


class _IndexCounters(_Counters):
    __slots__ = ("namespaces",)

    def __init__(self) -> None:
        super().__init__()
        self.namespaces: dict[str, _Counters] = {}

    def snapshot(self) -> dict[str, Any]:
        out = super().snapshot()
        out["namespaces"] = {
            display_namespace(name): counters.snapshot()
            for name, counters in sorted(self.namespaces.items())
        }
        return out


class StatsRegistry:
    """Thread-safe counters for one emulator (control plane + every index)."""

    def __init__(self, index_names: list[str]) -> None:
        self._lock = threading.Lock()
        self._index_names = list(index_names)
        self._reset_locked()

    def _reset_locked(self) -> None:
        self._control = _Counters()
        self._indexes = {name: _IndexCounters() for name in self._index_names}

    def reset(self) -> None:
        with self._lock:
            self._reset_locked()

    def _targets(self, index: str, namespace: str | None) -> list[_Counters]:
        counters = self._indexes[index]
        if namespace is None:
            return [counters]
        ns = counters.namespaces.get(namespace)
        if ns is None:
            ns = counters.namespaces[namespace] = _Counters()
        return [counters, ns]

    def request(
        self, index: str, namespace: str | None, op: str, bytes_in: int, write: bool
    ) -> None:
        with self._lock:
            for target in self._targets(index, namespace):
                target.requests[op] += 1
                target.values["bytes_in"] += bytes_in
                if write:
                    target.values["writes_received"] += 1

    def response(self, index: str, namespace: str | None, status: int, bytes_out: int) -> None:
        with self._lock:
            for target in self._targets(index, namespace):
                target.responses[str(status)] += 1
                target.values["bytes_out"] += bytes_out

    def add(self, index: str, namespace: str | None, **amounts: int) -> None:
        """Increase scalar counters, e.g. `add("src", "", vectors_read=10)`."""
        with self._lock:
            for target in self._targets(index, namespace):
                for name, amount in amounts.items():
                    target.values[name] += amount

    def control(self, op: str, status: int, bytes_in: int, bytes_out: int) -> None:
        with self._lock:
            self._control.requests[op] += 1
            self._control.responses[str(status)] += 1
            self._control.values["bytes_in"] += bytes_in
            self._control.values["bytes_out"] += bytes_out

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            control = self._control.snapshot()
            for name in _SCALARS:
                if name not in ("bytes_in", "bytes_out"):
                    control.pop(name, None)
            return {
                "control": control,
                "indexes": {name: c.snapshot() for name, c in self._indexes.items()},
            }
