"""Things that only show with real concurrency, so with committed data and several threads
(each with its own database connection): two people starting the same mirror at the same
moment, and the heartbeat thread of a busy run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from syncapp.models import Namespace, RunStatus, SyncRun
from syncapp.services import dispatch
from syncapp.services import runs as run_services
from syncapp.services.errors import RunConflict
from syncapp.services.runs import sync_run_create
from tests.admin.conftest import client_for, make_run


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in `count` threads released together; return results (or exceptions)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except Exception as exc:  # returned for the test to inspect
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture
def no_enqueue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep started runs queued: the race is about creating them, and an inline execution
    finishing quickly could let the second request through legitimately."""
    monkeypatch.setattr(dispatch, "sync_run_enqueue", lambda *, run_id: None)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_mirror_requests_start_exactly_one(
    operator: User, bare_namespace: Namespace, no_enqueue: None
) -> None:
    url = reverse("admin:syncapp_namespace_start", args=[bare_namespace.pk, "mirror"])
    clients = [client_for(operator), client_for(operator)]
    responses = in_threads(2, lambda i: clients[i].post(url, {"post": "yes"}))
    assert all(not isinstance(r, Exception) for r in responses), responses
    run = SyncRun.objects.get()
    assert (run.kind, run.dry_run, run.status) == ("mirror", False, RunStatus.QUEUED)
    locations = sorted(r["Location"] for r in responses)
    assert locations == sorted(
        [
            reverse("admin:syncapp_syncrun_change", args=[run.pk]),
            reverse("admin:syncapp_namespace_overview", args=[bare_namespace.pk]),
        ]
    )
    loser = next(c for c, r in zip(clients, responses, strict=True) if "overview" in r["Location"])
    page = loser.get(reverse("admin:syncapp_namespace_overview", args=[bare_namespace.pk]))
    assert [str(m) for m in page.context["messages"]] == [
        f"A mirror of plain is already queued (run #{run.pk}); wait for it to finish or cancel it."
    ]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_service_calls_create_one_mirror(bare_namespace: Namespace) -> None:
    results = in_threads(
        4,
        lambda i: sync_run_create(namespace=bare_namespace, kind="mirror", trigger="command"),
    )
    created = [r for r in results if isinstance(r, SyncRun)]
    conflicts = [r for r in results if isinstance(r, RunConflict)]
    assert len(created) == 1 and len(conflicts) == 3, results
    assert all(c.active_run_id == created[0].pk for c in conflicts)
    assert SyncRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_keeps_a_quiet_run_fresh(bare_namespace: Namespace) -> None:
    long_ago = timezone.now() - timedelta(hours=1)
    run = make_run(bare_namespace, status=RunStatus.RUNNING, heartbeat_at=long_ago, attempt=1)
    with run_services._Heartbeat(run.pk, attempt=1, interval=0.05):
        time.sleep(0.5)  # a phase that reports no progress, e.g. listing orphans
    run.refresh_from_db()
    assert run.heartbeat_at is not None
    assert timezone.now() - run.heartbeat_at < timedelta(seconds=5)
    # ...but it never touches a run another worker took over.
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=long_ago, attempt=2)
    with run_services._Heartbeat(run.pk, attempt=1, interval=0.05):
        time.sleep(0.3)
    run.refresh_from_db()
    assert run.heartbeat_at == long_ago


@pytest.mark.django_db(transaction=True)
def test_a_started_run_is_queued_only_after_its_row_is_committed(
    bare_namespace: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, bool]] = []

    def fake_async_task(func: str, run_id: int, **kwargs: Any) -> str:
        # What a worker polling the broker would see at that moment, from its own connection.
        visible = in_threads(1, lambda _: SyncRun.objects.filter(pk=run_id).exists())[0]
        seen.append((run_id, visible))
        return "task-id"

    monkeypatch.setattr("django_q.tasks.async_task", fake_async_task)
    run = dispatch.sync_run_start(namespace=bare_namespace, kind="analyze", trigger="admin")
    assert seen == [(run.pk, True)]
