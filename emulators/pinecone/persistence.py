"""Optional persistence: one SQLite file per index, written behind the request path.

Why SQLite with write-behind, rather than writing through or an append-only log:

* Writing through (one transaction per request, on the event loop) would put a disk sync in
  the hot path of every upsert and halve upsert throughput for 3072-d vectors.
* An append-only log is just as fast to write but needs its own compaction, or it grows with
  every overwrite; SQLite's `INSERT OR REPLACE` on a `(namespace, id)` primary key is the
  compaction. Vectors are stored as float32 blobs (12 KB for 3072-d), metadata as JSON.

Requests change the in-memory store and append a small operation to a queue; a writer thread
commits whatever is queued every `flush_interval` seconds (50 ms by default) in one
transaction. The queue holds only bytes already produced for the response, so the loop thread
pays a list append per request. With WAL and `synchronous=NORMAL` a committed transaction
survives the process being killed, so a SIGKILL loses at most the last `flush_interval` of
writes; a clean stop (`close()`) flushes everything first. If the writer falls behind by more
than `max_pending_bytes`, the writing request waits for it (backpressure rather than
unbounded memory).

The file records the index's dimension and metric; reopening it for an index declared with
a different shape is refused rather than silently serving vectors of the wrong width.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1"

_PUT = "put"
_DELETE = "delete"
_CLEAR = "clear"
_NAMESPACE = "namespace"


class PersistenceError(RuntimeError):
    """The data directory cannot be used for this index (wrong shape, unreadable file)."""


@dataclass(slots=True)
class LoadedNamespace:
    """What `SqliteLog.load` returns for one namespace."""

    name: str
    ids: list[str] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    metadata: list[dict[str, Any] | None] = field(default_factory=list)
    metadata_json: list[bytes | None] = field(default_factory=list)
    sparse: list[tuple[list[int], list[float]] | None] = field(default_factory=list)
    explicit: bool = False
    schema: dict[str, Any] | None = None

    def matrix(self, dimension: int) -> np.ndarray:
        if not self.blobs:
            return np.empty((0, dimension), dtype=np.float32)
        flat = np.frombuffer(b"".join(self.blobs), dtype=np.float32)
        return flat.reshape(len(self.blobs), dimension).copy()


class SqliteLog:
    """Write-behind log of one index's changes into `<data_dir>/<index>.sqlite3`."""

    def __init__(
        self,
        path: Path,
        *,
        index_name: str,
        dimension: int,
        metric: str,
        flush_interval: float = 0.05,
        max_pending_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.path = path
        self.dimension = dimension
        self.flush_interval = flush_interval
        self.max_pending_bytes = max_pending_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, used by the opening thread for load() and afterwards only by the
        # writer thread (hence check_same_thread=False).
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._init_schema(index_name, dimension, metric)
        except sqlite3.Error as exc:
            self._conn.close()
            raise PersistenceError(f"cannot open {path}: {exc}") from exc
        except PersistenceError:
            self._conn.close()
            raise
        self._ops: list[tuple[str, str, Any]] = []
        self._pending_bytes = 0
        self._cond = threading.Condition()
        self._drained = threading.Condition(self._cond)
        self._stopping = False
        self._busy = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"pinecone-emulator-persist-{index_name}", daemon=True
        )
        self._thread.start()

    # --- schema and loading -------------------------------------------------------------

    def _init_schema(self, index_name: str, dimension: int, metric: str) -> None:
        conn = self._conn
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (namespace TEXT NOT NULL, id TEXT NOT NULL, "
            "vals BLOB NOT NULL, metadata BLOB, sparse BLOB, PRIMARY KEY (namespace, id)) "
            "WITHOUT ROWID"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS namespaces (name TEXT PRIMARY KEY, schema BLOB)")
        stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        wanted = {"version": SCHEMA_VERSION, "dimension": str(dimension), "metric": metric}
        if not stored:
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", wanted.items())
            return
        for key, value in wanted.items():
            if stored.get(key) != value:
                raise PersistenceError(
                    f"{self.path} holds index {index_name!r} with {key}={stored.get(key)!r}, "
                    f"but it was declared with {key}={value!r}; use another --data-dir or "
                    "delete the file"
                )

    def load(self) -> list[LoadedNamespace]:
        """Every persisted namespace (call before the first write)."""
        loaded: dict[str, LoadedNamespace] = {}
        expected = 4 * self.dimension
        rows = self._conn.execute(
            "SELECT namespace, id, vals, metadata, sparse FROM vectors ORDER BY namespace"
        )
        for namespace, vector_id, blob, metadata, sparse in rows:
            if len(blob) != expected:
                raise PersistenceError(
                    f"{self.path}: record {vector_id!r} has {len(blob)} bytes of values, "
                    f"expected {expected}"
                )
            entry = loaded.get(namespace)
            if entry is None:
                entry = loaded[namespace] = LoadedNamespace(namespace)
            entry.ids.append(vector_id)
            entry.blobs.append(blob)
            metadata_bytes = bytes(metadata) if metadata is not None else None
            entry.metadata_json.append(metadata_bytes)
            entry.metadata.append(orjson.loads(metadata_bytes) if metadata_bytes else None)
            if sparse is not None:
                decoded = orjson.loads(sparse)
                entry.sparse.append((decoded["indices"], decoded["values"]))
            else:
                entry.sparse.append(None)
        for name, schema in self._conn.execute("SELECT name, schema FROM namespaces"):
            entry = loaded.get(name)
            if entry is None:
                entry = loaded[name] = LoadedNamespace(name)
            entry.explicit = True
            entry.schema = orjson.loads(schema) if schema else None
        return list(loaded.values())

    # --- the ChangeLog protocol (called on the event loop thread) -----------------------

    def _enqueue(self, kind: str, namespace: str, payload: Any, size: int) -> None:
        with self._cond:
            if self._error is not None:
                raise PersistenceError(f"persistence to {self.path} failed") from self._error
            if not self._ops:
                self._cond.notify_all()  # wake the writer: there is something to commit
            self._ops.append((kind, namespace, payload))
            self._pending_bytes += size
            if self._pending_bytes > self.max_pending_bytes:
                self._cond.notify_all()
                while self._pending_bytes > self.max_pending_bytes and self._error is None:
                    self._drained.wait(timeout=1.0)

    def put(
        self, namespace: str, rows: Sequence[tuple[str, bytes, bytes | None, bytes | None]]
    ) -> None:
        size = sum(len(r[1]) + len(r[2] or b"") + len(r[0]) for r in rows)
        self._enqueue(_PUT, namespace, list(rows), size)

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        self._enqueue(_DELETE, namespace, list(ids), sum(len(i) for i in ids))

    def clear(self, namespace: str) -> None:
        self._enqueue(_CLEAR, namespace, None, 0)

    def set_namespace(self, namespace: str, explicit: bool, schema: bytes | None) -> None:
        self._enqueue(_NAMESPACE, namespace, (explicit, schema), 0)

    # --- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._ops and not self._stopping:
                    self._cond.wait()
                if not self._ops:
                    return  # stopping, and everything is committed
                if not self._stopping and self._pending_bytes <= self.max_pending_bytes:
                    # Let a burst of requests accumulate into one transaction. flush(),
                    # close() and backpressure notify and so cut this wait short.
                    self._cond.wait(timeout=self.flush_interval)
                ops, self._ops = self._ops, []
                self._pending_bytes = 0
                self._busy = True
            try:
                self._write(ops)
            except BaseException as exc:  # reported to the next writer and to close()
                logger.exception("pinecone emulator: persisting to %s failed", self.path)
                with self._cond:
                    self._error = exc
            finally:
                with self._cond:
                    self._busy = False
                    self._drained.notify_all()

    def _write(self, ops: list[tuple[str, str, Any]]) -> None:
        conn = self._conn
        conn.execute("BEGIN")
        try:
            for kind, namespace, payload in ops:
                if kind == _PUT:
                    conn.executemany(
                        "INSERT OR REPLACE INTO vectors (namespace, id, vals, metadata, sparse) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [(namespace, *row) for row in payload],
                    )
                elif kind == _DELETE:
                    conn.executemany(
                        "DELETE FROM vectors WHERE namespace = ? AND id = ?",
                        [(namespace, vector_id) for vector_id in payload],
                    )
                elif kind == _CLEAR:
                    conn.execute("DELETE FROM vectors WHERE namespace = ?", (namespace,))
                else:
                    explicit, schema = payload
                    if explicit:
                        conn.execute(
                            "INSERT OR REPLACE INTO namespaces (name, schema) VALUES (?, ?)",
                            (namespace, schema),
                        )
                    else:
                        conn.execute("DELETE FROM namespaces WHERE name = ?", (namespace,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued so far is committed."""
        with self._cond:
            self._cond.notify_all()
            ok = self._drained.wait_for(
                lambda: (not self._ops and not self._busy) or self._error is not None,
                timeout=timeout,
            )
            if self._error is not None:
                raise PersistenceError(f"persistence to {self.path} failed") from self._error
            if not ok:
                raise PersistenceError(f"timed out flushing {self.path}")

    def close(self) -> None:
        """Flush, stop the writer and checkpoint the WAL into the main file."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._conn.close()
        if self._error is not None:
            raise PersistenceError(f"persistence to {self.path} failed") from self._error
