"""Pinecone's request and record limits, met by the real stack: 2 MB upserts of 3072-d vectors,
and records whose metadata exceeds 40 KB once the clearance level is added."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from syncapp.models import RecordDiff
from syncengine.batching import metadata_size
from tests.syncapp.conftest import (
    SOURCE_INDEX,
    TARGET_INDEX,
    MirrorEnv,
    gemini_vector,
    rec,
    same_vector,
)

pytestmark = pytest.mark.django_db

MAX_UPSERT_BYTES = 2 * 1024 * 1024  # Pinecone's REST limit; the emulator answers 413 above it
MAX_METADATA_BYTES = 40 * 1024


def test_upserts_of_3072_d_vectors_are_split_under_2_mb(
    make_mirror_env: Callable[..., MirrorEnv],
) -> None:
    env = make_mirror_env(target_dimension=3072, embedding_dimension=3072, batch_size=100)
    count = 150
    # ~4 KB of metadata each, on top of ~35-60 KB of JSON per 3072-d vector.
    env.seed_source(
        [rec(f"doc-{i:03d}", f"text {i}", body="lorem ipsum " * 330, n=i) for i in range(count)]
    )
    env.reset_counters()

    run = env.mirror()

    assert (run.status, run.error) == ("succeeded", "")
    assert (run.successfully_migrated, run.records_written, run.failed_migration) == (150, 150, 0)
    upserts = env.index_stats(TARGET_INDEX, "docs")
    requests = upserts["requests"]["upsert"]
    # No request was refused as too large (the emulator answers 413 over 2 MB) or otherwise.
    assert upserts["responses"] == {"200": upserts["requests_total"]}
    assert requests == run.target_write_requests
    # The two engine batches (100 + 50 records) needed more requests than that: the byte
    # limit, not the count, decided.
    assert requests > 2
    total_bytes = upserts["bytes_in"]
    assert total_bytes > 2 * MAX_UPSERT_BYTES  # so at least two requests were unavoidable
    assert requests >= -(-total_bytes // MAX_UPSERT_BYTES)
    target = env.target_snapshot()
    assert len(target) == count
    assert same_vector(target["doc-007"].values, gemini_vector("text 7", 3072))
    assert target["doc-007"].metadata["clearance_level"] == "internal"


def oversized_record_text() -> str:
    """A text that makes the record's metadata fit the 40 KB limit in the source, but not once
    `"clearance_level": "internal"` is added."""
    base = {"text": ""}
    slack = 10
    text = "x" * (MAX_METADATA_BYTES - metadata_size(base) - slack)
    assert metadata_size({"text": text}) == MAX_METADATA_BYTES - slack
    assert metadata_size({"text": text, "clearance_level": "internal"}) > MAX_METADATA_BYTES
    return text


def test_a_record_over_40_kb_with_its_clearance_level_fails_alone(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    big = oversized_record_text()
    env.seed_source([rec(f"doc-{i}", f"text {i}") for i in range(5)] + [rec("doc-big", big)])
    env.reset_counters()

    analysis = env.analyze()
    assert analysis.status == "completed_with_errors"  # known in advance: certain to be refused
    assert (analysis.would_migrate, analysis.failed_migration) == (5, 1)
    failed = RecordDiff.objects.get(run=analysis, kind="failed")
    assert (failed.record_id, failed.action) == ("doc-big", "none")

    run = env.mirror()

    assert run.status == "completed_with_errors"
    assert (run.successfully_migrated, run.failed_migration, run.records_written) == (5, 1, 5)
    failed = RecordDiff.objects.get(run=run, kind="failed")
    assert (failed.record_id, failed.action) == ("doc-big", "failed")
    size = metadata_size({"text": big, "clearance_level": "internal"})
    assert "'doc-big'" in failed.error and f"{size} bytes" in failed.error
    assert f"{MAX_METADATA_BYTES}" in failed.error
    target = env.target_snapshot()
    assert sorted(target) == [f"doc-{i}" for i in range(5)]
    # Never sent: it was refused before any request or embedding.
    assert env.texts_embedded() == 5
    assert env.index_stats(TARGET_INDEX, "docs")["vectors_written"] == 5
    assert run.verification is not None and run.verification["in_sync"] is False
    assert run.verification["missing_sample"] == ["doc-big"]

    writes, texts = env.writes_received(TARGET_INDEX), env.texts_embedded()
    rerun = env.mirror()

    assert rerun.status == "completed_with_errors"
    assert (rerun.missing_in_target, rerun.failed_migration, rerun.metadata_matches) == (1, 1, 5)
    assert rerun.records_written == 0
    assert RecordDiff.objects.filter(run=rerun).count() == 1
    assert env.writes_received(TARGET_INDEX) == writes
    assert env.texts_embedded() == texts
    assert env.writes_received(SOURCE_INDEX) == 0


def test_the_size_arithmetic_matches_what_the_emulator_accepts(mirror_env: MirrorEnv) -> None:
    """The fixture above relies on the source accepting a record 10 bytes under the limit."""
    env = mirror_env
    text = oversized_record_text()
    env.seed_source([rec("edge", text)])
    stored = env.source_snapshot()["edge"].metadata
    assert len(json.dumps(stored, separators=(",", ":"))) == MAX_METADATA_BYTES - 10
