"""The emulator's records: one `IndexData` per index, one `NamespaceData` per namespace.

Layout, chosen for the hot paths (upsert and fetch of 3072-d vectors, exact query):

* Dense values live in one float32 matrix per namespace (float32 is what Pinecone stores, so
  values round-trip exactly as they would there). A record owns a row ("slot"); deleted slots
  are reused. Upsert writes rows with one fancy-indexed assignment, fetch hands row views to
  orjson (which serializes float32 with the shortest round-tripping repr), and query is one
  matrix-vector product.
* IDs are also kept in a `SortedList`, because `list` pages through them in bytewise order
  and must stay cheap while the namespace is being written to. IDs are ASCII, so Python's
  code-point order is exactly the "C" collation the service uses.
* Metadata is a Python dict per slot, numbers already normalised to floats.

Everything here runs on the event loop thread and never awaits, so each request's changes are
atomic with respect to other requests; no locks are needed. Persistence (if any) is told about
every change through the `ChangeLog` protocol after it is applied in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

import numpy as np
import orjson
from sortedcontainers import SortedList

from emulators.pinecone.filters import Predicate

Sparse = tuple[list[int], list[float]]


class ChangeLog(Protocol):
    """What persistence must record; called after each change is applied in memory."""

    def put(
        self,
        namespace: str,
        rows: Sequence[tuple[str, bytes, bytes | None, bytes | None]],
    ) -> None: ...

    def delete(self, namespace: str, ids: Sequence[str]) -> None: ...

    def clear(self, namespace: str) -> None: ...

    def set_namespace(self, namespace: str, explicit: bool, schema: bytes | None) -> None: ...


@dataclass(slots=True)
class Record:
    """A record as the write path hands it to the store."""

    id: str
    metadata: dict[str, Any] | None
    metadata_json: bytes | None
    sparse: Sparse | None


class NamespaceData:
    """All records of one namespace."""

    def __init__(self, dimension: int, *, explicit: bool = False) -> None:
        self.dimension = dimension
        # Created through POST /namespaces: such a namespace outlives its last record.
        self.explicit = explicit
        self.schema: dict[str, Any] | None = None
        self._reset()

    def _reset(self) -> None:
        dimension = self.dimension
        self._vectors = np.empty((0, dimension), dtype=np.float32)
        self._sqnorms = np.empty(0, dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._ids: list[str | None] = []
        self._metadata: list[dict[str, Any] | None] = []
        self._metadata_json: list[bytes | None] = []
        self._sparse: dict[int, Sparse] = {}
        self._slots: dict[str, int] = {}
        self._free: list[int] = []
        self.sorted_ids: SortedList = SortedList()

    def __len__(self) -> int:
        return len(self._slots)

    # --- slots --------------------------------------------------------------------------

    def _grow(self, needed: int) -> None:
        capacity = self._vectors.shape[0]
        if needed <= capacity:
            return
        # 1.5x rather than 2x: a 3072-d namespace of 100k vectors is already 1.2 GB.
        new_capacity = max(needed, capacity + capacity // 2, 16)
        high = len(self._ids)
        vectors = np.empty((new_capacity, self.dimension), dtype=np.float32)
        vectors[:high] = self._vectors[:high]
        sqnorms = np.zeros(new_capacity, dtype=np.float32)
        sqnorms[:high] = self._sqnorms[:high]
        alive = np.zeros(new_capacity, dtype=bool)
        alive[:high] = self._alive[:high]
        self._vectors, self._sqnorms, self._alive = vectors, sqnorms, alive

    def _allocate(self, count: int) -> list[int]:
        reused = [self._free.pop() for _ in range(min(count, len(self._free)))]
        fresh = count - len(reused)
        if fresh:
            high = len(self._ids)
            self._grow(high + fresh)
            self._ids.extend([None] * fresh)
            self._metadata.extend([None] * fresh)
            self._metadata_json.extend([None] * fresh)
            reused.extend(range(high, high + fresh))
        return reused

    def slot(self, vector_id: str) -> int | None:
        return self._slots.get(vector_id)

    # --- writes -------------------------------------------------------------------------

    def upsert(self, records: Sequence[Record], matrix: np.ndarray) -> None:
        """Insert or overwrite whole records; `records` must hold distinct IDs."""
        slots: list[int] = []
        new_ids: list[str] = []
        missing = [r.id for r in records if r.id not in self._slots]
        fresh = iter(self._allocate(len(missing)))
        for record in records:
            slot = self._slots.get(record.id)
            if slot is None:
                slot = next(fresh)
                self._slots[record.id] = slot
                new_ids.append(record.id)
            slots.append(slot)
            self._ids[slot] = record.id
            self._metadata[slot] = record.metadata
            self._metadata_json[slot] = record.metadata_json
            if record.sparse is not None:
                self._sparse[slot] = record.sparse
            else:
                self._sparse.pop(slot, None)
        index = np.asarray(slots, dtype=np.intp)
        self._vectors[index] = matrix
        self._sqnorms[index] = np.einsum("ij,ij->i", matrix, matrix)
        self._alive[index] = True
        if new_ids:
            self.sorted_ids.update(new_ids)

    def set_values(self, slot: int, values: np.ndarray) -> None:
        self._vectors[slot] = values
        self._sqnorms[slot] = float(np.dot(values, values))

    def set_metadata(
        self, slot: int, metadata: dict[str, Any] | None, encoded: bytes | None
    ) -> None:
        self._metadata[slot] = metadata
        self._metadata_json[slot] = encoded

    def set_sparse(self, slot: int, sparse: Sparse | None) -> None:
        if sparse is None:
            self._sparse.pop(slot, None)
        else:
            self._sparse[slot] = sparse

    def delete(self, ids: Iterable[str]) -> list[str]:
        """Delete the given IDs; returns those that existed."""
        deleted: list[str] = []
        for vector_id in ids:
            slot = self._slots.pop(vector_id, None)
            if slot is None:
                continue
            self._alive[slot] = False
            self._ids[slot] = None
            self._metadata[slot] = None
            self._metadata_json[slot] = None
            self._sparse.pop(slot, None)
            self._free.append(slot)
            self.sorted_ids.remove(vector_id)
            deleted.append(vector_id)
        return deleted

    def clear(self) -> int:
        count = len(self._slots)
        self._reset()
        return count

    # --- reads --------------------------------------------------------------------------

    def values(self, slot: int) -> np.ndarray:
        """A float32 row view: orjson serializes it directly, no Python floats involved."""
        return self._vectors[slot]

    def metadata(self, slot: int) -> dict[str, Any] | None:
        return self._metadata[slot]

    def metadata_json(self, slot: int) -> bytes | None:
        return self._metadata_json[slot]

    def sparse(self, slot: int) -> Sparse | None:
        return self._sparse.get(slot)

    def record_id(self, slot: int) -> str:
        vector_id = self._ids[slot]
        assert vector_id is not None
        return vector_id

    def live_slots(self) -> np.ndarray:
        return np.flatnonzero(self._alive[: len(self._ids)])

    def matching(self, predicate: Predicate) -> list[int]:
        """Slots whose metadata satisfies the filter (a Python scan: filters are arbitrary)."""
        metadata = self._metadata
        return [slot for slot in self._slots.values() if predicate(metadata[slot])]

    def ids_from(self, start: str | None, inclusive: bool) -> Iterator[str]:
        """IDs in bytewise order from `start` on."""
        if start is None:
            return iter(self.sorted_ids)
        return self.sorted_ids.irange(minimum=start, inclusive=(inclusive, True))

    def page(self, prefix: str, after: str | None, limit: int) -> tuple[list[str], bool]:
        """One page of IDs with `prefix`, strictly after `after`; and whether more follow.

        IDs sharing a prefix are contiguous in sorted order, so the scan starts at the prefix
        (or just after the continuation point, whichever is later) and stops at the first ID
        that no longer has the prefix.
        """
        if after is not None and after >= prefix:
            candidates = self.ids_from(after, inclusive=False)
        else:
            candidates = self.ids_from(prefix or None, inclusive=True)
        window = list(islice(candidates, limit + 1))
        page = [vector_id for vector_id in window if vector_id.startswith(prefix)]
        more = len(page) > limit
        return page[:limit], more

    # --- search -------------------------------------------------------------------------

    def search(
        self,
        query: np.ndarray | None,
        sparse_query: Sparse | None,
        metric: str,
        top_k: int,
        candidates: list[int] | None,
    ) -> list[tuple[int, float]]:
        """Exact nearest neighbours: `(slot, score)` best first.

        Scores follow Pinecone: cosine similarity and dot product (higher is closer), and for
        euclidean the squared distance (lower is closer). Equal scores are ordered by ID so
        results are deterministic.
        """
        high = len(self._ids)
        if candidates is None:
            slots = self.live_slots()
        else:
            slots = np.asarray(sorted(candidates), dtype=np.intp)
        if slots.size == 0:
            return []
        if query is not None:
            if candidates is None and slots.size == high:
                dots = self._vectors[:high] @ query
            else:
                dots = self._vectors[slots] @ query
        else:
            dots = np.zeros(slots.size, dtype=np.float32)
        if sparse_query is not None and self._sparse:
            dots = dots.astype(np.float32, copy=True)
            weights = dict(zip(sparse_query[0], sparse_query[1], strict=True))
            position = {int(slot): i for i, slot in enumerate(slots)}
            for slot, (indices, values) in self._sparse.items():
                at = position.get(slot)
                if at is not None:
                    dots[at] += sum(
                        weights.get(i, 0.0) * v for i, v in zip(indices, values, strict=True)
                    )
        sqnorms = self._sqnorms[slots]
        if metric == "cosine":
            qnorm = float(np.sqrt(np.dot(query, query))) if query is not None else 0.0
            denominator = np.sqrt(sqnorms) * qnorm
            scores = np.divide(
                dots, denominator, out=np.zeros_like(dots), where=denominator > 0
            ).astype(np.float32)
        elif metric == "euclidean":
            qsq = float(np.dot(query, query)) if query is not None else 0.0
            scores = np.maximum(sqnorms - 2.0 * dots + qsq, 0.0).astype(np.float32)
        else:
            scores = dots.astype(np.float32)
        ranking = scores if metric == "euclidean" else -scores
        k = min(top_k, slots.size)
        # argpartition finds the k best in linear time; only those are sorted.
        chosen = np.argpartition(ranking, k - 1)[:k] if k < slots.size else np.arange(slots.size)
        ids = self._ids
        ordered = sorted(
            (float(ranking[i]), ids[int(slots[i])] or "", int(slots[i]), float(scores[i]))
            for i in chosen
        )
        return [(slot, score) for _, _, slot, score in ordered]


class IndexData:
    """The namespaces of one index, plus its persistence log (if any)."""

    def __init__(
        self, name: str, dimension: int, metric: str, log: ChangeLog | None = None
    ) -> None:
        self.name = name
        self.dimension = dimension
        self.metric = metric
        self.namespaces: dict[str, NamespaceData] = {}
        self.log = log

    def namespace(self, name: str) -> NamespaceData | None:
        return self.namespaces.get(name)

    def exists(self, name: str) -> bool:
        """The default namespace always exists; others while they hold records or were created."""
        return name == "" or name in self.namespaces

    def _for_write(self, name: str) -> NamespaceData:
        data = self.namespaces.get(name)
        if data is None:
            data = self.namespaces[name] = NamespaceData(self.dimension)
        return data

    def _drop_if_empty(self, name: str) -> None:
        """A namespace that was only implied by its records disappears with the last of them."""
        data = self.namespaces.get(name)
        if data is not None and not data.explicit and len(data) == 0:
            del self.namespaces[name]

    def total(self) -> int:
        return sum(len(data) for data in self.namespaces.values())

    # --- writes (each also reaches the log) ---------------------------------------------

    def upsert(self, namespace: str, records: Sequence[Record], matrix: np.ndarray) -> None:
        self._for_write(namespace).upsert(records, matrix)
        if self.log is not None:
            self.log.put(
                namespace,
                [
                    (r.id, matrix[i].tobytes(), r.metadata_json, _sparse_json(r.sparse))
                    for i, r in enumerate(records)
                ],
            )

    def rewrite(self, namespace: str, slots: Sequence[int]) -> None:
        """Persist records changed in place (update)."""
        data = self.namespaces.get(namespace)
        if self.log is None or data is None:
            return
        self.log.put(
            namespace,
            [
                (
                    data.record_id(slot),
                    data.values(slot).tobytes(),
                    data.metadata_json(slot),
                    _sparse_json(data.sparse(slot)),
                )
                for slot in slots
            ],
        )

    def delete(self, namespace: str, ids: Iterable[str]) -> int:
        data = self.namespaces.get(namespace)
        if data is None:
            return 0
        deleted = data.delete(ids)
        self._drop_if_empty(namespace)
        if deleted and self.log is not None:
            self.log.delete(namespace, deleted)
        return len(deleted)

    def clear(self, namespace: str) -> int:
        data = self.namespaces.get(namespace)
        if data is None:
            return 0
        count = data.clear()
        self._drop_if_empty(namespace)
        if self.log is not None:
            self.log.clear(namespace)
        return count

    def create_namespace(self, namespace: str, schema: dict[str, Any] | None) -> NamespaceData:
        data = self._for_write(namespace)
        data.explicit = True
        data.schema = schema
        if self.log is not None:
            self.log.set_namespace(namespace, True, orjson.dumps(schema) if schema else None)
        return data

    def drop_namespace(self, namespace: str) -> int:
        data = self.namespaces.pop(namespace, None)
        if data is None:
            return 0
        if self.log is not None:
            self.log.clear(namespace)
            self.log.set_namespace(namespace, False, None)
        return len(data)


def _sparse_json(sparse: Sparse | None) -> bytes | None:
    if sparse is None:
        return None
    return orjson.dumps({"indices": sparse[0], "values": sparse[1]})
