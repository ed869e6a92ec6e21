"""Who may do what: auditors only look, operators start, cancel and resume runs, and nobody
edits runs or diffs through the admin; every start, cancel and resume is in the admin log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from syncapp.models import Index, Namespace, RecordDiff, RunStatus, SyncRun
from tests.admin.conftest import make_run

NAMESPACES = reverse("admin:syncapp_namespace_changelist")
ACTIONS = ("analyze_action", "dry_run_action", "mirror_action")


def start_url(namespace: Namespace, choice: str = "mirror") -> str:
    return reverse("admin:syncapp_namespace_start", args=[namespace.pk, choice])


# --- auditors ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_auditors_see_every_page_but_no_way_to_start_runs(
    auditor_client: Client, bare_namespace: Namespace
) -> None:
    run = make_run(bare_namespace, status=RunStatus.SUCCEEDED)
    diff = RecordDiff.objects.create(run=run, record_id="r", kind="missing", action="created")
    for url in (
        NAMESPACES,
        reverse("admin:syncapp_namespace_change", args=[bare_namespace.pk]),
        reverse("admin:syncapp_namespace_overview", args=[bare_namespace.pk]),
        reverse("admin:syncapp_index_changelist"),
        reverse("admin:syncapp_syncrun_changelist"),
        reverse("admin:syncapp_syncrun_change", args=[run.pk]),
        reverse("admin:syncapp_recorddiff_changelist"),
        reverse("admin:syncapp_recorddiff_change", args=[diff.pk]),
        reverse("admin:syncapp_syncrun_export", args=[run.pk]),
    ):
        response = auditor_client.get(url)
        assert response.status_code == 200, url
        if not response.streaming:
            html = response.content.decode()
            for action in ACTIONS:
                assert action not in html, (url, action)
            assert "/start/" not in html, url


@pytest.mark.django_db
def test_an_auditor_cannot_start_a_run_by_posting(
    auditor_client: Client, bare_namespace: Namespace
) -> None:
    for data in (
        {"action": "mirror_action", "_selected_action": [bare_namespace.pk], "post": "yes"},
        {"action": "mirror_action", "_selected_action": [bare_namespace.pk], "index": "0"},
    ):
        response = auditor_client.post(NAMESPACES, data)
        # The action is not among the auditor's: Django shows the list (or says "No action
        # selected"), never the confirmation page.
        assert response.status_code in (200, 302)
        assert b'name="post"' not in response.content
    assert auditor_client.get(start_url(bare_namespace)).status_code == 403
    assert auditor_client.post(start_url(bare_namespace), {"post": "yes"}).status_code == 403
    assert not SyncRun.objects.exists()


@pytest.mark.django_db
def test_an_auditor_cannot_cancel_or_resume(
    auditor_client: Client, bare_namespace: Namespace
) -> None:
    stale = timezone.now() - timedelta(hours=1)
    run = make_run(bare_namespace, status=RunStatus.RUNNING, heartbeat_at=stale, attempt=1)
    page = auditor_client.get(reverse("admin:syncapp_syncrun_change", args=[run.pk]))
    html = page.content.decode()
    assert "stale (worker died?)" in html
    assert 'value="Cancel run"' not in html
    assert 'value="Resume"' not in html
    for name in ("cancel", "resume"):
        url = reverse(f"admin:syncapp_syncrun_{name}", args=[run.pk])
        assert auditor_client.post(url).status_code == 403
    run.refresh_from_db()
    assert (run.status, run.cancel_requested, run.attempt) == (RunStatus.RUNNING, False, 1)


@pytest.mark.django_db
def test_an_auditor_sees_the_configuration_read_only(
    auditor_client: Client, bare_namespace: Namespace
) -> None:
    url = reverse("admin:syncapp_namespace_change", args=[bare_namespace.pk])
    html = auditor_client.get(url).content.decode()
    assert 'name="_save"' not in html
    response = auditor_client.post(url, {"name": "renamed"})
    assert response.status_code == 403
    assert auditor_client.get(reverse("admin:syncapp_index_add")).status_code == 403
    assert Namespace.objects.get().name == "plain"


# --- operators -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_operator_cancels_a_running_run(
    operator_client: Client, operator: object, bare_namespace: Namespace
) -> None:
    run = make_run(bare_namespace, status=RunStatus.RUNNING, heartbeat_at=timezone.now())
    page = operator_client.get(reverse("admin:syncapp_syncrun_change", args=[run.pk]))
    assert "Cancel run" in page.content.decode()
    url = reverse("admin:syncapp_syncrun_cancel", args=[run.pk])
    assert operator_client.get(url).status_code == 405  # a change: POST only
    response = operator_client.post(url, follow=True)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.cancel_requested
    assert [str(m) for m in response.context["messages"]] == [
        f"Asked mirror #{run.pk} to stop: it finishes the batches being written first."
    ]
    entry = LogEntry.objects.get(object_id=str(run.pk))
    assert (entry.action_flag, entry.user) == (CHANGE, operator)
    assert entry.get_change_message() == f"Cancelled mirror #{run.pk}"
    # The run's history page (Django's own) shows it.
    history = operator_client.get(reverse("admin:syncapp_syncrun_history", args=[run.pk]))
    assert f"Cancelled mirror #{run.pk}" in history.content.decode()


@pytest.mark.django_db
def test_cancelling_a_queued_run_ends_it_and_a_finished_one_says_so(
    operator_client: Client, bare_namespace: Namespace
) -> None:
    queued = make_run(bare_namespace, kind="analyze")
    response = operator_client.post(
        reverse("admin:syncapp_syncrun_cancel", args=[queued.pk]), follow=True
    )
    assert [str(m) for m in response.context["messages"]] == [f"Cancelled analysis #{queued.pk}."]
    queued.refresh_from_db()
    assert queued.status == RunStatus.CANCELLED
    response = operator_client.post(
        reverse("admin:syncapp_syncrun_cancel", args=[queued.pk]), follow=True
    )
    assert [str(m) for m in response.context["messages"]] == [
        f"Run #{queued.pk} has already finished (Cancelled)."
    ]


@pytest.mark.django_db
def test_an_operator_may_not_edit_the_configuration(
    operator_client: Client, bare_namespace: Namespace
) -> None:
    url = reverse("admin:syncapp_namespace_change", args=[bare_namespace.pk])
    assert operator_client.post(url, {"name": "renamed"}).status_code == 403
    assert operator_client.get(reverse("admin:syncapp_namespace_add")).status_code == 403


# --- nobody edits runs or diffs --------------------------------------------------------------


@pytest.mark.django_db
def test_runs_and_diffs_cannot_be_added_changed_or_deleted_even_by_a_superuser(
    root_client: Client, bare_namespace: Namespace
) -> None:
    run = make_run(bare_namespace, status=RunStatus.SUCCEEDED, successfully_migrated=5)
    diff = RecordDiff.objects.create(run=run, record_id="r", kind="missing", action="created")
    for model, obj in (("syncrun", run), ("recorddiff", diff)):
        assert root_client.get(reverse(f"admin:syncapp_{model}_add")).status_code == 403
        delete = reverse(f"admin:syncapp_{model}_delete", args=[obj.pk])
        assert root_client.get(delete).status_code == 403
        assert root_client.post(delete, {"post": "yes"}).status_code == 403
        change = reverse(f"admin:syncapp_{model}_change", args=[obj.pk])
        page = root_client.get(change).content.decode()
        assert 'name="_save"' not in page
        assert root_client.post(change, {"successfully_migrated": "0"}).status_code == 403
        changelist = root_client.get(reverse(f"admin:syncapp_{model}_changelist"))
        assert "delete_selected" not in changelist.content.decode()
        assert not changelist.context["has_add_permission"]
    run.refresh_from_db()
    assert run.successfully_migrated == 5
    assert RecordDiff.objects.filter(pk=diff.pk).exists()
    assert Index.objects.count() == 2
