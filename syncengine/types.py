"""The small typed shapes the engine exchanges with the rest of the project.

Everything outside ``syncengine`` (SDK adapters, the Django service layer, tests) codes against
these Protocols; the engine never sees an SDK object or a model instance.

Threading contract (the Django layer relies on it):

* ``SourceReader``, ``TargetStore`` and ``Embedder`` methods are called from worker threads,
  several at once, so adapters must be thread-safe (one SDK client shared by threads is fine
  for the pinecone and google-genai clients). ``list_id_pages`` of each index is consumed on a
  background thread of its own.
* ``Ledger`` and ``ResultSink`` methods are called **only from the thread that called**
  ``MirrorEngine.analyze/mirror/verify`` (the coordinating thread), one call at a time, so an
  implementation backed by the Django ORM needs no locking and no per-thread connections.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import (
    AdapterError,
    EngineError,
    PermanentError,
    PreflightError,
    TransientError,
)

if TYPE_CHECKING:
    from .stats import MirroringStats, RecordDiff

__all__ = [
    "AdapterError",
    "Embedder",
    "EngineError",
    "Ledger",
    "LedgerEntry",
    "PermanentError",
    "PreflightError",
    "Record",
    "ResultSink",
    "SourceReader",
    "TargetStore",
    "TransientError",
]


@dataclass(frozen=True, slots=True)
class Record:
    """One Pinecone record as the engine sees it.

    ``values`` is ``None`` only when an adapter could not obtain them; records the engine hands
    to ``TargetStore.upsert`` always carry a ``list[float]`` of the embedder's dimension.
    ``metadata`` must be treated as read-only by everyone: the engine copies before changing.
    """

    id: str
    values: Sequence[float] | None
    metadata: Mapping[str, Any]


@runtime_checkable
class SourceReader(Protocol):
    """Read access to one namespace of an index.

    Deliberately has **no write method**: the source index must never be modified, and making
    that a property of the type means the engine cannot even express a write to it.
    """

    def list_id_pages(self) -> Iterator[list[str]]:
        """Yield pages of record IDs in bytewise ("C" collation) ascending order.

        This is the order Pinecone's ``list`` returns; the engine's merge-join depends on it and
        raises ``EngineError`` if a page breaks it. Exceptions abort the run (the adapter is
        expected to have retried already), since a listing cannot be resumed part way.
        """
        ...

    def fetch(self, ids: Sequence[str]) -> dict[str, Record]:
        """Return the records for ``ids``; IDs that do not exist are simply absent.

        The engine never passes more than ``MirrorConfig.fetch_max`` IDs (Pinecone: 1000).
        Raise ``TransientError`` / ``PermanentError`` on failure.
        """
        ...

    def count(self) -> int | None:
        """Approximate number of records (``describe_index_stats``), or ``None`` if unknown.

        Used only for progress totals / ETA: Pinecone's counts lag behind writes.
        """
        ...


@runtime_checkable
class TargetStore(SourceReader, Protocol):
    """The writable index: a reader plus a whole-record upsert."""

    def upsert(self, records: Sequence[Record]) -> None:
        """Write ``records`` in **one** request, replacing existing records whole.

        The engine keeps each call within ``upsert_max_records`` and ``upsert_max_bytes`` (the
        REST body size). Must raise on failure (with the pinecone SDK: call ``Index.upsert``
        *without* ``batch_size``, which otherwise swallows failed batches), mapping 4xx to
        ``PermanentError`` and 429/5xx/timeouts to ``TransientError``.
        """
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into dense vectors (Gemini ``gemini-embedding-001`` at 3072 dims)."""

    @property
    def model(self) -> str:
        """Model name; recorded in the ledger so vectors of another model are never reused."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every returned vector; also the target index's dimension."""
        ...

    @property
    def max_batch(self) -> int:
        """Most texts per ``embed`` call (Gemini: 100; the SDK does not split for you)."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` (at most ``max_batch``), returning vectors in the same order."""
        ...


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What the engine knows it wrote to the target for one record ID.

    ``metadata_hash`` is ``canonical_metadata_hash`` of the metadata *without* managed keys, so
    it equals the hash of the source metadata the record was mirrored from.
    ``written_at`` is timezone-aware UTC.
    """

    record_id: str
    metadata_hash: str
    text_hash: str
    model: str
    dimension: int
    written_at: datetime


@runtime_checkable
class Ledger(Protocol):
    """Durable memory of writes, kept by the Django layer (table ``SyncedRecord``).

    It lets the engine (1) skip re-writing a record that a listing does not show yet because of
    eventual consistency, (2) reuse a vector already in the target for an identical text instead
    of paying for a new embedding, and (3) avoid reusing vectors of another model.
    Called only from the coordinating thread.
    """

    def get(self, ids: Sequence[str]) -> dict[str, LedgerEntry]:
        """Entries for those of ``ids`` that have one."""
        ...

    def find_by_text_hash(
        self, text_hashes: Sequence[str], model: str, dimension: int
    ) -> dict[str, str]:
        """Map each known text hash to *one* record ID written with that text/model/dimension."""
        ...

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        """Insert or replace entries (keyed by ``record_id``); called after every written batch."""
        ...


@runtime_checkable
class ResultSink(Protocol):
    """Where a run reports to (the Django layer persists SyncRun, RecordDiff rows, the log).

    Called only from the coordinating thread, in this order: ``phase`` once at the start, then
    per finished batch ``diffs`` (if any) followed by ``progress``, ``log`` whenever, and a final
    ``progress`` with the end statistics. ``cancelled`` is polled between batches.
    """

    def phase(self, name: str, total: int | None) -> None:
        """A run (``analyze``, ``dry_run``, ``mirror`` or ``verify``) starts.

        ``total`` is the approximate number of source records, or ``None``.
        """
        ...

    def progress(self, stats: MirroringStats, done: int, total: int | None) -> None:
        """After every batch: cumulative stats (a private copy) and source IDs processed."""
        ...

    def diffs(self, diffs: Sequence[RecordDiff]) -> None:
        """Per-record outcomes of one batch (created, updated, skipped, failed...)."""
        ...

    def log(self, level: str, message: str) -> None:
        """A run log line; ``level`` is ``debug``, ``info``, ``warning`` or ``error``."""
        ...

    def cancelled(self) -> bool:
        """True once the user asked the run to stop; it then stops cleanly between batches."""
        ...
