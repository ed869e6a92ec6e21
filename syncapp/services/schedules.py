"""Continuous sync: a namespace's schedule, kept as a django-q2 `Schedule` row, and what the
scheduled task does when it fires.

The namespace row is the source of truth (its `schedule_*` fields, edited in the admin); the
django-q2 row is derived from it by `namespace_schedule_sync`, called whenever a namespace is
saved or deleted through the admin or `namespace_upsert`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from croniter import croniter
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from syncapp.models import Namespace, RunKind, RunTrigger, ScheduleMode, SyncRun
from syncapp.services.dispatch import sync_run_start
from syncapp.services.errors import RunConflict
from syncapp.services.runs import sync_run_create_skipped

logger = logging.getLogger(__name__)

SCHEDULED_TASK = "syncapp.tasks.scheduled_mirror"


def schedule_name(namespace_id: int) -> str:
    """The django-q2 schedule's name: by primary key, so renaming a namespace keeps it."""
    return f"syncapp: mirror namespace #{namespace_id}"


def schedule_errors(*, mode: str, minutes: int | None, cron: str) -> dict[str, str]:
    """What is wrong with a schedule's fields taken together (each field is validated alone
    by its model validators, cron syntax included). Empty when it is fine."""
    errors: dict[str, str] = {}
    if mode == ScheduleMode.INTERVAL:
        if not minutes:
            errors["schedule_minutes"] = "Give the number of minutes between mirrors."
        if cron:
            errors["schedule_cron"] = "Leave the cron expression empty for an interval."
    elif mode == ScheduleMode.CRON:
        if not cron:
            errors["schedule_cron"] = "Give a cron expression, e.g. */30 * * * *."
        elif not croniter.is_valid(cron):
            errors["schedule_cron"] = f"{cron} is not a valid cron expression."
        if minutes:
            errors["schedule_minutes"] = "Leave the minutes empty for a cron schedule."
    elif mode == ScheduleMode.OFF:
        pass
    else:
        errors["schedule_mode"] = f"Unknown schedule mode {mode!r}."
    return errors


def _first_run(namespace: Namespace, now: datetime) -> datetime:
    if namespace.schedule_mode == ScheduleMode.CRON:
        return croniter(namespace.schedule_cron, timezone.localtime(now)).get_next(datetime)
    # One period from now: saving a schedule should not start a mirror on the spot.
    return now + timedelta(minutes=namespace.schedule_minutes or 1)


@transaction.atomic
def namespace_schedule_sync(*, namespace: Namespace) -> Schedule | None:
    """Create, update or delete the django-q2 schedule so it matches the namespace.

    The next run is recomputed only when the timing changed, so saving a namespace for an
    unrelated reason does not push its next mirror back.
    """
    rows = list(Schedule.objects.select_for_update().filter(name=schedule_name(namespace.pk)))
    schedule, extra = (rows[0], rows[1:]) if rows else (None, [])
    for duplicate in extra:  # only if someone copied it in django-q2's own admin
        duplicate.delete()
    if namespace.schedule_mode == ScheduleMode.OFF:
        if schedule is not None:
            schedule.delete()
            logger.info("namespace %s: schedule removed", namespace.name)
        return None

    if namespace.schedule_mode == ScheduleMode.CRON:
        timing = {
            "schedule_type": Schedule.CRON,
            "cron": namespace.schedule_cron,
            "minutes": None,
        }
    else:
        timing = {
            "schedule_type": Schedule.MINUTES,
            "minutes": namespace.schedule_minutes,
            "cron": None,
        }
    changed = schedule is None or any(getattr(schedule, k) != v for k, v in timing.items())
    if schedule is None:
        schedule = Schedule(name=schedule_name(namespace.pk))
    for key, value in timing.items():
        setattr(schedule, key, value)
    schedule.func = SCHEDULED_TASK
    schedule.args = repr(namespace.pk)
    schedule.kwargs = None
    schedule.repeats = -1
    if changed or schedule.next_run is None:
        schedule.next_run = _first_run(namespace, timezone.now())
    schedule.save()
    logger.info("namespace %s: schedule set, next run %s", namespace.name, schedule.next_run)
    return schedule


def namespace_schedule_delete(*, namespace_id: int) -> None:
    """Remove the schedule of a namespace being deleted (or already gone)."""
    Schedule.objects.filter(name=schedule_name(namespace_id)).delete()


def namespace_schedule_get(*, namespace: Namespace) -> Schedule | None:
    return Schedule.objects.filter(name=schedule_name(namespace.pk)).first()


def scheduled_mirror_start(*, namespace_id: int) -> SyncRun | None:
    """What the schedule does when it fires: start a mirror, or record why it did not.

    If a real mirror of the namespace is queued or running, this start is skipped and a run in
    the `skipped` state says so in the history (naming the mirror that was in the way); the
    next scheduled start will try again. Returns the new run, or None when the namespace no
    longer exists (its schedule is then removed).
    """
    namespace = Namespace.objects.filter(pk=namespace_id).first()
    if namespace is None:
        logger.warning("scheduled mirror of namespace #%s: it no longer exists", namespace_id)
        namespace_schedule_delete(namespace_id=namespace_id)
        return None
    if namespace.schedule_mode == ScheduleMode.OFF:
        # The schedule was switched off after this task was queued.
        namespace_schedule_delete(namespace_id=namespace_id)
        return None
    try:
        return sync_run_start(namespace=namespace, kind=RunKind.MIRROR, trigger=RunTrigger.SCHEDULE)
    except RunConflict as exc:
        blocked_by = exc.active_run_id
        reason = f"mirror #{blocked_by} was queued or running" if blocked_by else str(exc)
        logger.info("scheduled mirror of %s skipped: %s", namespace.name, reason)
        return sync_run_create_skipped(
            namespace=namespace,
            trigger=RunTrigger.SCHEDULE,
            blocked_by_id=blocked_by,
            reason=reason,
        )
