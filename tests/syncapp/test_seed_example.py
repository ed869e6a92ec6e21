"""The seed plan's worked example, end to end: source {A..E}, target {A, B, C, F}.

A is equal (the source's `2019` comes back from Pinecone as `2019.0`, and only the target has a
clearance level), B's metadata changed (author changed, editor removed), C's text changed,
D and E are missing, F is an orphan. Every statistic of the SyncRun row is checked, for an
analysis, a dry run and a mirror, through the service layer, the real SDKs and the emulators.
"""

from __future__ import annotations

from typing import Any

import pytest

from syncapp.models import STAT_FIELDS, RecordDiff, SyncRun
from tests.syncapp.conftest import (
    SOURCE_INDEX,
    TARGET_INDEX,
    MirrorEnv,
    gemini_vector,
    rec,
    same_vector,
    target_rec,
)

pytestmark = pytest.mark.django_db

SOURCE = [
    rec("A", "alpha", year=2019, tags=["x", "y"], flag=True),
    rec("B", "bravo", author="ann"),
    rec("C", "charlie v2"),
    rec("D", "delta", year=2020),
    rec("E", "echo"),
]
TARGET = [
    target_rec("A", "alpha", year=2019.0, tags=["x", "y"], flag=True, clearance_level="secret"),
    target_rec("B", "bravo", author="bob", editor="eve", clearance_level="internal"),
    target_rec("C", "charlie", clearance_level="internal"),
    target_rec("F", "foxtrot", clearance_level="internal"),
]

CLASSIFICATION = {
    "total_source_vectors": 5,
    "total_target_vectors": 4,
    "missing_in_target": 2,  # D, E
    "matching_ids": 3,  # A, B, C
    "metadata_matches": 1,  # A
    "metadata_differs": 2,  # B, C
    "orphaned_in_target": 1,  # F
    # describe_index_stats (the count), one list page, the fetch of the missing batch and the
    # fetch of the matching batch
    "source_read_requests": 4,
    # one list page, the fetch of the matching batch
    "target_read_requests": 2,
}
NOTHING_DONE = {
    "successfully_migrated": 0,
    "successfully_updated": 0,
    "failed_migration": 0,
    "failed_update": 0,
    "skipped_no_text": 0,
    "embeddings_requested": 0,
    "embedding_calls": 0,
    "vectors_reused": 0,
    "records_written": 0,
    "target_write_requests": 0,
    "already_migrated": 0,
    "vanished": 0,
    "would_migrate": 0,
    "would_update": 0,
}
REPORTED = {**CLASSIFICATION, **NOTHING_DONE, "would_migrate": 2, "would_update": 2}
MIRRORED = {
    **CLASSIFICATION,
    **NOTHING_DONE,
    "successfully_migrated": 2,  # D, E
    "successfully_updated": 2,  # B, C
    "embeddings_requested": 3,  # delta, echo, charlie v2: B's text did not change
    "embedding_calls": 2,  # one per batch
    "vectors_reused": 1,  # B keeps its vector
    "records_written": 4,
    "target_write_requests": 2,  # one upsert per batch
}


def seeded(env: MirrorEnv) -> MirrorEnv:
    env.seed_source(SOURCE)
    env.seed_target(TARGET)
    env.reset_counters()
    return env


def diffs_of(run: SyncRun) -> dict[str, dict[str, Any]]:
    return {
        d.record_id: {
            "kind": d.kind,
            "action": d.action,
            "changed_keys": d.changed_keys,
            "values": d.values,
            "text_changed": d.text_changed,
            "error": d.error,
        }
        for d in RecordDiff.objects.filter(run=run)
    }


def shown(value: Any) -> dict[str, Any]:
    return {"value": value, "length": len(value), "truncated": False}


def expected_diffs(*, missing: str, changed_b: str, changed_c: str) -> dict[str, dict[str, Any]]:
    def row(kind: str, action: str, **extra: Any) -> dict[str, Any]:
        base = {"changed_keys": [], "values": {}, "text_changed": False, "error": ""}
        return {"kind": kind, "action": action, **base, **extra}

    return {
        "B": row(
            "changed",
            changed_b,
            changed_keys=["author", "editor"],
            values={
                "author": {"source": shown("ann"), "target": shown("bob")},
                "editor": {"source": None, "target": shown("eve")},
            },
        ),
        "C": row(
            "changed",
            changed_c,
            changed_keys=["text"],
            values={"text": {"source": shown("charlie v2"), "target": shown("charlie")}},
            text_changed=True,
        ),
        "D": row("missing", missing),
        "E": row("missing", missing),
    }


def test_the_expected_statistics_name_every_stat_field() -> None:
    assert set(REPORTED) == set(STAT_FIELDS) == set(MIRRORED)


def test_analysis_classifies_the_example_exactly(mirror_env: MirrorEnv) -> None:
    env = seeded(mirror_env)
    before = env.target_snapshot()

    run = env.analyze()

    assert (run.kind, run.dry_run, run.status, run.error) == ("analyze", False, "succeeded", "")
    assert run.trigger == "command"
    assert run.stats_dict() == REPORTED
    assert run.orphan_sample == ["F"]
    assert run.verification is None
    assert diffs_of(run) == expected_diffs(missing="none", changed_b="none", changed_c="none")
    assert env.writes_received(TARGET_INDEX) == 0
    assert env.embed_requests() == 0
    assert env.target_snapshot() == before


def test_dry_run_reports_the_example_and_writes_nothing(mirror_env: MirrorEnv) -> None:
    env = seeded(mirror_env)
    before = env.target_snapshot()

    run = env.dry_run()

    assert (run.kind, run.dry_run, run.status, run.error) == ("mirror", True, "succeeded", "")
    assert run.stats_dict() == REPORTED
    assert run.verification is None  # only a real mirror is verified
    assert diffs_of(run) == expected_diffs(missing="none", changed_b="none", changed_c="none")
    assert env.writes_received(TARGET_INDEX) == 0
    assert env.embed_requests() == 0
    assert env.target_snapshot() == before
    assert env.ledger() == {}


def test_mirror_brings_the_target_in_line_with_the_source(mirror_env: MirrorEnv) -> None:
    env = seeded(mirror_env)
    before = env.target_snapshot()

    run = env.mirror()

    assert (run.kind, run.dry_run, run.status, run.error) == ("mirror", False, "succeeded", "")
    assert run.stats_dict() == MIRRORED
    assert diffs_of(run) == expected_diffs(
        missing="created", changed_b="metadata_only", changed_c="updated"
    )
    verification = run.verification
    assert verification is not None
    assert verification["in_sync"] is True
    assert {k: verification[k] for k in ("source_count", "target_count", "orphans")} == {
        "source_count": 5,
        "target_count": 6,
        "orphans": 1,
    }
    assert (verification["missing"], verification["differing"]) == (0, 0)

    target = env.target_snapshot()
    assert {rid: r.metadata for rid, r in target.items()} == {
        # A equal: not written, keeps its own clearance level and its 2019.0
        "A": {"text": "alpha", "year": 2019.0, "tags": ["x", "y"], "flag": True}
        | {"clearance_level": "secret"},
        # B replaced whole: author updated, editor gone, clearance level kept
        "B": {"text": "bravo", "author": "ann", "clearance_level": "internal"},
        "C": {"text": "charlie v2", "clearance_level": "internal"},
        # D and E new: the namespace's clearance level
        "D": {"text": "delta", "year": 2020.0, "clearance_level": "internal"},
        "E": {"text": "echo", "clearance_level": "internal"},
        "F": {"text": "foxtrot", "clearance_level": "internal"},
    }
    for rid in ("A", "B", "F"):
        assert target[rid].values == before[rid].values, f"{rid}'s vector changed"
    for rid, text in (("C", "charlie v2"), ("D", "delta"), ("E", "echo")):
        assert same_vector(target[rid].values, gemini_vector(text)), rid
    assert env.texts_embedded() == 3
    assert env.index_stats(TARGET_INDEX, "docs")["vectors_written"] == 4
    assert env.writes_received(SOURCE_INDEX) == 0
    assert set(env.ledger()) == {"B", "C", "D", "E"}
