"""The original plan's worked example: source {A..E}, target {A, B, C, F}."""

from __future__ import annotations

from typing import Any

from syncengine import DiffAction, DiffKind, RunKind, RunOutcome

from .fakes import fake_vector, rec
from .harness import CLEARANCE, Harness, assert_mirrored, make

ZERO_WORK = {
    "successfully_migrated": 0,
    "successfully_updated": 0,
    "failed_migration": 0,
    "failed_update": 0,
    "skipped_no_text": 0,
    "embeddings_requested": 0,
    "embedding_calls": 0,
    "vectors_reused": 0,
    "target_write_requests": 0,
    "records_written": 0,
    "already_migrated": 0,
    "vanished": 0,
    "would_migrate": 0,
    "would_update": 0,
}
# What analyses and dry runs report a real mirror would write: D and E; B and C.
WOULD = {"would_migrate": 2, "would_update": 2}

CLASSIFICATION = {
    "total_source_vectors": 5,
    "total_target_vectors": 4,
    "missing_in_target": 2,  # D, E
    "matching_ids": 3,  # A, B, C
    "metadata_matches": 1,  # A
    "metadata_differs": 2,  # B (author), C (text)
    "orphaned_in_target": 1,  # F
    # count + one list page + fetch of the missing batch + fetch of the matching batch
    "source_read_requests": 4,
    # one list page + fetch of the matching batch
    "target_read_requests": 2,
}


def seed() -> Harness:
    source = [
        rec("A", "alpha", year=2019, tags=["x", "y"], flag=True),
        rec("B", "bravo", author="ann"),
        rec("C", "charlie v2"),
        rec("D", "delta", year=2020),
        rec("E", "echo"),
    ]
    target = [
        rec("A", "alpha", year=2019.0, tags=["x", "y"], flag=True, clearance_level="secret"),
        rec("B", "bravo", author="bob", editor="eve", clearance_level="internal"),
        rec("C", "charlie", clearance_level="internal"),
        rec("F", "foxtrot", clearance_level="internal"),
    ]
    # The source keeps ints as ints, so 2019 vs 2019.0 really is compared.
    return make(source, target, source_float64=False)


def stats_of(h: Harness, run: Any) -> dict[str, int]:
    return run.stats.to_dict()


def test_analyze_classifies_the_example_exactly() -> None:
    h = seed()
    before = h.target.snapshot()
    result = h.engine().analyze()
    assert result.kind is RunKind.ANALYZE
    assert result.outcome is RunOutcome.SUCCEEDED
    assert result.stats.to_dict() == {**CLASSIFICATION, **ZERO_WORK, **WOULD}
    assert result.orphan_sample == ["F"]
    assert h.embedder.calls == 0
    assert h.target.calls["upsert"] == 0 and h.target.snapshot() == before
    diffs = h.sink.by_id()
    assert set(diffs) == {"B", "C", "D", "E"}
    assert diffs["D"].kind is DiffKind.MISSING and diffs["D"].action is DiffAction.NONE
    assert diffs["B"].kind is DiffKind.CHANGED and diffs["B"].action is DiffAction.NONE
    assert diffs["B"].changed_keys == ["author", "editor"]
    assert diffs["B"].text_changed is False
    assert diffs["B"].values["author"] == (
        {"value": "ann", "length": 3, "truncated": False},
        {"value": "bob", "length": 3, "truncated": False},
    )
    assert diffs["B"].values["editor"][0] is None
    assert diffs["C"].changed_keys == ["text"] and diffs["C"].text_changed is True
    assert h.sink.phases == [("analyze", 5)]


def test_dry_run_reports_what_a_run_would_do_and_writes_nothing() -> None:
    h = seed()
    before = h.target.snapshot()
    result = h.engine(dry_run=True).mirror()
    assert result.kind is RunKind.DRY_RUN
    assert result.stats.to_dict() == {**CLASSIFICATION, **ZERO_WORK, **WOULD}
    assert h.embedder.calls == 0
    assert h.target.calls["upsert"] == 0 and h.target.snapshot() == before
    assert h.ledger.entries == {}
    assert {d.action for d in h.sink.diff_rows} == {DiffAction.NONE}
    assert h.sink.phases[0][0] == "dry_run"


def test_mirror_migrates_missing_and_updates_changed_records() -> None:
    h = seed()
    result = h.engine().mirror()
    assert result.outcome is RunOutcome.SUCCEEDED
    assert result.stats.to_dict() == {
        **CLASSIFICATION,
        **ZERO_WORK,
        "successfully_migrated": 2,
        "successfully_updated": 2,
        "embeddings_requested": 3,  # delta, echo, charlie v2 (B keeps its vector)
        "embedding_calls": 2,  # one per batch (missing batch, matching batch)
        "vectors_reused": 1,  # B
        "target_write_requests": 2,
        "records_written": 4,
    }
    assert sorted(h.embedder.embedded) == ["charlie v2", "delta", "echo"]
    t = h.target
    assert dict(t["D"].metadata) == {
        "text": "delta",
        "year": 2020.0,
        "clearance_level": CLEARANCE,
    }
    assert t["D"].values == fake_vector("delta", 8)
    # B: metadata replaced whole (editor removed, author updated), clearance kept, vector kept.
    assert dict(t["B"].metadata) == {
        "text": "bravo",
        "author": "ann",
        "clearance_level": "internal",
    }
    assert t["B"].values == fake_vector("bravo", 8)
    assert t["C"].values == fake_vector("charlie v2", 8)
    assert t["C"].metadata["clearance_level"] == "internal"
    # A and F were never written.
    assert set(t.upserted_ids) == {"B", "C", "D", "E"}
    assert t["A"].metadata["clearance_level"] == "secret"
    assert dict(t["F"].metadata) == {"text": "foxtrot", "clearance_level": "internal"}
    actions = {d.record_id: d.action for d in h.sink.diff_rows}
    assert actions == {
        "B": DiffAction.METADATA_ONLY,
        "C": DiffAction.UPDATED,
        "D": DiffAction.CREATED,
        "E": DiffAction.CREATED,
    }
    assert set(h.ledger.entries) == {"B", "C", "D", "E"}
    assert_mirrored(h.source_index, h.target, dimension=8)


def test_a_second_mirror_writes_and_embeds_nothing() -> None:
    h = seed()
    h.engine().mirror()
    calls, upserts = h.embedder.calls, h.target.calls["upsert"]
    second = h.engine().mirror()
    s = second.stats
    assert (s.missing_in_target, s.matching_ids, s.metadata_matches) == (0, 5, 5)
    assert s.records_written == 0 and s.embedding_calls == 0 and s.target_write_requests == 0
    assert h.embedder.calls == calls and h.target.calls["upsert"] == upserts
    assert h.sink.diff_rows == []
    assert second.outcome is RunOutcome.SUCCEEDED


def test_verify_reports_in_sync_after_a_mirror() -> None:
    h = seed()
    before = h.engine().verify()
    assert not before.in_sync
    assert (before.missing, before.differing, before.orphans) == (2, 2, 1)
    assert before.missing_sample == ["D", "E"] and before.differing_sample == ["B", "C"]
    h.engine().mirror()
    after = h.engine().verify()
    assert after.in_sync
    assert (after.source_count, after.target_count) == (5, 6)
    assert (after.missing, after.differing, after.orphans, after.no_text) == (0, 0, 1, 0)
    assert after.orphan_sample == ["F"]


def test_the_source_is_never_written() -> None:
    h = seed()
    before = h.source_index.snapshot()
    h.engine().mirror()
    h.engine().mirror()
    assert not hasattr(h.source, "upsert")
    assert h.source_index.calls["upsert"] == 0
    assert h.source_index.snapshot() == before
