"""A worker that dies leaves its run `running` with a silent heartbeat: the run is shown as
stale and can be resumed (from the admin, or by django-q2's redelivery of the task), and the
ledger makes the rerun redo nothing that was already written."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from syncapp.models import RecordDiff, RunStatus, SyncRun
from syncapp.services import runs as run_services
from syncapp.services.runs import (
    DjangoRunSink,
    RunTakenOver,
    sync_run_cancel,
    sync_run_create,
    sync_run_execute,
    sync_run_requeue_stale,
)
from syncapp.services.selectors import run_is_stale
from syncapp.tasks import execute_sync_run
from tests.admin.conftest import Mirror, make_run


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing in the worker gets to record anything."""


def join_engine_threads() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith("syncengine-") and thread is not threading.current_thread():
            thread.join(30)


def long_ago() -> Any:
    return timezone.now() - timedelta(minutes=10)


def kill_after_first_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker dies right after recording the first batch it wrote (ledger, then diffs),
    without marking the run finished. Batches in flight may still land in the target."""
    original = run_services.DjangoRunSink.diffs
    calls = {"n": 0}

    def diffs(self: Any, diffs: Sequence[Any]) -> None:
        original(self, diffs)
        if any(str(d.action) in ("created", "updated") for d in diffs):
            calls["n"] += 1
            if calls["n"] == 1:
                raise WorkerKilled

    monkeypatch.setattr(run_services.DjangoRunSink, "diffs", diffs)
    monkeypatch.setattr(run_services, "_finish", lambda *a, **k: None)


@pytest.mark.django_db
def test_a_run_without_heartbeat_is_stale(bare_namespace: Any, settings: Any) -> None:
    settings.SYNC_STALE_AFTER = 120
    now = timezone.now()
    fresh = make_run(bare_namespace, status=RunStatus.RUNNING, heartbeat_at=now)
    old = make_run(
        bare_namespace,
        kind="analyze",
        status=RunStatus.RUNNING,
        heartbeat_at=now - timedelta(seconds=121),
    )
    queued = make_run(bare_namespace, kind="analyze", heartbeat_at=now - timedelta(hours=1))
    assert not run_is_stale(fresh) and run_is_stale(old) and not run_is_stale(queued)


@pytest.mark.django_db
def test_a_dead_worker_s_run_is_resumed_from_the_admin_without_redoing_work(
    operator_client: Client,
    operator: Any,
    mirror: Mirror,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    mirror.namespace.batch_size = 1
    mirror.namespace.concurrency = 1
    mirror.namespace.save()
    run = sync_run_create(namespace=mirror.namespace, kind="mirror", trigger="admin")
    with pytest.MonkeyPatch.context() as patch:
        kill_after_first_write(patch)
        with pytest.raises(WorkerKilled):
            sync_run_execute(run_id=run.pk)
        join_engine_threads()
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.attempt == 1
    texts_before = mirror.gemini.stats()["texts"]
    assert 1 <= texts_before < 3

    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=long_ago())
    page = operator_client.get(reverse("admin:syncapp_syncrun_change", args=[run.pk]))
    html = page.content.decode()
    assert "stale (worker died?)" in html and 'value="Resume"' in html

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            reverse("admin:syncapp_syncrun_resume", args=[run.pk]), follow=True
        )
    assert [str(m) for m in response.context["messages"]] == [
        f"Resuming mirror #{run.pk}: queued again; records already written are not redone."
    ]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.attempt == 2
    assert run.verification and run.verification["in_sync"] is True
    # Every text was embedded once over both attempts: nothing written before was redone.
    assert mirror.gemini.stats()["texts"] == 3
    # The diffs: the write the dead worker recorded is kept, nothing is listed twice.
    ids = list(RecordDiff.objects.filter(run=run).values_list("record_id", flat=True))
    assert len(ids) == len(set(ids))
    assert {"a-new", "c-changed", "e-notext"} <= set(ids)
    assert "resume requested by operator" in run.log and "resuming" in run.log
    entry = LogEntry.objects.get(object_id=str(run.pk))
    assert entry.get_change_message() == f"Resumed mirror #{run.pk}"
    assert entry.user == operator


@pytest.mark.django_db
def test_django_q_redelivering_the_task_resumes_a_stale_run(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = sync_run_create(namespace=mirror.namespace, kind="mirror", trigger="admin")
    with pytest.MonkeyPatch.context() as patch:
        kill_after_first_write(patch)
        with pytest.raises(WorkerKilled):
            execute_sync_run(run.pk)
        join_engine_threads()

    # Redelivered while the heartbeat is fresh (the worker may be alive): nothing happens.
    assert execute_sync_run(run.pk)["status"] == RunStatus.RUNNING
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=long_ago())
    assert execute_sync_run(run.pk)["status"] == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.attempt == 2
    assert mirror.gemini.stats()["texts"] == 3
    # A third delivery of a finished run is a no-op.
    assert execute_sync_run(run.pk)["status"] == RunStatus.SUCCEEDED


@pytest.mark.django_db
def test_only_a_stale_run_can_be_resumed(bare_namespace: Any) -> None:
    from syncapp.services.errors import ServiceError

    live = make_run(bare_namespace, status=RunStatus.RUNNING, heartbeat_at=timezone.now())
    with pytest.raises(ServiceError, match="its worker is reporting"):
        sync_run_requeue_stale(run=live)
    done = make_run(bare_namespace, kind="analyze", status=RunStatus.SUCCEEDED)
    with pytest.raises(ServiceError, match="not a stale running run"):
        sync_run_requeue_stale(run=done)


@pytest.mark.django_db
def test_a_worker_that_lost_its_run_stops_writing(bare_namespace: Any) -> None:
    run = make_run(bare_namespace, status=RunStatus.RUNNING, heartbeat_at=long_ago(), attempt=1)
    sink = DjangoRunSink(run)
    sync_run_requeue_stale(run=SyncRun.objects.get(pk=run.pk))  # someone resumed it...
    sink.flush()  # (until another worker claims it, the old one may still finish it)
    assert run_services._claim(run.pk, reclaim_stale=False)  # ...and a new worker took it
    with pytest.raises(RunTakenOver):
        sink.flush()
    with pytest.raises(RunTakenOver):
        sink.finish(RunStatus.SUCCEEDED)
    run.refresh_from_db()
    assert (run.status, run.attempt) == (RunStatus.RUNNING, 2)


@pytest.mark.django_db
def test_cancelling_a_stale_run_ends_it_at_once(bare_namespace: Any) -> None:
    run = make_run(bare_namespace, status=RunStatus.RUNNING, heartbeat_at=long_ago(), attempt=1)
    run = sync_run_cancel(run=run)
    assert run.status == RunStatus.CANCELLED and run.finished_at is not None
    assert "stopped reporting" in run.error
    assert run.attempt == 2  # the worker, should it wake up, may no longer write


@pytest.mark.django_db
def test_a_run_queued_too_long_can_be_queued_again(
    operator_client: Client,
    mirror: Mirror,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    from syncapp.services.errors import ServiceError

    run = sync_run_create(namespace=mirror.namespace, kind="analyze", trigger="admin")
    with pytest.raises(ServiceError, match="queued moments ago"):
        sync_run_requeue_stale(run=run)
    # Its task was lost (say the cluster that fetched it went down): nobody takes it.
    SyncRun.objects.filter(pk=run.pk).update(created_at=long_ago())
    html = operator_client.get(reverse("admin:syncapp_syncrun_change", args=[run.pk])).content
    assert b"No worker has taken this run for a while" in html
    assert b'value="Queue again"' in html
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            reverse("admin:syncapp_syncrun_resume", args=[run.pk]), follow=True
        )
    assert [str(m) for m in response.context["messages"]] == [
        f"Queued analysis #{run.pk} again: the first worker free will take it."
    ]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.attempt == 1
    assert "queued again by operator" in run.log
    assert LogEntry.objects.get(object_id=str(run.pk)).get_change_message() == (
        f"Queued analysis #{run.pk} again"
    )


@pytest.mark.django_db
def test_a_stale_run_has_no_eta_and_its_rate_does_not_decay(
    auditor_client: Client, bare_namespace: Any
) -> None:
    last_beat = long_ago()
    run = make_run(
        bare_namespace,
        status=RunStatus.RUNNING,
        started_at=last_beat - timedelta(seconds=100),
        phase="mirror",
        phase_started_at=last_beat - timedelta(seconds=100),
        heartbeat_at=last_beat,
        progress_done=500,
        progress_total=1000,
    )
    data = auditor_client.get(reverse("admin:syncapp_syncrun_progress", args=[run.pk])).json()
    assert data["stale"] is True and data["active"] is True
    assert data["rate"] == 5.0  # 500 records in the 100 s it worked
    assert data["eta_seconds"] is None
    assert "stale (worker died?)" in data["status_html"]
