"""Read queries and derived facts for the admin pages (HackSoftware "selectors").

Nothing here writes. The admin calls these rather than building queries in views, so what a
page says (is a namespace in sync, is a run stale, how fast is it going) is decided in one
place and tested without a request.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from syncapp.models import (
    ACTIVE_STATUSES,
    COMPLETED_STATUSES,
    Namespace,
    RecordDiff,
    RunKind,
    RunStatus,
    SyncRun,
)

logger = logging.getLogger(__name__)

CHART_RUNS = 30


# --- Runs: liveness and progress ------------------------------------------------------------


def stale_cutoff(now: datetime | None = None) -> datetime:
    """Heartbeats older than this mean the worker is gone (settings.SYNC_STALE_AFTER)."""
    return (now or timezone.now()) - timedelta(seconds=settings.SYNC_STALE_AFTER)


def stale_runs_q(now: datetime | None = None) -> Q:
    """Running runs whose worker stopped writing its heartbeat: it died, or is stuck. The
    services' conditional UPDATEs (claim, cancel, resume) and `run_is_stale` agree on it."""
    cutoff = stale_cutoff(now)
    return Q(status=RunStatus.RUNNING) & (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))


def run_is_stale(run: SyncRun, now: datetime | None = None) -> bool:
    if run.status != RunStatus.RUNNING:
        return False
    return run.heartbeat_at is None or run.heartbeat_at < stale_cutoff(now)


def run_is_waiting_too_long(run: SyncRun, now: datetime | None = None) -> bool:
    """A queued run no worker has taken for longer than the stale threshold.

    Either every worker is busy (queue_limit, other long runs) or its task was lost: a task a
    worker had already fetched when the cluster went down stays locked in the broker for
    `Q_CLUSTER["retry"]` (hours). Queueing the run again is always safe: only one task can
    claim it. The clock starts at creation, or at the last resume (which stamps heartbeat_at).
    """
    if run.status != RunStatus.QUEUED:
        return False
    since = run.heartbeat_at or run.created_at
    return since is not None and since < stale_cutoff(now)


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else max(delta.total_seconds(), 0.0)


def log_etag(log: str) -> str:
    """A short fingerprint of a run's log, so a polling page downloads it only when it changed."""
    return hashlib.blake2b(log.encode(), digest_size=8).hexdigest()


def run_progress(run: SyncRun, now: datetime | None = None) -> dict[str, Any]:
    """What the run page shows and refreshes: status, phase, progress with rate and ETA, counts.

    The rate is records per second within the current phase (each phase restarts the count);
    the ETA assumes that rate holds, and is absent without a total (the source could not be
    counted) or before anything was done.
    """
    now = now or timezone.now()
    active = run.status in ACTIVE_STATUSES
    stale = run_is_stale(run, now)
    working = run.status == RunStatus.RUNNING and not stale
    # A run that is not working (finished, stale, queued for a resume) is measured up to its
    # last sign of life, so its rate does not decay while nobody works on it.
    end = now if working else (run.finished_at or run.heartbeat_at or now)
    phase_seconds = _seconds(end - run.phase_started_at) if run.phase_started_at else None
    done, total = run.progress_done, run.progress_total
    rate = None
    if phase_seconds and done and run.status != RunStatus.QUEUED:  # queued: nothing to measure
        rate = done / phase_seconds
    eta = None
    if working and rate and total is not None and total >= done:
        eta = (total - done) / rate
    percent = None
    if total:
        percent = min(100.0, round(done * 100 / total, 1))
    elif total == 0 and not active:
        percent = 100.0
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "active": active,
        "stale": stale,
        "waiting_too_long": run_is_waiting_too_long(run, now),
        "phase": run.phase,
        "done": done,
        "total": total,
        "percent": percent,
        "rate": round(rate, 1) if rate else None,
        "eta_seconds": round(eta) if eta is not None else None,
        "duration_seconds": (
            round(_seconds((now if active else end) - run.started_at) or 0)
            if run.started_at
            else None
        ),
        "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
        "stats": run.stats_dict(),
        "failed": run.failed_migration + run.failed_update,
        "error": run.error,
    }


def cluster_is_running() -> bool | None:
    """Whether a django-q2 cluster reported itself recently; None when unknown or irrelevant.

    django-q2 clusters publish their status in the cache (a database cache here, so the web
    process sees the worker processes). In sync mode (tests) there is no cluster to expect.
    """
    from django_q.conf import Conf
    from django_q.status import Stat

    if Conf.SYNC:
        return None
    try:
        return bool(Stat.get_all())
    except Exception:  # a broker or cache problem must not break a page
        logger.warning("could not read django-q2 cluster status", exc_info=True)
        return None


def run_diff_count(run: SyncRun) -> int:
    return RecordDiff.objects.filter(run=run).count()


# --- Namespaces: latest results, sync status, chart -------------------------------------------


def namespace_last_completed_run(namespace: Namespace) -> SyncRun | None:
    """The newest run that went through to the end: its counts describe the whole namespace."""
    return (
        SyncRun.objects.filter(namespace=namespace, status__in=COMPLETED_STATUSES)
        .order_by("-finished_at", "-id")
        .first()
    )


def namespace_active_mirror(namespace: Namespace) -> SyncRun | None:
    """The real mirror of this namespace that is queued or running, if any (at most one)."""
    return SyncRun.objects.filter(
        namespace=namespace, kind=RunKind.MIRROR, dry_run=False, status__in=ACTIVE_STATUSES
    ).first()


def namespace_recent_runs(namespace: Namespace, limit: int = 10) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(namespace=namespace).select_related("requested_by")[:limit]


@dataclass(frozen=True)
class SyncStatus:
    """Whether a namespace's target mirrors its source, as far as the last completed run knows.

    `state` is "in_sync", "out_of_sync" or "unknown" (no completed run, or a mirror without a
    verification). Records without text cannot be mirrored and do not count against it.
    """

    state: str
    run: SyncRun | None
    as_of: datetime | None
    detail: str

    @property
    def in_sync(self) -> bool:
        return self.state == "in_sync"


def namespace_sync_status(namespace: Namespace) -> SyncStatus:
    run = namespace_last_completed_run(namespace)
    if run is None:
        return SyncStatus("unknown", None, None, "No analysis or mirror has completed yet.")
    if run.kind == RunKind.MIRROR and not run.dry_run:
        v = run.verification
        if not v:
            return SyncStatus(
                "unknown", run, run.finished_at, "The last mirror has no verification result."
            )
        checked = parse_datetime(str(v.get("checked_at") or "")) or run.finished_at
        detail = (
            f"Verified after mirror #{run.pk}: {v.get('missing', 0)} missing, "
            f"{v.get('differing', 0)} differing, {v.get('unreadable', 0)} unreadable"
            f" ({v.get('no_text', 0)} without text, {v.get('orphans', 0)} orphans, not counted)."
        )
        return SyncStatus("in_sync" if v.get("in_sync") else "out_of_sync", run, checked, detail)
    label = "dry run" if run.dry_run else "analysis"
    pending = run.would_migrate + run.would_update
    failing = run.failed_migration + run.failed_update
    detail = (
        f"The {label} #{run.pk} found {run.would_migrate} to migrate, {run.would_update} to "
        f"update and {failing} that cannot be written ({run.skipped_no_text} without text, "
        "not counted)."
    )
    state = "in_sync" if pending == 0 and failing == 0 else "out_of_sync"
    return SyncStatus(state, run, run.finished_at, detail)


def namespace_chart_runs(namespace: Namespace, limit: int = CHART_RUNS) -> list[SyncRun]:
    """The last `limit` real mirrors that did something, oldest first, for the chart.

    Analyses and dry runs write nothing and skipped starts did nothing, so they would only
    flatten the chart; queued ones have nothing to show yet.
    """
    runs = (
        SyncRun.objects.filter(namespace=namespace, kind=RunKind.MIRROR, dry_run=False)
        .exclude(status__in=[RunStatus.QUEUED, RunStatus.SKIPPED])
        .order_by("-created_at", "-id")
        .only(
            "id",
            "status",
            "created_at",
            "successfully_migrated",
            "successfully_updated",
            "failed_migration",
            "failed_update",
        )[:limit]
    )
    return list(reversed(runs))


# --- Diffs ------------------------------------------------------------------------------------


def diffs_with_changed_key(queryset: QuerySet[RecordDiff], key: str) -> QuerySet[RecordDiff]:
    """Diffs whose `changed_keys` list contains `key`, on any database.

    PostgreSQL has JSON containment (`@>`), exact and index-friendly. SQLite has none for
    JSONField, so there the stored JSON text is searched for the key as a JSON string
    (`"author"` with its quotes: it cannot match inside another key such as `co-author`).
    Django writes that text with `json.dumps` defaults (non-ASCII escaped), hence the same
    encoding here. SQLite's LIKE ignores ASCII case, so there "Author" also matches "author".
    """
    if connection.features.supports_json_field_contains:
        return queryset.filter(changed_keys__contains=[key])
    return queryset.filter(changed_keys__icontains=json.dumps(key))


def changed_keys_sample(queryset: QuerySet[RecordDiff], limit: int = 2000) -> list[str]:
    """Distinct changed keys among the first `limit` diffs: choices for the key filter.

    Bounded because a run may hold 100,000 diffs; a key seen only further down can still be
    filtered on by URL (`?changed_key=name`).
    """
    keys: set[str] = set()
    for changed in queryset.order_by().values_list("changed_keys", flat=True)[:limit]:
        keys.update(k for k in changed or () if isinstance(k, str))
    return sorted(keys)
