"""Continuous sync: the django-q2 schedule mirrors the namespace's settings, and a scheduled
start either runs a mirror or, while another mirror is active, records a skipped run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from syncapp.models import Namespace, RunStatus, SyncRun
from syncapp.services.config import namespace_upsert
from syncapp.services.schedules import namespace_schedule_sync, schedule_name
from syncapp.tasks import scheduled_mirror
from tests.admin.conftest import Mirror, make_run


def set_schedule(
    namespace: Namespace, mode: str, minutes: int | None = None, cron: str = ""
) -> None:
    namespace.schedule_mode = mode
    namespace.schedule_minutes = minutes
    namespace.schedule_cron = cron
    namespace.save()
    namespace_schedule_sync(namespace=namespace)


@pytest.mark.django_db
def test_the_schedule_is_created_updated_and_removed(bare_namespace: Namespace) -> None:
    set_schedule(bare_namespace, "interval", minutes=30)
    schedule = Schedule.objects.get(name=schedule_name(bare_namespace.pk))
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 30, -1)
    # The first mirror is one period away, not now.
    assert timedelta(minutes=29) < schedule.next_run - timezone.now() <= timedelta(minutes=30)

    first_next_run = schedule.next_run
    bare_namespace.batch_size = 50  # an unrelated change keeps the next run where it was
    set_schedule(bare_namespace, "interval", minutes=30)
    assert Schedule.objects.get(name=schedule_name(bare_namespace.pk)).next_run == first_next_run

    set_schedule(bare_namespace, "cron", cron="*/10 * * * *")
    schedule = Schedule.objects.get(name=schedule_name(bare_namespace.pk))
    assert (schedule.schedule_type, schedule.cron, schedule.minutes) == ("C", "*/10 * * * *", None)
    assert schedule.next_run.minute % 10 == 0

    set_schedule(bare_namespace, "off")
    assert not Schedule.objects.filter(name=schedule_name(bare_namespace.pk)).exists()
    assert Schedule.objects.count() == 0


@pytest.mark.django_db
def test_namespace_upsert_keeps_the_schedule_too(bare_namespace: Namespace) -> None:
    namespace_upsert(
        name="plain",
        source_index="gflops-serverless",
        target_index="askdona",
        source_namespace="plain",
        schedule_mode="interval",
        schedule_minutes=5,
    )
    assert Schedule.objects.get(name=schedule_name(bare_namespace.pk)).minutes == 5


@pytest.mark.django_db
def test_a_scheduled_start_runs_a_mirror(
    mirror: Mirror, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    set_schedule(mirror.namespace, "interval", minutes=60)
    with django_capture_on_commit_callbacks(execute=True):
        result = scheduled_mirror(mirror.namespace.pk)
    run = SyncRun.objects.get()
    assert result == {"namespace_id": mirror.namespace.pk, "run_id": run.pk, "status": "queued"}
    assert (run.trigger, run.kind, run.dry_run, run.requested_by) == (
        "schedule",
        "mirror",
        False,
        None,
    )
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.successfully_migrated == 2


@pytest.mark.django_db
def test_a_scheduled_start_is_skipped_while_a_mirror_runs_and_the_history_says_so(
    auditor_client: Client, bare_namespace: Namespace
) -> None:
    set_schedule(bare_namespace, "interval", minutes=5)
    active = make_run(bare_namespace, status=RunStatus.RUNNING, heartbeat_at=timezone.now())
    make_run(bare_namespace, kind="analyze", status=RunStatus.RUNNING)  # does not block
    result = scheduled_mirror(bare_namespace.pk)
    skipped = SyncRun.objects.get(status=RunStatus.SKIPPED)
    assert result["status"] == "skipped"
    assert skipped.blocked_by == active
    assert (skipped.trigger, skipped.kind, skipped.dry_run) == ("schedule", "mirror", False)
    assert skipped.finished_at is not None
    assert f"skipped: mirror #{active.pk} was queued or running" in skipped.log

    history = auditor_client.get(reverse("admin:syncapp_syncrun_changelist")).content.decode()
    assert "Skipped" in history and f"mirror #{active.pk} was running" in history
    page = auditor_client.get(
        reverse("admin:syncapp_syncrun_change", args=[skipped.pk])
    ).content.decode()
    assert "This scheduled mirror did not start" in page
    assert reverse("admin:syncapp_syncrun_change", args=[active.pk]) in page
    # A skipped run is final: it never blocks the next start.
    active.status = RunStatus.SUCCEEDED
    active.save()
    scheduled_mirror(bare_namespace.pk)
    assert SyncRun.objects.filter(status=RunStatus.QUEUED, trigger="schedule").count() == 1


@pytest.mark.django_db
def test_a_schedule_of_a_deleted_namespace_removes_itself(bare_namespace: Namespace) -> None:
    set_schedule(bare_namespace, "interval", minutes=5)
    namespace_id = bare_namespace.pk
    bare_namespace.delete()
    assert scheduled_mirror(namespace_id)["run_id"] is None
    assert not Schedule.objects.filter(name=schedule_name(namespace_id)).exists()


@pytest.mark.django_db
def test_deleting_a_namespace_in_the_admin_removes_its_schedule(
    root_client: Client, bare_namespace: Namespace
) -> None:
    set_schedule(bare_namespace, "interval", minutes=5)
    root_client.post(
        reverse("admin:syncapp_namespace_delete", args=[bare_namespace.pk]), {"post": "yes"}
    )
    assert not Namespace.objects.exists()
    assert not Schedule.objects.exists()
