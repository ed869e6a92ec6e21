"""Admin for runs: the history (changelist), the live run page, its JSON progress feed, cancel
and resume, and the CSV export of a run's diffs.

Runs are never added, changed or deleted here: the change view is replaced by a read-only run
page, and the only writes are the three services behind permission-checked POSTs.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from syncapp.admin.common import (
    AuditRecordAdmin,
    can_start_runs,
    duration_label,
    format_seconds,
    kind_label,
    started_by,
    status_badge,
)
from syncapp.labels import STAT_LABELS, stat_names_for
from syncapp.models import RecordDiff, RunKind, RunStatus, SyncRun
from syncapp.services.dispatch import sync_run_resume
from syncapp.services.errors import ServiceError
from syncapp.services.runs import sync_run_cancel
from syncapp.services.selectors import (
    cluster_is_running,
    log_etag,
    run_diff_count,
    run_progress,
)


class KindFilter(admin.SimpleListFilter):
    """Analysis / dry run / mirror: one filter over `kind` and `dry_run` together."""

    title = "kind"
    parameter_name = "run_kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("analyze", "Analysis"), ("dry_run", "Mirror (dry run)"), ("mirror", "Mirror")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[SyncRun]) -> QuerySet[SyncRun]:
        value = self.value()
        if value == "analyze":
            return queryset.filter(kind=RunKind.ANALYZE)
        if value == "dry_run":
            return queryset.filter(kind=RunKind.MIRROR, dry_run=True)
        if value == "mirror":
            return queryset.filter(kind=RunKind.MIRROR, dry_run=False)
        return queryset


@admin.register(SyncRun)
class SyncRunAdmin(AuditRecordAdmin):
    list_display = (
        "run_link",
        "namespace",
        "kind_display",
        "status_display",
        "started_by_display",
        "created_display",
        "duration_display",
        "migrated_display",
        "updated_display",
        "failed_display",
        "skipped_display",
    )
    list_display_links = None  # the run number links to the run page
    list_filter = ("namespace", "status", KindFilter, "trigger", "created_at")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    list_select_related = ("namespace", "requested_by")
    search_fields = ("namespace__name", "requested_by__username")
    list_per_page = 50
    show_full_result_count = False

    # --- columns ---

    @admin.display(description="Run", ordering="id")
    def run_link(self, obj: SyncRun) -> SafeString:
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:syncapp_syncrun_change", args=[obj.pk]), obj.pk
        )

    @admin.display(description="Kind", ordering="kind")
    def kind_display(self, obj: SyncRun) -> str:
        return kind_label(obj)

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: SyncRun) -> SafeString:
        if obj.status == RunStatus.SKIPPED and obj.blocked_by_id:
            return format_html(
                '{} <span class="sync-quiet">mirror #{} was running</span>',
                status_badge(obj),
                obj.blocked_by_id,
            )
        return status_badge(obj)

    @admin.display(description="Started by", ordering="trigger")
    def started_by_display(self, obj: SyncRun) -> str:
        return started_by(obj)

    @admin.display(description="Duration")
    def duration_display(self, obj: SyncRun) -> str:
        return duration_label(obj)

    @admin.display(description="Created", ordering="created_at")
    def created_display(self, obj: SyncRun) -> str:
        return timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M")

    # Counts: what a mirror did. Analyses and dry runs write nothing (their page has the rest).
    @admin.display(description="Migrated", ordering="successfully_migrated")
    def migrated_display(self, obj: SyncRun) -> str:
        return f"{obj.successfully_migrated:,}"

    @admin.display(description="Updated", ordering="successfully_updated")
    def updated_display(self, obj: SyncRun) -> str:
        return f"{obj.successfully_updated:,}"

    @admin.display(description="Failed")
    def failed_display(self, obj: SyncRun) -> str:
        return f"{obj.failed_migration + obj.failed_update:,}"

    @admin.display(description="No text", ordering="skipped_no_text")
    def skipped_display(self, obj: SyncRun) -> str:
        return f"{obj.skipped_no_text:,}"

    # --- URLs ---

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/progress/",
                view(self.progress_view),
                name="{}_{}_progress".format(*info),
            ),
            path(
                "<path:object_id>/cancel/",
                view(self.cancel_view),
                name="{}_{}_cancel".format(*info),
            ),
            path(
                "<path:object_id>/resume/",
                view(self.resume_view),
                name="{}_{}_resume".format(*info),
            ),
            path(
                "<path:object_id>/diffs.csv",
                view(self.export_view),
                name="{}_{}_export".format(*info),
            ),
            *super().get_urls(),
        ]

    def _get_run(self, request: HttpRequest, object_id: str) -> SyncRun:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(
            SyncRun.objects.select_related("namespace", "requested_by", "blocked_by"),
            pk=object_id,
        )

    # --- the run page ---

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied  # read-only: nothing here is ever saved
        run = self._get_run(request, object_id)
        progress = run_progress(run)
        context = {
            **self.admin_site.each_context(request),
            **self._state_context(request, run, progress),
            "opts": self.opts,
            "title": f"{kind_label(run)} #{run.pk} of {run.namespace.name}",
            "original": run,
            "started_by": started_by(run),
            "log": run.log,
            "log_etag": log_etag(run.log),
            "progress_url": reverse("admin:syncapp_syncrun_progress", args=[run.pk]),
            "namespace_url": reverse("admin:syncapp_namespace_overview", args=[run.namespace_id]),
            "cluster_running": cluster_is_running() if run.status == RunStatus.QUEUED else None,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/syncapp/syncrun/run_detail.html", context)

    def _state_context(
        self, request: HttpRequest, run: SyncRun, progress: dict[str, Any]
    ) -> dict[str, Any]:
        """What the page and the JSON feed both render: the parts that change while it runs."""
        names = stat_names_for(kind=run.kind, dry_run=run.dry_run)
        diff_count = run_diff_count(run)
        return {
            "run": run,
            "progress": progress,
            "badge": status_badge(run),
            "stale": progress["stale"],
            "can_start": can_start_runs(request),
            "stat_rows": [(name, STAT_LABELS[name], getattr(run, name)) for name in names],
            "eta_label": format_seconds(progress["eta_seconds"]),
            "duration_label": duration_label(run),
            "diff_count": diff_count,
            "diffs_url": reverse("admin:syncapp_recorddiff_changelist")
            + "?"
            + urlencode({"run": run.pk}),
            "export_url": reverse("admin:syncapp_syncrun_export", args=[run.pk]),
            "verification": run.verification,
            "verification_checked_at": parse_datetime(
                str((run.verification or {}).get("checked_at") or "")
            ),
        }

    def progress_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        """Polled by the run page every 1.5 s while the run is active.

        The log (up to 2,000 lines) is sent only when it changed since the `log_etag` the page
        has. The status line and, once the run has ended, the result sections come as HTML
        rendered (and escaped) by the same templates as the page.
        """
        run = self._get_run(request, object_id)
        progress = run_progress(run)
        state = self._state_context(request, run, progress)
        data: dict[str, Any] = {
            **progress,
            "eta_label": state["eta_label"],
            "duration_label": state["duration_label"],
            "diff_count": state["diff_count"],
            "status_html": render_to_string(
                "admin/syncapp/syncrun/_status.html", state, request=request
            ),
        }
        etag = log_etag(run.log)
        data["log_etag"] = etag
        if request.GET.get("log_etag") != etag:
            data["log"] = run.log
        if not progress["active"]:
            data["final_html"] = render_to_string(
                "admin/syncapp/syncrun/_results.html", state, request=request
            )
        return JsonResponse(data)

    # --- cancel / resume: POST only, start_sync permission ---

    def _post_action(self, request: HttpRequest, object_id: str) -> SyncRun:
        if request.method != "POST":
            raise _MethodNotAllowed
        run = self._get_run(request, object_id)
        if not can_start_runs(request):
            raise PermissionDenied
        return run

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        try:
            run = self._post_action(request, object_id)
        except _MethodNotAllowed:
            return HttpResponseNotAllowed(["POST"])
        try:
            run = sync_run_cancel(run=run)
        except ServiceError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            label = f"{kind_label(run).lower()} #{run.pk}"
            if run.status == RunStatus.CANCELLED:
                message = f"Cancelled {label}."
            else:
                message = f"Asked {label} to stop: it finishes the batches being written first."
            self.log_change(request, run, f"Cancelled {label}")
            self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:syncapp_syncrun_change", args=[run.pk]))

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        try:
            run = self._post_action(request, object_id)
        except _MethodNotAllowed:
            return HttpResponseNotAllowed(["POST"])
        was_running = run.status == RunStatus.RUNNING
        try:
            run = sync_run_resume(run=run, requested_by=request.user)
        except ServiceError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            label = f"{kind_label(run).lower()} #{run.pk}"
            if was_running:
                self.log_change(request, run, f"Resumed {label}")
                message = f"Resuming {label}: queued again; records already written are not redone."
            else:
                self.log_change(request, run, f"Queued {label} again")
                message = f"Queued {label} again: the first worker free will take it."
            self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:syncapp_syncrun_change", args=[run.pk]))

    # --- CSV export of a run's diffs ---

    def export_view(self, request: HttpRequest, object_id: str) -> StreamingHttpResponse:
        run = self._get_run(request, object_id)
        if not request.user.has_perm("syncapp.view_recorddiff"):
            raise PermissionDenied
        response = StreamingHttpResponse(csv_rows(run), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="run-{run.pk}-{run.namespace.name}-diffs.csv"'
        )
        return response


class _MethodNotAllowed(Exception):
    pass


class _Echo:
    """A file-like object whose write returns the line: csv.writer into a streaming response."""

    def write(self, value: str) -> str:
        return value


def _cell(side: dict[str, Any] | None) -> str:
    """A value as JSON (so numbers, booleans and lists survive); empty when the key is absent."""
    if side is None:
        return ""
    return json.dumps(side.get("value"), ensure_ascii=False)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(text: str) -> str:
    """Free text from the data (record IDs, key names, errors) as a spreadsheet shows it, not
    as a formula it would run: OWASP's CSV-injection guard, a leading apostrophe. (JSON cells
    need none: a string starts with a quote, a number cannot hold a formula.)"""
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_rows(run: SyncRun) -> Iterator[str]:
    """Every diff of the run, one CSV line at a time, read in chunks (a run may hold 100,000).

    Per changed key, a source and a target column hold the value as JSON (as stored: values
    over 500 characters were truncated by the engine; `truncated_keys` names those).
    """
    diffs = RecordDiff.objects.filter(run=run).order_by("id")
    keys: set[str] = set()
    for changed in diffs.values_list("changed_keys", flat=True).iterator(chunk_size=5000):
        keys.update(k for k in changed or () if isinstance(k, str))
    key_order = sorted(keys)
    writer = csv.writer(_Echo())
    header = [
        "record_id",
        "kind",
        "action",
        "changed_keys",
        "text_changed",
        "error",
        "truncated_keys",
    ]
    for key in key_order:
        header += [_text_cell(f"{key} (source)"), _text_cell(f"{key} (target)")]
    yield writer.writerow(header)
    for diff in diffs.iterator(chunk_size=2000):
        values = diff.values or {}
        truncated = sorted(
            key
            for key, sides in values.items()
            if any((side or {}).get("truncated") for side in (sides or {}).values())
        )
        row = [
            _text_cell(diff.record_id),
            diff.kind,
            diff.action,
            json.dumps(diff.changed_keys, ensure_ascii=False),
            "yes" if diff.text_changed else "no",
            _text_cell(diff.error),
            json.dumps(truncated, ensure_ascii=False) if truncated else "",
        ]
        for key in key_order:
            sides = values.get(key) or {}
            row += [_cell(sides.get("source")), _cell(sides.get("target"))]
        yield writer.writerow(row)
