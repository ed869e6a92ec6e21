"""Presentation helpers shared by the admin modules: badges, labels, durations, permissions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from syncapp.models import RunKind, RunStatus, RunTrigger, SyncRun
from syncapp.services.selectors import run_is_stale

START_PERMISSION = "syncapp.start_sync"

# Status -> badge modifier; the colours are in syncapp/admin.css (admin CSS variables, so they
# follow the admin's light and dark themes).
BADGE_CLASS = {
    RunStatus.QUEUED: "queued",
    RunStatus.RUNNING: "running",
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.COMPLETED_WITH_ERRORS: "warning",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "muted",
    RunStatus.SKIPPED: "muted",
}
STALE_LABEL = "stale (worker died?)"


class AuditRecordAdmin(admin.ModelAdmin):
    """Runs and diffs are an audit trail: nobody, not even a superuser, adds, edits or deletes
    them through the admin. Viewing still needs the view permission."""

    class Media:
        css = {"all": ("syncapp/admin.css",)}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def can_start_runs(request: HttpRequest) -> bool:
    return bool(request.user.has_perm(START_PERMISSION))


def status_badge(run: SyncRun, now: datetime | None = None) -> SafeString:
    if run_is_stale(run, now):
        return format_html(
            '<span class="sync-badge sync-badge--failed" title="{}">{} · {}</span>',
            "No heartbeat from its worker: resume or cancel it.",
            run.get_status_display(),
            STALE_LABEL,
        )
    return format_html(
        '<span class="sync-badge sync-badge--{}">{}</span>',
        BADGE_CLASS.get(RunStatus(run.status), "muted"),
        run.get_status_display(),
    )


def state_badge(state: str) -> SafeString:
    """In sync / out of sync / unknown, for a namespace."""
    label, css = {
        "in_sync": ("In sync", "succeeded"),
        "out_of_sync": ("Out of sync", "warning"),
    }.get(state, ("Unknown", "muted"))
    return format_html('<span class="sync-badge sync-badge--{}">{}</span>', css, label)


def kind_label(run: SyncRun) -> str:
    if run.kind == RunKind.ANALYZE:
        return "Analysis"
    return "Mirror (dry run)" if run.dry_run else "Mirror"


def started_by(run: SyncRun) -> str:
    """Who or what started the run: the admin user, a management command or the schedule."""
    if run.trigger == RunTrigger.ADMIN:
        user = run.requested_by
        return f"admin: {user.get_username()}" if user is not None else "admin (user deleted)"
    if run.trigger == RunTrigger.SCHEDULE:
        return "schedule"
    return "management command"


def format_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    seconds = round(value)
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_duration(run: SyncRun, now: datetime | None = None) -> timedelta | None:
    if run.started_at is None:
        return None
    end = run.finished_at or (now or timezone.now())
    return end - run.started_at


def duration_label(run: SyncRun) -> str:
    duration = run_duration(run)
    return format_seconds(duration.total_seconds()) if duration is not None else "—"
