"""Admin for the changed records of runs: a filterable list and a page per record with the
changed keys side by side and a word-level diff of the text.

A run may hold 100,000 diffs: the list pages, skips the unfiltered total count, does not load
the stored values, and offers key choices from a bounded sample (`changed_keys_sample`).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from syncapp.admin.common import AuditRecordAdmin, kind_label
from syncapp.lib.worddiff import word_diff
from syncapp.models import DiffKind, RecordDiff, RunStatus, SyncRun
from syncapp.services.selectors import changed_keys_sample, diffs_with_changed_key


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class RunFilter(admin.SimpleListFilter):
    """The run the diffs belong to (the run page links here with `?run=<id>`)."""

    title = "run"
    parameter_name = "run"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        recent = list(
            SyncRun.objects.exclude(status=RunStatus.SKIPPED)
            .select_related("namespace")
            .order_by("-id")[:15]
        )
        selected = _int_or_none(self.value())
        if selected is not None and all(run.pk != selected for run in recent):
            recent += list(SyncRun.objects.select_related("namespace").filter(pk=selected))
        return [
            (str(run.pk), f"#{run.pk} {kind_label(run).lower()} of {run.namespace.name}")
            for run in recent
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[RecordDiff]
    ) -> QuerySet[RecordDiff]:
        run_id = _int_or_none(self.value())
        return queryset.filter(run_id=run_id) if run_id is not None else queryset


class ChangedKeyFilter(admin.SimpleListFilter):
    """Diffs whose changed keys include a given metadata key (works on SQLite and PostgreSQL,
    see `diffs_with_changed_key`)."""

    title = "changed key"
    parameter_name = "changed_key"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        queryset = RecordDiff.objects.all()
        run_id = _int_or_none(request.GET.get(RunFilter.parameter_name))
        if run_id is not None:
            queryset = queryset.filter(run_id=run_id)
        keys = changed_keys_sample(queryset)
        if self.value() and self.value() not in keys:
            keys.append(str(self.value()))
        return [(key, key) for key in keys]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[RecordDiff]
    ) -> QuerySet[RecordDiff]:
        key = self.value()
        return diffs_with_changed_key(queryset, key) if key else queryset


@admin.register(RecordDiff)
class RecordDiffAdmin(AuditRecordAdmin):
    list_display = (
        "record_link",
        "run_link",
        "kind",
        "action",
        "keys_display",
        "text_changed",
        "error_display",
    )
    list_display_links = None
    list_filter = (RunFilter, "kind", "action", ChangedKeyFilter, "text_changed")
    search_fields = ("record_id",)
    search_help_text = "Record ID, or part of it."
    list_select_related = ("run", "run__namespace")
    list_per_page = 100
    # The unfiltered total would be a COUNT(*) over every run's diffs on each page view.
    show_full_result_count = False
    change_list_template = "admin/syncapp/recorddiff/change_list.html"

    def get_list_display(self, request: HttpRequest) -> Any:
        # Filtered to one run (the usual way here, from the run page), the run column would
        # repeat the title on every row.
        if _int_or_none(request.GET.get(RunFilter.parameter_name)) is not None:
            return tuple(name for name in self.list_display if name != "run_link")
        return self.list_display

    def get_queryset(self, request: HttpRequest) -> QuerySet[RecordDiff]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "syncapp_recorddiff_changelist":
            # The list shows keys, not values: values may be tens of KB per record.
            queryset = queryset.defer("values")
        return queryset

    @admin.display(description="Record", ordering="record_id")
    def record_link(self, obj: RecordDiff) -> SafeString:
        return format_html(
            '<a href="{}"><code>{}</code></a>',
            reverse("admin:syncapp_recorddiff_change", args=[obj.pk]),
            obj.record_id,
        )

    @admin.display(description="Run", ordering="run")
    def run_link(self, obj: RecordDiff) -> SafeString:
        return format_html(
            '<a href="{}">#{}</a> {}',
            reverse("admin:syncapp_syncrun_change", args=[obj.run_id]),
            obj.run_id,
            obj.run.namespace.name,
        )

    @admin.display(description="Changed keys")
    def keys_display(self, obj: RecordDiff) -> str:
        keys = [str(k) for k in obj.changed_keys or ()]
        text = ", ".join(keys[:8])
        return text + (f" (+{len(keys) - 8})" if len(keys) > 8 else "")

    @admin.display(description="Error")
    def error_display(self, obj: RecordDiff) -> str:
        return obj.error if len(obj.error) <= 120 else obj.error[:117] + "..."

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        run_id = _int_or_none(request.GET.get(RunFilter.parameter_name))
        run = (
            SyncRun.objects.select_related("namespace").filter(pk=run_id).first()
            if run_id is not None
            else None
        )
        extra = {
            "filtered_run": run,
            "filtered_run_label": f"{kind_label(run)} #{run.pk} of {run.namespace.name}"
            if run
            else "",
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method not in ("GET", "HEAD") or not self.has_view_permission(request):
            raise PermissionDenied  # read-only: nothing here is ever saved
        diff = get_object_or_404(
            RecordDiff.objects.select_related("run", "run__namespace"), pk=object_id
        )
        text_field = diff.run.namespace.text_field
        rows = []
        for key in diff.changed_keys or []:
            sides = (diff.values or {}).get(key) or {}
            rows.append(
                {
                    "key": key,
                    "is_text": key == text_field,
                    "source": _side(sides.get("source")),
                    "target": _side(sides.get("target")),
                }
            )
        text = (diff.values or {}).get(text_field) or {}
        source_text, target_text = text.get("source"), text.get("target")
        segments = None
        if source_text is not None or target_text is not None:
            segments = word_diff(_as_text(target_text), _as_text(source_text))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Record {diff.record_id}",
            "original": diff,
            "diff": diff,
            "run": diff.run,
            "run_label": f"{kind_label(diff.run)} #{diff.run.pk} of {diff.run.namespace.name}",
            "text_field": text_field,
            "rows": rows,
            "segments": segments,
            "text_truncated": any(
                side is not None and side.get("truncated") for side in (source_text, target_text)
            ),
            "is_missing": diff.kind == DiffKind.MISSING,
            "run_diffs_url": reverse("admin:syncapp_recorddiff_changelist") + f"?run={diff.run_id}",
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/syncapp/recorddiff/record_diff.html", context)


def _as_text(side: dict[str, Any] | None) -> str:
    if side is None:
        return ""
    value = side.get("value")
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _side(side: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored display value ready for the template: the text to show and its truncation."""
    if side is None:
        return None
    value = side.get("value")
    return {
        "text": value if isinstance(value, str) else json.dumps(value, ensure_ascii=False),
        "is_string": isinstance(value, str),
        "length": side.get("length"),
        "truncated": bool(side.get("truncated")),
        "shown": len(value) if isinstance(value, str) else None,
    }
