"""Streaming merge-join of two sorted ID listings.

Pinecone lists IDs in bytewise ("C" collation) order, so walking both listings side by side
classifies every ID while holding one page of each in memory: the plan's "get all IDs from
source and target, then compute set differences" would need memory proportional to the
namespace (10 M IDs of up to 512 bytes each).

The walk is only correct if both streams really are sorted: a single out-of-order ID would be
classified as missing on one side and orphan on the other, and the engine would re-embed and
re-write it. So order is checked on every ID and a violation raises ``EngineError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from itertools import islice
from typing import TypeVar

from .errors import EngineError

__all__ = ["Side", "batched", "iter_sorted_ids", "merge_join"]

T = TypeVar("T")


class Side(StrEnum):
    MISSING = "missing"  # source only: to migrate
    MATCHING = "matching"  # in both: to compare
    ORPHAN = "orphan"  # target only: counted, never touched


def iter_sorted_ids(pages: Iterable[Sequence[str]], label: str) -> Iterator[tuple[str, bytes]]:
    """Flatten ``pages`` into ``(id, id.encode())``, raising if not strictly ascending bytewise.

    Bytes are compared rather than ``str`` to say exactly what Pinecone does; for valid
    (ASCII) IDs the two orders agree, and UTF-8 preserves code point order anyway. A repeated ID
    is treated as out of order too: a listing never returns an ID twice.
    """
    previous: bytes | None = None
    for page in pages:
        for record_id in page:
            key = record_id.encode("utf-8", "surrogatepass")
            if previous is not None and key <= previous:
                raise EngineError(
                    f"{label} listing is not in bytewise ascending order: "
                    f"{previous.decode('utf-8', 'replace')!r} was followed by {record_id!r}; "
                    "refusing to classify records from a corrupted listing"
                )
            previous = key
            yield record_id, key


def merge_join(
    source_pages: Iterable[Sequence[str]],
    target_pages: Iterable[Sequence[str]],
    *,
    source_label: str = "source",
    target_label: str = "target",
) -> Iterator[tuple[str, Side]]:
    """Yield every ID of either listing once, in bytewise order, with its ``Side``.

    Both inputs are consumed lazily, one page at a time, so memory does not depend on the
    namespace size. Raises ``EngineError`` when either listing is out of order (the error
    surfaces as soon as the offending ID is reached; IDs yielded before are correct).
    """
    source = iter_sorted_ids(source_pages, source_label)
    target = iter_sorted_ids(target_pages, target_label)
    s = next(source, None)
    t = next(target, None)
    while s is not None and t is not None:
        if s[1] == t[1]:
            yield s[0], Side.MATCHING
            s = next(source, None)
            t = next(target, None)
        elif s[1] < t[1]:
            yield s[0], Side.MISSING
            s = next(source, None)
        else:
            yield t[0], Side.ORPHAN
            t = next(target, None)
    while s is not None:
        yield s[0], Side.MISSING
        s = next(source, None)
    while t is not None:
        yield t[0], Side.ORPHAN
        t = next(target, None)


def batched(iterable: Iterable[T], n: int) -> Iterator[list[T]]:
    """Lists of at most ``n`` items (the last may be shorter; none is empty)."""
    if n < 1:
        raise ValueError("batch size must be at least 1")
    iterator = iter(iterable)
    while chunk := list(islice(iterator, n)):
        yield chunk
