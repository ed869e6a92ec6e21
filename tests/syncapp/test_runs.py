"""Run lifecycle through the services: one active mirror per namespace, claim-once execution,
and cancellation of queued and running runs."""

from __future__ import annotations

from typing import Any

import pytest

from syncapp.models import SyncRun
from syncapp.services import runs as run_services
from syncapp.services.errors import RunConflict, ServiceError
from syncapp.services.runs import DjangoRunSink, sync_run_cancel, sync_run_execute
from syncengine import MirroringStats
from tests.syncapp.conftest import TARGET_INDEX, MirrorEnv, expected_target, rec

pytestmark = pytest.mark.django_db


def counters(env: MirrorEnv) -> tuple[Any, Any]:
    return env.pinecone.stats(), env.gemini.stats()


# --- one active real mirror per namespace -------------------------------------------------------


def test_only_one_real_mirror_of_a_namespace_may_be_queued(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.seed_source([rec("a", "alpha")])
    first = env.create("mirror")

    with pytest.raises(RunConflict) as conflict:
        env.create("mirror")
    assert str(conflict.value) == (
        f"A mirror of docs is already queued (run #{first.pk}); wait for it to finish or cancel it."
    )
    # Dry runs and analyses write nothing: they may run beside it.
    dry_run = env.create("mirror", dry_run=True)
    analysis = env.create("analyze")
    assert env.execute(dry_run).status == "succeeded"
    assert env.execute(analysis).status == "succeeded"
    assert SyncRun.objects.filter(kind="mirror", dry_run=False).count() == 1

    assert env.execute(first).status == "succeeded"
    second = env.create("mirror")  # the first one has finished
    assert env.execute(second).status == "succeeded"


def test_a_mirror_cannot_be_started_while_one_is_running(
    mirror_env: MirrorEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = mirror_env
    env.seed_source([rec(f"doc-{i}", f"text {i}") for i in range(3)])
    refused: list[str] = []
    original = DjangoRunSink.progress

    def progress(self: DjangoRunSink, stats: MirroringStats, done: int, total: int | None) -> None:
        original(self, stats, done, total)
        if not refused:
            try:
                env.create("mirror")
            except RunConflict as exc:
                refused.append(str(exc))

    monkeypatch.setattr(DjangoRunSink, "progress", progress)
    run = env.mirror()

    assert run.status == "succeeded"
    assert refused == [
        f"A mirror of docs is already running (run #{run.pk}); wait for it to finish or cancel it."
    ]
    assert SyncRun.objects.count() == 1


def test_a_duplicated_task_does_nothing_the_second_time(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.seed_source([rec("a", "alpha"), rec("b", "bravo")])
    run = env.mirror()
    assert run.status == "succeeded"
    before = counters(env)
    row = SyncRun.objects.values().get(pk=run.pk)

    again = sync_run_execute(run_id=run.pk)

    assert again.status == "succeeded"
    assert SyncRun.objects.values().get(pk=run.pk) == row  # not touched
    assert counters(env) == before  # not a single request to Pinecone or Gemini


# --- cancellation -------------------------------------------------------------------------------


def test_cancelling_a_queued_run_cancels_it_at_once(mirror_env: MirrorEnv) -> None:
    env = mirror_env
    env.seed_source([rec("a", "alpha")])
    run = env.create("mirror")

    cancelled = sync_run_cancel(run=run)

    assert (cancelled.status, cancelled.cancel_requested) == ("cancelled", True)
    assert cancelled.finished_at is not None
    # Its task, delivered later, finds nothing to do.
    assert sync_run_execute(run_id=run.pk).status == "cancelled"
    assert env.writes_received(TARGET_INDEX) == 0
    with pytest.raises(ServiceError, match="already finished"):
        sync_run_cancel(run=run)
    env.create("mirror")  # no longer blocks the namespace


def test_cancelling_a_running_run_stops_it_between_batches(
    mirror_env: MirrorEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = mirror_env
    count = 100
    env.configure(batch_size=10, concurrency=1)
    env.seed_source([rec(f"doc-{i:03d}", f"text {i}") for i in range(count)])
    expected = expected_target(env.source_snapshot(), {})
    # Read the cancel flag at every poll: the default (once a second) would let a run this
    # small finish before it looks.
    monkeypatch.setattr(run_services, "CANCEL_POLL_INTERVAL", 0.0)
    original = DjangoRunSink.progress

    def progress(self: DjangoRunSink, stats: MirroringStats, done: int, total: int | None) -> None:
        original(self, stats, done, total)
        if stats.records_written and not self.run.cancel_requested:
            sync_run_cancel(run=self.run)  # as a user clicking "Cancel" meanwhile would
            self.run.cancel_requested = True

    monkeypatch.setattr(DjangoRunSink, "progress", progress)
    run = env.mirror()
    monkeypatch.setattr(DjangoRunSink, "progress", original)

    assert run.status == "cancelled"
    assert run.error == "" and run.finished_at is not None
    assert run.verification is None  # a cancelled mirror is not verified
    # Stopped between batches: the batches in flight (at most 2 x concurrency) finished.
    assert 10 <= run.records_written <= 30
    assert run.records_written == run.successfully_migrated
    assert run.failed_migration == 0
    # What it wrote is kept, and remembered.
    target = env.target_snapshot()
    assert len(target) == run.records_written
    assert set(env.ledger()) == set(target)
    assert "cancel requested" in run.log

    rest = env.mirror()
    assert rest.status == "succeeded"
    assert rest.successfully_migrated == count - run.records_written
    assert {rid: r.metadata for rid, r in env.target_snapshot().items()} == expected
