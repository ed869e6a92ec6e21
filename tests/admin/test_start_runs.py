"""Starting analyses and mirrors from the admin: confirmation page, then a run executed by the
django-q2 task (inline in tests), an audit entry, and the one-mirror-per-namespace rule."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.test import Client
from django.urls import reverse

from syncapp.models import RunStatus, SyncRun
from tests.admin.conftest import Mirror, make_run

CHANGELIST = reverse("admin:syncapp_namespace_changelist")


def action_post(namespace_ids: list[int], action: str, **extra: Any) -> dict[str, Any]:
    return {"action": action, "_selected_action": [str(i) for i in namespace_ids], **extra}


def start_url(namespace_id: int, choice: str) -> str:
    return reverse("admin:syncapp_namespace_start", args=[namespace_id, choice])


@pytest.mark.django_db
def test_the_action_shows_a_confirmation_page_first(
    operator_client: Client, mirror: Mirror
) -> None:
    namespace = mirror.namespace
    # A finished analysis gives the page its "last known counts".
    make_run(
        namespace,
        kind="analyze",
        status=RunStatus.SUCCEEDED,
        total_source_vectors=5,
        total_target_vectors=3,
        missing_in_target=3,
        metadata_differs=1,
        would_migrate=2,
        would_update=1,
        finished_at="2026-01-02T03:04:05Z",
    )
    response = operator_client.post(
        CHANGELIST, action_post([namespace.pk], "mirror_action", index="0")
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "gflops-serverless/docs → askdona/docs" in html
    assert "would then have migrated 2 and updated 1" in html
    assert "3 missing in the target" in html
    assert 'name="batch_size"' in html and 'name="dry_run"' in html
    assert '<input type="hidden" name="post" value="yes">' in html
    assert '<input type="hidden" name="action" value="mirror_action">' in html
    assert f'name="_selected_action" value="{namespace.pk}"' in html
    assert "writes to the target index" in html
    assert not SyncRun.objects.filter(trigger="admin").exists()


@pytest.mark.django_db
def test_confirming_a_mirror_creates_the_run_executes_it_and_opens_its_page(
    operator_client: Client,
    operator: Any,
    mirror: Mirror,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            CHANGELIST, action_post([mirror.namespace.pk], "mirror_action", post="yes")
        )
    run = SyncRun.objects.get(trigger="admin")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:syncapp_syncrun_change", args=[run.pk])
    assert run.requested_by == operator
    assert (run.kind, run.dry_run) == ("mirror", False)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.successfully_migrated, run.successfully_updated) == (2, 1)
    assert run.skipped_no_text == 1 and run.orphaned_in_target == 1
    assert run.verification and run.verification["in_sync"] is True
    entry = LogEntry.objects.get(object_id=str(run.pk))
    assert entry.action_flag == ADDITION
    assert entry.get_change_message() == f"Started mirror #{run.pk} of docs"
    assert entry.user == operator


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "kind", "dry_run"),
    [("analyze_action", "analyze", False), ("dry_run_action", "mirror", True)],
)
def test_analyze_and_dry_run_actions_write_nothing(
    root_client: Client,
    mirror: Mirror,
    django_capture_on_commit_callbacks: Callable[..., Any],
    action: str,
    kind: str,
    dry_run: bool,
) -> None:
    extra = {"dry_run": "on"} if dry_run else {}
    with django_capture_on_commit_callbacks(execute=True):
        operator_response = root_client.post(
            CHANGELIST, action_post([mirror.namespace.pk], action, post="yes", **extra)
        )
    assert operator_response.status_code == 302
    run = SyncRun.objects.get(trigger="admin")
    assert (run.kind, run.dry_run, run.status) == (kind, dry_run, RunStatus.SUCCEEDED)
    assert (run.would_migrate, run.would_update) == (2, 1)
    assert run.records_written == 0
    assert mirror.pinecone.stats()["indexes"]["askdona"]["writes_received"] == 0


@pytest.mark.django_db
def test_the_confirmation_page_can_turn_a_mirror_into_a_dry_run_and_set_the_batch_size(
    operator_client: Client, mirror: Mirror, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(
            start_url(mirror.namespace.pk, "mirror"),
            {"post": "yes", "dry_run": "on", "batch_size": "2"},
        )
    run = SyncRun.objects.get(trigger="admin")
    assert run.dry_run is True
    assert run.options["batch_size"] == 2
    assert run.status == RunStatus.SUCCEEDED


@pytest.mark.django_db
def test_a_bad_batch_size_is_shown_on_the_confirmation_page(
    operator_client: Client, mirror: Mirror
) -> None:
    response = operator_client.post(
        start_url(mirror.namespace.pk, "analyze"), {"post": "yes", "batch_size": "5000"}
    )
    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 1000" in response.content.decode()
    assert not SyncRun.objects.exists()


@pytest.mark.django_db
def test_the_namespace_buttons_lead_to_the_same_confirmation(
    operator_client: Client, mirror: Mirror
) -> None:
    change = operator_client.get(
        reverse("admin:syncapp_namespace_change", args=[mirror.namespace.pk])
    )
    html = change.content.decode()
    for choice in ("analyze", "dry-run", "mirror"):
        assert start_url(mirror.namespace.pk, choice) in html
    page = operator_client.get(start_url(mirror.namespace.pk, "dry-run"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Mirror (dry run)" in body
    assert re.search(r"<input type=\"checkbox\" name=\"dry_run\"[^>]* checked>", body)
    assert 'name="action"' not in body  # posts back to its own URL, not to the changelist


@pytest.mark.django_db
def test_a_second_mirror_of_a_namespace_is_refused_with_the_reason(
    operator_client: Client, mirror: Mirror
) -> None:
    active = make_run(mirror.namespace, status=RunStatus.RUNNING)
    response = operator_client.post(
        start_url(mirror.namespace.pk, "mirror"), {"post": "yes"}, follow=True
    )
    assert SyncRun.objects.count() == 1
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        f"A mirror of docs is already running (run #{active.pk}); wait for it to finish or "
        "cancel it."
    ]
    # ...while a dry run may run beside it.
    operator_client.post(
        start_url(mirror.namespace.pk, "dry-run"), {"post": "yes", "dry_run": "on"}
    )
    assert SyncRun.objects.filter(dry_run=True).count() == 1


@pytest.mark.django_db
def test_starting_several_namespaces_lists_the_runs_in_the_history(
    operator_client: Client,
    make_mirror: Callable[..., Mirror],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    first = make_mirror("first")
    first.seed_sample()
    second = make_mirror("second")
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            CHANGELIST,
            action_post([first.namespace.pk, second.namespace.pk], "analyze_action", post="yes"),
        )
    runs = list(SyncRun.objects.order_by("id"))
    assert len(runs) == 2
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:syncapp_syncrun_changelist"))
    assert f"id__in={runs[0].pk}%2C{runs[1].pk}" in response["Location"]
    history = operator_client.get(response["Location"])
    assert [str(m) for m in history.context["messages"]] == [
        f"Started 2 runs: #{runs[0].pk}, #{runs[1].pk}."
    ]
    assert history.context["cl"].result_count == 2
