"""In-memory stand-ins for the engine's collaborators, faithful where it matters.

``FakeIndex`` behaves like a Pinecone serverless namespace: bytewise-sorted paged listing read
lazily (so writes during a listing behave as they would), fetch of at most 1000 IDs with
absent IDs left out, whole-record upserts checked against the count, body size, metadata size
and dimension limits, numbers stored as float64. It also injects faults and can hide recent
writes from its listing (eventual consistency).

``InMemoryLedger`` and ``RecordingSink`` record the thread of every call so tests can assert
the engine's promise that both are only called from the coordinating thread.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncengine import (
    LedgerEntry,
    MirroringStats,
    PermanentError,
    Record,
    RecordDiff,
    TransientError,
)

FETCH_MAX = 1000
UPSERT_MAX_RECORDS = 1000
UPSERT_MAX_BYTES = 2 * 1024 * 1024
METADATA_MAX_BYTES = 40960


class Crash(Exception):
    """Stands for the process dying (not an adapter error: the engine must stop)."""


class Faults:
    """Seeded, thread-safe fault injection: ``rate`` of calls to ``ops`` raise TransientError."""

    def __init__(self, rate: float, ops: Iterable[str], seed: int = 1234) -> None:
        self.rate = rate
        self.ops = set(ops)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()

    def maybe_fail(self, op: str) -> None:
        if op not in self.ops:
            return
        with self._lock:
            fail = self._random.random() < self.rate
            if fail:
                self.injected[op] += 1
        if fail:
            raise TransientError(f"injected 503 on {op}", status=503)


def _float64(value: Any) -> Any:
    """What Pinecone hands back for a stored metadata value: every number becomes a float."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_float64(v) for v in value]
    return value


class FakeIndex:
    """One namespace of a Pinecone-like index, implementing ``TargetStore``."""

    def __init__(
        self,
        records: Iterable[Record] = (),
        *,
        page_size: int = 100,
        dimension: int | None = None,
        name: str = "index",
        float64_numbers: bool = True,
    ) -> None:
        self.name = name
        self.float64_numbers = float64_numbers
        self.page_size = page_size
        self.dimension = dimension
        self._lock = threading.RLock()
        self._records: dict[str, Record] = {}
        self._sorted: list[str] = []
        self.calls: Counter[str] = Counter()
        self.upserted_ids: Counter[str] = Counter()
        self.faults: Faults | None = None
        self.reject_ids: set[str] = set()  # upserts containing these fail permanently
        self.refuse_status: int | None = None  # e.g. 401: every upsert refused
        # Eventual consistency: when set, upserts are accepted but neither listed nor fetched
        # until settle() is called (reads return the previous version, if any).
        self.lag_writes = False
        self._unsettled: dict[str, Record] = {}
        self.listing_override: list[list[str]] | None = None
        self.count_value: int | Exception | None = None  # None -> real count
        self.max_body_seen = 0
        for record in records:
            self._put(record)

    # -- helpers for tests
    def _put(self, record: Record) -> None:
        if record.id not in self._records:
            bisect.insort(self._sorted, record.id, key=lambda s: s.encode())
        self._records[record.id] = Record(
            record.id,
            list(record.values) if record.values is not None else None,
            {k: _float64(v) if self.float64_numbers else v for k, v in record.metadata.items()},
        )

    def get(self, record_id: str) -> Record | None:
        with self._lock:
            return self._records.get(record_id)

    def __getitem__(self, record_id: str) -> Record:
        with self._lock:
            return self._records[record_id]

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._sorted)

    def snapshot(self) -> dict[str, Record]:
        with self._lock:
            return dict(self._records)

    def __len__(self) -> int:
        return len(self._records)

    # -- SourceReader
    def list_id_pages(self) -> Iterator[list[str]]:
        if self.listing_override is not None:
            for override in self.listing_override:
                self.calls["list"] += 1
                yield list(override)
            return
        after: str | None = None
        first = True
        while True:
            with self._lock:
                self.calls["list"] += 1
                keys = self._sorted
                start = 0
                if after is not None:
                    start = bisect.bisect_right(keys, after.encode(), key=lambda s: s.encode())
                page: list[str] = []
                position = start
                while len(page) < self.page_size and position < len(keys):
                    page.append(keys[position])
                    position += 1
                if position > start:
                    after = keys[position - 1]
                exhausted = position >= len(keys)
            if page or first:
                yield page
            first = False
            if exhausted:
                return

    def fetch(self, ids: Sequence[str]) -> dict[str, Record]:
        if not 1 <= len(ids) <= FETCH_MAX:
            raise PermanentError(f"fetch takes 1-{FETCH_MAX} IDs, got {len(ids)}", status=400)
        with self._lock:
            self.calls["fetch"] += 1
        if self.faults is not None:
            self.faults.maybe_fail("fetch")
        with self._lock:
            return {i: self._records[i] for i in ids if i in self._records}

    def count(self) -> int | None:
        with self._lock:
            self.calls["count"] += 1
        if isinstance(self.count_value, Exception):
            raise self.count_value
        return len(self._records) if self.count_value is None else self.count_value

    # -- TargetStore
    def upsert(self, records: Sequence[Record]) -> None:
        with self._lock:
            self.calls["upsert"] += 1
        if not 1 <= len(records) <= UPSERT_MAX_RECORDS:
            raise PermanentError(f"upsert takes 1-1000 vectors, got {len(records)}", status=400)
        body = json.dumps(
            {
                "vectors": [
                    {"id": r.id, "values": r.values, "metadata": dict(r.metadata)} for r in records
                ],
                "namespace": "ns",
            },
            separators=(",", ":"),
        )
        self.max_body_seen = max(self.max_body_seen, len(body))
        if len(body) > UPSERT_MAX_BYTES:
            raise PermanentError(f"request body {len(body)} bytes exceeds 2MB", status=413)
        if self.refuse_status is not None:
            raise PermanentError("Unauthorized", status=self.refuse_status)
        for r in records:
            if not isinstance(r.values, list):
                raise PermanentError(f"values of {r.id!r} must be a list", status=400)
            if self.dimension is not None and len(r.values) != self.dimension:
                raise PermanentError(
                    f"vector {r.id!r} dimension {len(r.values)} != {self.dimension}", status=400
                )
            size = len(json.dumps(dict(r.metadata), separators=(",", ":")).encode())
            if size > METADATA_MAX_BYTES:
                raise PermanentError(f"metadata of {r.id!r} is {size} bytes > 40KB", status=400)
            if r.id in self.reject_ids:
                raise PermanentError(f"vector {r.id!r} rejected", status=400)
        if self.faults is not None:
            self.faults.maybe_fail("upsert")
        with self._lock:
            for r in records:
                self.upserted_ids[r.id] += 1
                if self.lag_writes:
                    self._unsettled[r.id] = r
                else:
                    self._put(r)

    def settle(self) -> None:
        """Make every lagging write visible, as Pinecone eventually does."""
        with self._lock:
            for record in self._unsettled.values():
                self._put(record)
            self._unsettled.clear()


class ReadOnlySource:
    """A source view with only the reader methods: there is nothing to write with."""

    def __init__(self, index: FakeIndex) -> None:
        self._index = index

    def list_id_pages(self) -> Iterator[list[str]]:
        return self._index.list_id_pages()

    def fetch(self, ids: Sequence[str]) -> dict[str, Record]:
        return self._index.fetch(ids)

    def count(self) -> int | None:
        return self._index.count()


def fake_vector(text: str, dimension: int) -> list[float]:
    """Deterministic unit vector of ``text`` (never all zero)."""
    out: list[float] = []
    counter = 0
    while len(out) < dimension:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        for i in range(0, len(digest), 4):
            (n,) = struct.unpack(">I", digest[i : i + 4])
            out.append(n / 2**31 - 1.0)
        counter += 1
    out = out[:dimension]
    norm = math.sqrt(sum(v * v for v in out)) or 1.0
    return [v / norm for v in out]


class FakeEmbedder:
    """Counts calls and texts; optional transient faults, permanent failures and a crash."""

    def __init__(
        self,
        dimension: int = 8,
        *,
        max_batch: int = 100,
        model: str = "fake-embedding-001",
        faults: Faults | None = None,
        fail_texts: Iterable[str] = (),
        crash_after_calls: int | None = None,
        wrong_dimension_texts: Iterable[str] = (),
        keep_texts: bool = True,
        refuse_status: int | None = None,
    ) -> None:
        self.refuse_status = refuse_status  # e.g. 401: every call refused (bad API key)
        self.keep_texts = keep_texts  # off for memory measurements (the Counter grows)
        self.model = model
        self.dimension = dimension
        self.max_batch = max_batch
        self.faults = faults
        self.fail_texts = set(fail_texts)
        self.wrong_dimension_texts = set(wrong_dimension_texts)
        self.crash_after_calls = crash_after_calls
        self._lock = threading.Lock()
        self.calls = 0
        self.embedded: Counter[str] = Counter()  # texts successfully embedded

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self.calls += 1
            calls = self.calls
        if len(texts) > self.max_batch:
            raise PermanentError(f"at most {self.max_batch} texts per call", status=400)
        if self.crash_after_calls is not None and calls > self.crash_after_calls:
            raise Crash(f"simulated crash on embedding call {calls}")
        if self.faults is not None:
            self.faults.maybe_fail("embed")
        if self.refuse_status is not None:
            raise PermanentError("API key not valid", status=self.refuse_status)
        if self.fail_texts.intersection(texts):
            raise PermanentError("text rejected by the model", status=400)
        if self.keep_texts:
            with self._lock:
                self.embedded.update(texts)
        return [
            fake_vector(
                t, self.dimension - 1 if t in self.wrong_dimension_texts else self.dimension
            )
            for t in texts
        ]

    @property
    def texts_embedded(self) -> int:
        return sum(self.embedded.values())


class _ThreadRecorder:
    def __init__(self) -> None:
        self.threads: set[int] = set()

    def _note(self) -> None:
        self.threads.add(threading.get_ident())


class InMemoryLedger(_ThreadRecorder):
    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, LedgerEntry] = {}
        self.calls: Counter[str] = Counter()

    def get(self, ids: Sequence[str]) -> dict[str, LedgerEntry]:
        self._note()
        self.calls["get"] += 1
        return {i: self.entries[i] for i in ids if i in self.entries}

    def find_by_text_hash(
        self, text_hashes: Sequence[str], model: str, dimension: int
    ) -> dict[str, str]:
        self._note()
        self.calls["find_by_text_hash"] += 1
        wanted = set(text_hashes)
        found: dict[str, str] = {}
        for entry in self.entries.values():
            if (
                entry.text_hash in wanted
                and entry.model == model
                and entry.dimension == dimension
                and entry.text_hash not in found
            ):
                found[entry.text_hash] = entry.record_id
        return found

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        self._note()
        self.calls["record"] += 1
        for entry in entries:
            self.entries[entry.record_id] = entry


@dataclass
class RecordingSink(_ThreadRecorder):
    """Keeps everything it is told. ``cancel_after`` progress reports, it asks to stop."""

    cancel_after: int | None = None
    keep_progress: bool = True
    phases: list[tuple[str, int | None]] = field(default_factory=list)
    progress_reports: list[tuple[MirroringStats, int, int | None]] = field(default_factory=list)
    progress_count: int = 0
    diff_rows: list[RecordDiff] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    threads: set[int] = field(default_factory=set)
    on_progress: Callable[[int], None] | None = None

    def phase(self, name: str, total: int | None) -> None:
        self._note()
        self.phases.append((name, total))

    def progress(self, stats: MirroringStats, done: int, total: int | None) -> None:
        self._note()
        self.progress_count += 1
        if self.keep_progress:
            self.progress_reports.append((stats, done, total))
        if self.on_progress is not None:
            self.on_progress(self.progress_count)

    def diffs(self, diffs: Sequence[RecordDiff]) -> None:
        self._note()
        self.diff_rows.extend(diffs)

    def log(self, level: str, message: str) -> None:
        self._note()
        self.logs.append((level, message))

    def cancelled(self) -> bool:
        self._note()
        return self.cancel_after is not None and self.progress_count >= self.cancel_after

    def by_id(self) -> dict[str, RecordDiff]:
        return {d.record_id: d for d in self.diff_rows}


class CountingSink:
    """A sink that keeps nothing per batch (for memory measurements)."""

    def __init__(self) -> None:
        self.progress_count = 0
        self.diff_count = 0
        self.last_done = 0

    def phase(self, name: str, total: int | None) -> None:
        pass

    def progress(self, stats: MirroringStats, done: int, total: int | None) -> None:
        self.progress_count += 1
        self.last_done = done

    def diffs(self, diffs: Sequence[RecordDiff]) -> None:
        self.diff_count += len(diffs)

    def log(self, level: str, message: str) -> None:
        pass

    def cancelled(self) -> bool:
        return False


def rec(record_id: str, text: str | None = None, dimension: int = 8, **metadata: Any) -> Record:
    """A record with ``text`` in ``metadata["text"]`` and the vector of that text, as a record
    correctly mirrored earlier would have."""
    md: dict[str, Any] = dict(metadata)
    if text is not None:
        md["text"] = text
    return Record(record_id, fake_vector(text or f"no text:{record_id}", dimension), md)


def with_metadata(record: Record, **changes: Any) -> Record:
    md: dict[str, Any] = dict(record.metadata)
    for key, value in changes.items():
        if value is _DELETE:
            md.pop(key, None)
        else:
            md[key] = value
    return Record(record.id, record.values, md)


_DELETE: Any = object()
DELETE = _DELETE


def metadata_of(index: FakeIndex, record_id: str) -> Mapping[str, Any]:
    record = index.get(record_id)
    assert record is not None, f"{record_id} not in {index.name}"
    return record.metadata
