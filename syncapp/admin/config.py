"""Admin for the configuration (indexes, mirrored namespaces) and for starting runs.

Starting a run goes through Django's intermediate-page pattern (as `delete_selected` does):
the action, or a button on a namespace's pages, shows what will happen; confirming re-posts
the selection with `post=yes`, which creates the run (`sync_run_start`: the row first, the
django-q2 task once it is committed) and leads to the run's page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from syncapp.admin.common import (
    can_start_runs,
    duration_label,
    kind_label,
    started_by,
    state_badge,
    status_badge,
)
from syncapp.lib.charts import run_chart
from syncapp.models import Index, Namespace, RunKind, RunTrigger, ScheduleMode, SyncRun
from syncapp.services.config import namespace_rule_errors
from syncapp.services.dispatch import sync_run_start
from syncapp.services.errors import ServiceError
from syncapp.services.schedules import (
    namespace_schedule_delete,
    namespace_schedule_get,
    namespace_schedule_sync,
)
from syncapp.services.selectors import (
    namespace_active_mirror,
    namespace_chart_runs,
    namespace_last_completed_run,
    namespace_recent_runs,
    namespace_sync_status,
)

# --- Indexes ---------------------------------------------------------------------------------


def key_status(index: Index, *, as_source: bool) -> SafeString:
    """Which environment variable supplies the key for this role, and whether it is set.

    Names only: the key itself is never read into a page.
    """
    in_use = index.key_env_in_use(as_source=as_source)
    if in_use is not None:
        return format_html(
            '<code>{}</code> <span class="sync-badge sync-badge--succeeded">set</span>', in_use
        )
    names = " or ".join(index.key_env_candidates(as_source=as_source))
    return format_html(
        '<code>{}</code> <span class="sync-badge sync-badge--failed">not set</span>', names
    )


@admin.register(Index)
class IndexAdmin(admin.ModelAdmin):
    list_display = ("name", "host_display", "source_key", "target_key", "updated_at")
    search_fields = ("name",)
    # A host typed without a scheme is Pinecone's (https); the emulators' are given in full.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ("source_key", "target_key", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "host")}),
        (
            "API key (read from the environment, never stored)",
            {"fields": ("api_key_env", "source_key", "target_key")},
        ),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    class Media:
        css = {"all": ("syncapp/admin.css",)}

    @admin.display(description="Host")
    def host_display(self, obj: Index) -> str:
        return obj.host or "via control plane"

    @admin.display(description="Key when read as source")
    def source_key(self, obj: Index) -> SafeString:
        return key_status(obj, as_source=True)

    @admin.display(description="Key when written as target")
    def target_key(self, obj: Index) -> SafeString:
        return key_status(obj, as_source=False)


# --- Namespaces: configuration -----------------------------------------------------------------


# The fields `namespace_rule_errors` looks at.
RULE_FIELDS = (
    "text_field",
    "managed_keys",
    "reembed_policy",
    "schedule_mode",
    "schedule_minutes",
    "schedule_cron",
)


class NamespaceAdminForm(forms.ModelForm):
    """The model's validators and constraints (through `full_clean`), plus the rules that span
    fields, from the same helper `namespace_upsert` uses."""

    class Meta:
        model = Namespace
        fields = (
            "name",
            "source_index",
            "source_namespace",
            "target_index",
            "target_namespace",
            "text_field",
            "managed_keys",
            "clearance_level",
            "embedding_model",
            "embedding_dimension",
            "task_type",
            "reembed_policy",
            "batch_size",
            "concurrency",
            "schedule_mode",
            "schedule_minutes",
            "schedule_cron",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        values = {name: cleaned.get(name, getattr(self.instance, name)) for name in RULE_FIELDS}
        if values["managed_keys"] in (None, ""):
            values["managed_keys"] = []
        if values["schedule_cron"] is None:
            values["schedule_cron"] = ""
        for field, message in namespace_rule_errors(Namespace(**values)).items():
            # A field that failed its own validation already says what is wrong with it.
            if field not in self.errors:
                self.add_error(field if field in self.fields else None, message)
        return cleaned


@dataclass(frozen=True)
class StartChoice:
    """One of the three ways to start a run, as offered by actions and buttons."""

    slug: str
    kind: str
    dry_run: bool
    title: str
    description: str


START_CHOICES = {
    choice.slug: choice
    for choice in (
        StartChoice(
            "analyze",
            RunKind.ANALYZE,
            False,
            "Analyze",
            "Compare source and target and count what a mirror would do. Reads only: nothing "
            "is written or embedded.",
        ),
        StartChoice(
            "dry-run",
            RunKind.MIRROR,
            True,
            "Mirror (dry run)",
            "Go through a mirror without writing or embedding anything: every record it would "
            "create or replace is listed.",
        ),
        StartChoice(
            "mirror",
            RunKind.MIRROR,
            False,
            "Mirror",
            "Copy records missing in the target and replace those whose metadata changed, "
            "re-embedding their text with Gemini and setting clearance_level. The source is "
            "only read; orphans in the target are left alone.",
        ),
    )
}


class StartRunForm(forms.Form):
    batch_size = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1000,
        help_text="Records per batch (1-1000). Leave empty to use each namespace's own.",
    )
    dry_run = forms.BooleanField(
        required=False,
        label="Dry run",
        help_text="Read and compare everything, write and embed nothing.",
    )


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    form = NamespaceAdminForm
    list_display = (
        "name",
        "route",
        "sync_state",
        "last_run",
        "schedule_display",
        "overview_link",
    )
    list_filter = ("source_index", "target_index", "schedule_mode")
    search_fields = ("name", "source_namespace", "target_namespace")
    list_select_related = ("source_index", "target_index")
    actions = ("analyze_action", "dry_run_action", "mirror_action")
    change_form_template = "admin/syncapp/namespace/change_form.html"
    readonly_fields = ("source_key", "target_key", "next_scheduled_run")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    ("source_index", "source_namespace"),
                    ("target_index", "target_namespace"),
                )
            },
        ),
        (
            "Records",
            {"fields": ("text_field", "managed_keys", "clearance_level")},
        ),
        (
            "Embedding",
            {"fields": ("embedding_model", "embedding_dimension", "task_type", "reembed_policy")},
        ),
        ("Throughput", {"fields": ("batch_size", "concurrency")}),
        (
            "Continuous sync",
            {
                "fields": (
                    "schedule_mode",
                    "schedule_minutes",
                    "schedule_cron",
                    "next_scheduled_run",
                )
            },
        ),
        ("API keys (environment variables)", {"fields": ("source_key", "target_key")}),
    )

    class Media:
        css = {"all": ("syncapp/admin.css",)}

    # --- columns and read-only fields ---

    @admin.display(description="Source → target")
    def route(self, obj: Namespace) -> str:
        return (
            f"{obj.source_index.name}/{obj.source_namespace or '(default)'} → "
            f"{obj.target_index.name}/{obj.target_namespace or '(default)'}"
        )

    @admin.display(description="Sync state")
    def sync_state(self, obj: Namespace) -> SafeString:
        status = namespace_sync_status(obj)
        if status.as_of is None:
            return state_badge(status.state)
        return format_html(
            '{} <span class="sync-quiet">as of {}</span>',
            state_badge(status.state),
            status.as_of.strftime("%Y-%m-%d %H:%M"),
        )

    @admin.display(description="Last run")
    def last_run(self, obj: Namespace) -> SafeString | str:
        run = SyncRun.objects.filter(namespace=obj).first()
        if run is None:
            return "—"
        return format_html(
            '<a href="{}">#{} {}</a> {}',
            reverse("admin:syncapp_syncrun_change", args=[run.pk]),
            run.pk,
            kind_label(run).lower(),
            status_badge(run),
        )

    @admin.display(description="Continuous sync")
    def schedule_display(self, obj: Namespace) -> str:
        if obj.schedule_mode == ScheduleMode.INTERVAL:
            return f"every {obj.schedule_minutes} min"
        if obj.schedule_mode == ScheduleMode.CRON:
            return f"cron {obj.schedule_cron}"
        return "off"

    @admin.display(description="")
    def overview_link(self, obj: Namespace) -> SafeString:
        return format_html(
            '<a href="{}">Overview</a>',
            reverse("admin:syncapp_namespace_overview", args=[obj.pk]),
        )

    @admin.display(description="Source key")
    def source_key(self, obj: Namespace) -> SafeString | str:
        if obj.pk is None:
            return "—"
        return key_status(obj.source_index, as_source=True)

    @admin.display(description="Target key")
    def target_key(self, obj: Namespace) -> SafeString | str:
        if obj.pk is None:
            return "—"
        return key_status(obj.target_index, as_source=False)

    @admin.display(description="Next scheduled mirror")
    def next_scheduled_run(self, obj: Namespace) -> str:
        schedule = namespace_schedule_get(namespace=obj) if obj.pk else None
        if schedule is None or schedule.next_run is None:
            return "—"
        return schedule.next_run.strftime("%Y-%m-%d %H:%M %Z")

    # --- saving keeps the django-q2 schedule in step ---

    def save_model(self, request: HttpRequest, obj: Namespace, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        namespace_schedule_sync(namespace=obj)

    def delete_model(self, request: HttpRequest, obj: Namespace) -> None:
        namespace_id = obj.pk
        super().delete_model(request, obj)
        namespace_schedule_delete(namespace_id=namespace_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Namespace]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for namespace_id in ids:
            namespace_schedule_delete(namespace_id=namespace_id)

    # --- permissions ---

    def has_start_sync_permission(self, request: HttpRequest) -> bool:
        """Used by the actions (`permissions=["start_sync"]`) and the start views."""
        return can_start_runs(request)

    # --- actions ---

    @admin.action(permissions=["start_sync"], description="Analyze selected namespaces")
    def analyze_action(self, request: HttpRequest, queryset: QuerySet[Namespace]) -> Any:
        return self._start_flow(request, list(queryset), START_CHOICES["analyze"], "analyze_action")

    @admin.action(permissions=["start_sync"], description="Mirror selected namespaces (dry run)")
    def dry_run_action(self, request: HttpRequest, queryset: QuerySet[Namespace]) -> Any:
        return self._start_flow(request, list(queryset), START_CHOICES["dry-run"], "dry_run_action")

    @admin.action(permissions=["start_sync"], description="Mirror selected namespaces")
    def mirror_action(self, request: HttpRequest, queryset: QuerySet[Namespace]) -> Any:
        return self._start_flow(request, list(queryset), START_CHOICES["mirror"], "mirror_action")

    # --- extra views: overview and start buttons ---

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/overview/",
                self.admin_site.admin_view(self.overview_view),
                name="{}_{}_overview".format(*info),
            ),
            path(
                "<path:object_id>/start/<slug:choice>/",
                self.admin_site.admin_view(self.start_view),
                name="{}_{}_start".format(*info),
            ),
            *super().get_urls(),
        ]

    def _get_viewable(self, request: HttpRequest, object_id: str) -> Namespace:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(
            Namespace.objects.select_related("source_index", "target_index"), pk=object_id
        )

    def start_view(self, request: HttpRequest, object_id: str, choice: str) -> HttpResponse:
        namespace = self._get_viewable(request, object_id)
        if not self.has_start_sync_permission(request):
            raise PermissionDenied
        if choice not in START_CHOICES:
            raise PermissionDenied  # not a URL anything links to
        return self._start_flow(request, [namespace], START_CHOICES[choice], action_name=None)

    def overview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        namespace = self._get_viewable(request, object_id)
        recent = list(namespace_recent_runs(namespace, limit=10))
        chart_runs = namespace_chart_runs(namespace)
        chart = run_chart(
            chart_runs, lambda run_id: reverse("admin:syncapp_syncrun_change", args=[run_id])
        )
        schedule = namespace_schedule_get(namespace=namespace)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Namespace {namespace.name}",
            "namespace": namespace,
            "original": namespace,
            "status": namespace_sync_status(namespace),
            "active_mirror": namespace_active_mirror(namespace),
            "recent_runs": [_run_row(run) for run in recent],
            "chart": chart,
            "chart_runs": chart_runs,
            "schedule": schedule,
            "schedule_label": self.schedule_display(namespace),
            "route": self.route(namespace),
            "can_start": self.has_start_sync_permission(request),
            "can_change": self.has_change_permission(request, namespace),
            "start_choices": START_CHOICES.values(),
            "history_url": reverse("admin:syncapp_syncrun_changelist")
            + "?"
            + urlencode({"namespace__id__exact": namespace.pk}),
            "source_key": key_status(namespace.source_index, as_source=True),
            "target_key": key_status(namespace.target_index, as_source=False),
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/syncapp/namespace/overview.html", context)

    # --- the start flow shared by actions and buttons ---

    def _start_flow(
        self,
        request: HttpRequest,
        namespaces: list[Namespace],
        choice: StartChoice,
        action_name: str | None,
    ) -> HttpResponse:
        confirmed = request.method == "POST" and request.POST.get("post") == "yes"
        form = StartRunForm(
            request.POST if confirmed else None, initial={"dry_run": choice.dry_run}
        )
        if confirmed and form.is_valid():
            dry_run = choice.kind == RunKind.MIRROR and bool(form.cleaned_data["dry_run"])
            return self._start_runs(
                request, namespaces, choice, dry_run, form.cleaned_data["batch_size"]
            )
        if len(namespaces) == 1:
            form.fields["batch_size"].widget.attrs["placeholder"] = str(namespaces[0].batch_size)
        items = []
        for namespace in namespaces:
            items.append(
                {
                    "namespace": namespace,
                    "route": self.route(namespace),
                    "last_run": namespace_last_completed_run(namespace),
                    "active_mirror": namespace_active_mirror(namespace),
                    "status": namespace_sync_status(namespace),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{choice.title}: confirm",
            "choice": choice,
            "items": items,
            "form": form,
            "action_name": action_name,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "is_mirror": choice.kind == RunKind.MIRROR,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/syncapp/namespace/start_confirmation.html", context)

    def _start_runs(
        self,
        request: HttpRequest,
        namespaces: list[Namespace],
        choice: StartChoice,
        dry_run: bool,
        batch_size: int | None,
    ) -> HttpResponse:
        started: list[SyncRun] = []
        for namespace in namespaces:
            try:
                run = sync_run_start(
                    namespace=namespace,
                    kind=choice.kind,
                    trigger=RunTrigger.ADMIN,
                    dry_run=dry_run,
                    requested_by=request.user,
                    batch_size=batch_size,
                )
            except ServiceError as exc:  # RunConflict: a mirror is already queued or running
                self.message_user(request, str(exc), messages.ERROR)
                continue
            label = kind_label(run).lower()
            self.log_addition(request, run, f"Started {label} #{run.pk} of {namespace.name}")
            started.append(run)

        if not started:
            if len(namespaces) == 1:
                return HttpResponseRedirect(
                    reverse("admin:syncapp_namespace_overview", args=[namespaces[0].pk])
                )
            return HttpResponseRedirect(reverse("admin:syncapp_namespace_changelist"))
        if len(started) == 1:
            run = started[0]
            self.message_user(
                request,
                f"Started {kind_label(run).lower()} #{run.pk} of {run.namespace.name}.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:syncapp_syncrun_change", args=[run.pk]))
        ids = ",".join(str(run.pk) for run in started)
        self.message_user(
            request,
            f"Started {len(started)} runs: " + ", ".join(f"#{run.pk}" for run in started) + ".",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:syncapp_syncrun_changelist") + "?" + urlencode({"id__in": ids})
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = {
            "can_start": self.has_start_sync_permission(request),
            "start_choices": START_CHOICES.values(),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)


def _run_row(run: SyncRun) -> dict[str, Any]:
    return {
        "run": run,
        "badge": status_badge(run),
        "kind": kind_label(run),
        "started_by": started_by(run),
        "duration": duration_label(run),
        "failed": run.failed_migration + run.failed_update,
    }
