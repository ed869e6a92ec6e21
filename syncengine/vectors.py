"""Run-wide deduplication of embeddings: never pay twice for the same text in one run.

Texts repeat (boilerplate chunks, a record copied under two IDs, an update whose text did not
change). ``VectorCache`` makes sure each distinct text is embedded at most once per run even
when batches run concurrently:

* The coordinating thread *leases* the text hashes a batch needs, in batch order. Each hash is
  either a **hit** (vector already known, handed over in the lease), a **wait** (another batch
  claimed it earlier and is embedding it: a future), or a **claim** (this batch must produce
  it). Leasing on one thread in submission order means there is no race between two batches
  deciding to embed the same text.
* The claiming batch's worker must ``fulfil`` or ``abandon`` every claim (it does so in a
  ``finally``). Waiters block on the future. A claim is always made by a batch submitted
  earlier than any batch waiting on it and the executor runs work first-in first-out, so the
  claimant is already running when a waiter blocks: no deadlock, even with one worker.
* A fulfilled vector stays in a "recent" table until the coordinating thread has recorded
  the claiming batch in the ledger and calls ``release``; from then on the ledger's
  ``find_by_text_hash`` can point a later batch at the target record holding the vector. This
  closes the gap between "embedded" and "ledger knows" whatever the LRU size. Fulfilled
  vectors also go into a bounded LRU (``capacity`` entries) which saves that target fetch for
  texts seen recently. Leases hold references to their hits, so eviction never takes a vector
  from under a batch in flight. Memory: ``capacity`` vectors plus the claims of the batches
  in flight.

Vectors are kept as ``array('d')`` (8 bytes per dimension instead of ~32 for a list of Python
floats): a 3072-d vector is 24 KB.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

__all__ = ["Lease", "VectorCache", "compact"]


def compact(values: Sequence[float]) -> array[float]:
    """A compact copy of ``values`` (float64, so values round-trip exactly)."""
    return array("d", values)


@dataclass(slots=True)
class Lease:
    hits: dict[str, array[float]] = field(default_factory=dict)
    waits: dict[str, Future[array[float]]] = field(default_factory=dict)
    claims: list[str] = field(default_factory=list)


class VectorCache:
    def __init__(self, capacity: int) -> None:
        self._capacity = max(0, capacity)
        self._lock = threading.Lock()
        self._store: OrderedDict[str, array[float]] = OrderedDict()
        self._pending: dict[str, Future[array[float]]] = {}
        self._recent: dict[str, array[float]] = {}

    def lease(self, hashes: Iterable[str]) -> Lease:
        """Classify ``hashes`` (deduplicated, order kept) into hits, waits and new claims."""
        lease = Lease()
        with self._lock:
            for h in dict.fromkeys(hashes):
                vector = self._store.get(h)
                if vector is not None:
                    self._store.move_to_end(h)
                    lease.hits[h] = vector
                elif h in self._recent:
                    lease.hits[h] = self._recent[h]
                elif h in self._pending:
                    lease.waits[h] = self._pending[h]
                else:
                    self._pending[h] = Future()
                    lease.claims.append(h)
        return lease

    def fulfil(self, text_hash: str, vector: array[float]) -> None:
        """Publish the vector of a claimed hash to waiters and the LRU."""
        with self._lock:
            future = self._pending.pop(text_hash, None)
            self._recent[text_hash] = vector
            if self._capacity:
                self._store[text_hash] = vector
                self._store.move_to_end(text_hash)
                while len(self._store) > self._capacity:
                    self._store.popitem(last=False)
        if future is not None and not future.done():
            future.set_result(vector)

    def release(self, hashes: Iterable[str]) -> None:
        """The batch that claimed ``hashes`` is in the ledger now (or failed): unpin them."""
        with self._lock:
            for h in hashes:
                self._recent.pop(h, None)

    def abandon(self, text_hash: str, error: BaseException) -> None:
        """Give up a claim: waiters get ``error``; a later batch may claim the hash again."""
        with self._lock:
            future = self._pending.pop(text_hash, None)
        if future is not None and not future.done():
            future.set_exception(error)

    def abandon_all(self, error: BaseException) -> None:
        """Fail every outstanding claim (the run is being torn down): no waiter may hang."""
        with self._lock:
            futures = list(self._pending.values())
            self._pending.clear()
        for future in futures:
            if not future.done():
                future.set_exception(error)

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)
