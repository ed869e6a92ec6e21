"""Splitting writes so every request stays inside Pinecone's limits.

An upsert may carry at most 1000 vectors **and** a 2 MB body. A 3072-d vector is ~35-65 KB
of JSON, so the byte limit, not the count, is what binds: about 30-50 such records per request.
Sizes are estimated with ``json.dumps`` in its default (spaced) form, floats as ``repr``: the
SDK encodes compactly with the same shortest float repr, so the estimate can only be larger
than the real body, never smaller.

Records that can never be written are rejected *alone* before any request, with a message that
names the record, so they neither fail nor delay their neighbours:

* metadata over 40 KB (Pinecone's per-record limit), measured after the managed keys are added;
* a single record whose JSON would not fit in a request body on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .types import Record

__all__ = [
    "RejectedRecord",
    "UpsertPlan",
    "check_metadata_size",
    "chunk_texts",
    "envelope_size",
    "metadata_size",
    "plan_upserts",
    "record_body_size",
]

# ", " between two records in the "vectors" array, as json.dumps would write it.
_SEPARATOR_BYTES = 2


def metadata_size(metadata: Mapping[str, Any]) -> int:
    """Bytes of ``metadata`` as compact UTF-8 JSON (how the 40 KB limit is reckoned)."""
    text = json.dumps(dict(metadata), separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass"))


def record_body_size(record: Record) -> int:
    """Bytes ``record`` adds to an upsert body (``{"id", "values", "metadata"}``), upper bound."""
    values = list(record.values) if record.values is not None else []
    body = {"id": record.id, "values": values, "metadata": dict(record.metadata)}
    return len(json.dumps(body).encode("ascii"))


def envelope_size(namespace: str) -> int:
    """Bytes of the request around the records: ``{"vectors": [...], "namespace": "..."}``."""
    return len(json.dumps({"vectors": [], "namespace": namespace}).encode("ascii"))


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    record_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class UpsertPlan:
    batches: list[list[Record]]
    rejected: list[RejectedRecord]


def check_metadata_size(record_id: str, metadata: Mapping[str, Any], limit: int) -> str | None:
    """An error message naming the record if its metadata is over ``limit`` bytes, else None."""
    size = metadata_size(metadata)
    if size > limit:
        return (
            f"record {record_id!r}: metadata is {size} bytes as JSON including managed keys, "
            f"over the per-record limit of {limit} bytes"
        )
    return None


def plan_upserts(
    records: Iterable[Record],
    *,
    namespace: str = "",
    max_records: int = 1000,
    max_bytes: int = 2 * 1024 * 1024,
    metadata_max_bytes: int = 40960,
) -> UpsertPlan:
    """Pack ``records`` greedily, in order, into requests within both limits.

    Rejected records are listed with a reason and left out of every batch. Input is one engine
    batch (bounded), so the plan is materialised.
    """
    budget = max_bytes - envelope_size(namespace)
    batches: list[list[Record]] = []
    rejected: list[RejectedRecord] = []
    current: list[Record] = []
    current_bytes = 0
    for record in records:
        too_big = check_metadata_size(record.id, record.metadata, metadata_max_bytes)
        if too_big is not None:
            rejected.append(RejectedRecord(record.id, too_big))
            continue
        size = record_body_size(record)
        if size > budget:
            rejected.append(
                RejectedRecord(
                    record.id,
                    f"record {record.id!r}: {size} bytes as JSON, larger than an upsert "
                    f"request may be ({max_bytes} bytes)",
                )
            )
            continue
        extra = size + (_SEPARATOR_BYTES if current else 0)
        if current and (len(current) >= max_records or current_bytes + extra > budget):
            batches.append(current)
            current, current_bytes, extra = [], 0, size
        current.append(record)
        current_bytes += extra
    if current:
        batches.append(current)
    return UpsertPlan(batches=batches, rejected=rejected)


def chunk_texts(texts: Sequence[str], max_batch: int) -> list[Sequence[str]]:
    """Embedding calls of at most ``max_batch`` texts each (Gemini: 100)."""
    return [texts[i : i + max_batch] for i in range(0, len(texts), max_batch)]
