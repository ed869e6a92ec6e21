"""Runs that meet faults, rate limits, a rejected key or a kill still end where they should."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.genai import errors as genai_errors

from syncapp.models import SyncedRecord, SyncRun
from syncapp.services.runs import DjangoRunSink
from syncengine import MirroringStats
from tests.fixtures_gemini import genai_client_for
from tests.syncapp.conftest import (
    SOURCE_INDEX,
    TARGET_INDEX,
    MirrorEnv,
    expected_target,
    gemini_vector,
    join_engine_threads,
    rec,
    same_vector,
    target_rec,
)

pytestmark = pytest.mark.django_db


def assert_converged(env: MirrorEnv, expected: dict[str, dict[str, Any]]) -> None:
    """The target holds exactly `expected`, and every record mirrored from the source carries
    the vector of its text."""
    target = env.target_snapshot()
    assert {rid: r.metadata for rid, r in target.items()} == expected
    for rid, record in target.items():
        assert same_vector(record.values, gemini_vector(record.metadata["text"])), rid


def exhaust_gemini_quota(env: MirrorEnv) -> None:
    """Use up the emulator's requests-per-minute quota, as another client of the same Google
    Cloud project would, so the run starts against an empty bucket (refilled at rpm/60 per
    second) and meets Gemini's 429 RESOURCE_EXHAUSTED answers."""
    client = genai_client_for(env.gemini)
    try:
        for _ in range(2000):
            if env.gemini.stats()["requests"]["rate_limited"]:
                return
            try:
                client.models.embed_content(
                    model="gemini-embedding-001",
                    contents=["quota"],
                    config={"output_dimensionality": 128},
                )
            except genai_errors.APIError:
                pass  # an injected fault or the quota; the loop checks which
            except Exception:  # an injected dropped connection surfaces as an httpx error
                pass
        raise AssertionError("the Gemini quota could not be exhausted")
    finally:
        client.close()


def test_faults_and_rate_limits_do_not_stop_a_run_from_converging(
    make_mirror_env: Callable[..., MirrorEnv],
) -> None:
    env = make_mirror_env(
        pinecone_options={
            "fault_rate": 0.1,
            "seed": 20260115,
            # Requests per second (a second's worth of burst), well under what 4 workers ask.
            "rate_limits": {"list": 5, "fetch": 10, "upsert": 5, "describe_index_stats": 5},
        },
        # 300 requests a minute: 5 a second once the quota is used up.
        gemini_options={"fault_rate": 0.1, "seed": 20260115, "rpm": 300},
        batch_size=10,
    )
    count = 200
    env.seed_source([rec(f"doc-{i:03d}", f"text {i}", n=i) for i in range(count)])
    env.seed_target(
        [
            target_rec(f"doc-{i:03d}", f"text {i}", n=i, clearance_level="secret")
            for i in range(0, count, 3)
        ]
        + [
            target_rec(f"doc-{i:03d}", f"stale {i}", clearance_level="secret")
            for i in range(1, count, 9)
        ]
        + [target_rec(f"orphan-{i}", f"orphan {i}") for i in range(5)]
    )
    source, target_before = env.source_snapshot(), env.target_snapshot()
    expected = expected_target(source, target_before)
    env.pinecone.reset_stats()  # count only what the runs do
    exhaust_gemini_quota(env)
    gemini_before = env.gemini.stats()

    runs: list[SyncRun] = []
    for _ in range(3):
        runs.append(env.mirror())
        if runs[-1].status == "succeeded":
            break
    outcomes = [(r.status, r.records_written, r.failed_migration + r.failed_update) for r in runs]

    assert runs[-1].status == "succeeded", outcomes
    assert_converged(env, expected)
    assert runs[-1].verification is not None and runs[-1].verification["in_sync"] is True
    # Whatever the faults did, each record was written once (a rerun only retries failures).
    needing_a_write = sum(
        1
        for rid, metadata in expected.items()
        if rid in source and (rid not in target_before or target_before[rid].metadata != metadata)
    )
    assert sum(r.records_written for r in runs) == needing_a_write
    # The run really met faults and rate limits on both services.
    pinecone = env.pinecone.stats()["indexes"]
    assert sum(pinecone[i]["faults_injected"] for i in (SOURCE_INDEX, TARGET_INDEX)) > 0
    assert sum(pinecone[i]["rate_limited"] for i in (SOURCE_INDEX, TARGET_INDEX)) > 0
    gemini = env.gemini.stats()["requests"]
    assert gemini["faults"] > gemini_before["requests"]["faults"]
    assert gemini["rate_limited"] > gemini_before["requests"]["rate_limited"]

    writes, texts = env.writes_received(TARGET_INDEX), env.texts_embedded()
    again = env.mirror()
    assert (again.records_written, again.embeddings_requested, again.missing_in_target) == (0, 0, 0)
    assert again.metadata_matches + again.failed_update == count  # a read may still fail
    assert env.writes_received(TARGET_INDEX) == writes
    assert env.texts_embedded() == texts
    assert env.writes_received(SOURCE_INDEX) == 0


class WorkerTimeout(SystemExit):
    """What django-q2 raises in a task that outlives its timeout (`TimeoutException`, a
    `SystemExit` delivered by SIGALRM to the main thread, the engine's coordinating thread)."""


def test_a_run_killed_part_way_is_finished_by_the_next_run(
    mirror_env: MirrorEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = mirror_env
    batch_size, concurrency, count = 10, 2, 120
    env.configure(batch_size=batch_size, concurrency=concurrency)
    env.seed_source([rec(f"doc-{i:03d}", f"text {i}") for i in range(count)])
    expected = expected_target(env.source_snapshot(), {})
    kill_after = 30  # records recorded in the ledger before the "timeout" strikes

    original = DjangoRunSink.progress

    def progress(self: DjangoRunSink, stats: MirroringStats, done: int, total: int | None) -> None:
        original(self, stats, done, total)
        if self.run.kind == "mirror" and stats.records_written >= kill_after:
            raise WorkerTimeout()

    monkeypatch.setattr(DjangoRunSink, "progress", progress)
    with pytest.raises(WorkerTimeout):
        env.mirror()
    monkeypatch.setattr(DjangoRunSink, "progress", original)
    join_engine_threads()  # batches already being written when the kill struck finish

    killed = SyncRun.objects.get()
    assert (killed.status, killed.error) == ("failed", "interrupted (WorkerTimeout)")
    assert killed.finished_at is not None
    # The statistics reached so far were saved, and agree with the ledger.
    assert killed.records_written == killed.successfully_migrated == kill_after
    assert SyncedRecord.objects.count() == kill_after
    ledger = set(env.ledger())
    written = env.target_snapshot()
    assert ledger <= set(written)  # the ledger never claims a write that did not happen
    texts_first = env.texts_embedded()

    rerun = env.mirror()

    assert rerun.status == "succeeded"
    assert (rerun.matching_ids, rerun.metadata_matches) == (len(written), len(written))
    assert rerun.successfully_migrated == count - len(written)
    assert_converged(env, expected)
    # The rerun embedded exactly the records the target did not have: nothing written before
    # the kill was embedded again (the target lists it with equal metadata).
    total_texts = env.texts_embedded()
    assert total_texts - texts_first == count - len(written)
    # Texts embedded but never written are paid twice. Only batches in stage 2 when the kill
    # struck can be in that state, and the engine keeps at most 2 x concurrency batches in
    # flight (MirrorConfig.in_flight_limit); batches not yet started are cancelled, finished
    # ones are in the target. In this process those batches went on to write (the executor
    # is shut down without waiting, its threads finish their batch), so usually nothing at
    # all is paid twice; a process that really dies would lose at most this:
    assert total_texts <= count + 2 * concurrency * batch_size


def test_a_rejected_gemini_key_stops_the_run_without_splitting_batches(
    mirror_env: MirrorEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Google answers an unknown key with 400 API_KEY_INVALID, not 401. Taken for a bad text,
    it made the engine bisect every batch down to single texts (19 calls for 10 texts) and go
    through the whole namespace; it must abort after a few batches instead."""
    env = mirror_env
    env.configure(batch_size=10)
    env.seed_source([rec(f"doc-{i:03d}", f"text {i}") for i in range(300)])
    env.reset_counters()
    monkeypatch.setenv("GEMINI_API_KEY", "not-a-gemini-key")

    run = env.mirror()

    assert run.status == "failed"
    assert "consecutive batches failed" in run.error and "API key" in run.error
    assert run.records_written == 0
    calls = env.embed_requests()
    assert env.gemini.stats()["rejected_by_status"] == {"400": calls}
    # One call per batch, no splitting: the 5 failures that abort the run plus the batches
    # already in flight (at most 2 x concurrency).
    assert calls <= 5 + 2 * env.namespace.concurrency
    assert run.embedding_calls == calls
    assert env.writes_received(TARGET_INDEX) == 0
