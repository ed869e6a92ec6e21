"""Starting runs in the background: create (or re-queue) the run row, then hand its ID to
django-q2 once that row is committed.

Used by the admin and by the scheduled task. The management commands do not come here: they
execute their run in their own process (`sync_run_execute`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from syncapp.models import Namespace, SyncRun
from syncapp.services.runs import sync_run_create, sync_run_requeue_stale

logger = logging.getLogger(__name__)

EXECUTE_TASK = "syncapp.tasks.execute_sync_run"


def sync_run_enqueue(*, run_id: int) -> None:
    """Queue the task that executes run `run_id`, after the current transaction commits.

    On commit, because a worker polling the broker could otherwise pick the task up before the
    run row is visible to it (and find nothing to claim). In autocommit this runs at once.
    """

    def push() -> None:
        from django_q.tasks import async_task

        task_id = async_task(EXECUTE_TASK, run_id, task_name=f"sync run #{run_id}")
        logger.info("run #%s: task %s queued", run_id, task_id)

    transaction.on_commit(push)


def sync_run_start(
    *,
    namespace: Namespace,
    kind: str,
    trigger: str,
    dry_run: bool = False,
    requested_by: Any = None,
    batch_size: int | None = None,
) -> SyncRun:
    """Create a queued run and have a django-q2 worker execute it.

    Raises `RunConflict` (from `sync_run_create`) when a real mirror of the namespace is
    already queued or running; nothing is queued then.
    """
    with transaction.atomic():
        run = sync_run_create(
            namespace=namespace,
            kind=kind,
            trigger=trigger,
            dry_run=dry_run,
            requested_by=requested_by,
            batch_size=batch_size,
        )
        sync_run_enqueue(run_id=run.pk)
    return run


def sync_run_resume(*, run: SyncRun, requested_by: Any = None) -> SyncRun:
    """Resume a stalled run: a stale one goes back to queued, and a new task executes it (a
    run queued too long just gets the new task). See `sync_run_requeue_stale`.

    Raises `ServiceError` if the run is not stalled (finished, its worker is reporting, or it
    was queued moments ago).
    """
    with transaction.atomic():
        run = sync_run_requeue_stale(run=run, requested_by=requested_by)
        sync_run_enqueue(run_id=run.pk)
    return run
