from __future__ import annotations

import json

from syncengine import Record, metadata_size, plan_upserts
from syncengine.batching import chunk_texts, envelope_size, record_body_size

from .fakes import fake_vector

TWO_MB = 2 * 1024 * 1024


def compact_body(records: list[Record], namespace: str) -> int:
    """The body as the SDK would send it (compact JSON)."""
    body = {
        "vectors": [
            {"id": r.id, "values": list(r.values or []), "metadata": dict(r.metadata)}
            for r in records
        ],
        "namespace": namespace,
    }
    return len(json.dumps(body, separators=(",", ":")).encode())


def test_it_splits_3072_dimension_upserts_under_two_megabytes() -> None:
    records = [
        Record(f"r{i:03d}", fake_vector(f"t{i}", 3072), {"text": "x" * 2000, "n": i})
        for i in range(200)
    ]
    plan = plan_upserts(records, namespace="ns")
    assert plan.rejected == []
    assert len(plan.batches) > 4  # ~60 KB per record: about 30 per request, not 200
    assert [r.id for batch in plan.batches for r in batch] == [r.id for r in records]
    for batch in plan.batches:
        assert compact_body(batch, "ns") <= TWO_MB
        estimated = envelope_size("ns") + sum(record_body_size(r) + 2 for r in batch)
        assert estimated <= TWO_MB
    # And the packing is not wastefully small: each full batch uses most of the budget.
    assert sum(record_body_size(r) for r in plan.batches[0]) > TWO_MB * 0.9


def test_it_splits_by_count() -> None:
    records = [Record(f"r{i}", [0.1, 0.2], {"text": "t"}) for i in range(2500)]
    plan = plan_upserts(records, max_records=1000)
    assert [len(b) for b in plan.batches] == [1000, 1000, 500]
    plan = plan_upserts(records[:10], max_records=3)
    assert [len(b) for b in plan.batches] == [3, 3, 3, 1]


def test_it_rejects_oversized_metadata_alone() -> None:
    records = [
        Record("ok-1", [0.1], {"text": "fine"}),
        Record("too-big", [0.1], {"text": "y" * 41000}),
        Record("ok-2", [0.1], {"text": "fine"}),
    ]
    plan = plan_upserts(records)
    assert [[r.id for r in b] for b in plan.batches] == [["ok-1", "ok-2"]]
    assert len(plan.rejected) == 1
    rejected = plan.rejected[0]
    assert rejected.record_id == "too-big"
    assert "'too-big'" in rejected.reason and "41" in rejected.reason and "40960" in rejected.reason


def test_it_rejects_a_record_larger_than_a_request_alone() -> None:
    records = [Record("small", [0.5] * 10, {}), Record("huge", [0.123456789] * 100_000, {})]
    plan = plan_upserts(records, max_bytes=1024 * 1024)
    assert [[r.id for r in b] for b in plan.batches] == [["small"]]
    assert plan.rejected[0].record_id == "huge"
    assert "larger than an upsert request" in plan.rejected[0].reason


def test_metadata_size_counts_utf8_bytes() -> None:
    assert metadata_size({"a": "é"}) == len('{"a":"é"}'.encode())
    assert metadata_size({}) == 2


def test_embedding_chunks_respect_max_batch() -> None:
    texts = [f"t{i}" for i in range(250)]
    chunks = chunk_texts(texts, 100)
    assert [len(c) for c in chunks] == [100, 100, 50]
