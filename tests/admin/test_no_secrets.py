"""API keys live in the environment only: no admin page, feed or export ever shows one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from syncapp.models import Index, RecordDiff, SyncRun
from tests.admin.conftest import SECRETS, Mirror


def body(response: Any) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.django_db
def test_no_page_shows_an_api_key(
    root_client: Client, mirror: Mirror, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    namespace = mirror.namespace
    with django_capture_on_commit_callbacks(execute=True):
        root_client.post(
            reverse("admin:syncapp_namespace_start", args=[namespace.pk, "mirror"]),
            {"post": "yes"},
        )
    run = SyncRun.objects.get()
    assert run.status == "succeeded"
    diff = RecordDiff.objects.filter(run=run).first()
    assert diff is not None
    urls = [
        reverse("admin:index"),
        reverse("admin:syncapp_index_changelist"),
        *(reverse("admin:syncapp_index_change", args=[i.pk]) for i in Index.objects.all()),
        reverse("admin:syncapp_namespace_changelist"),
        reverse("admin:syncapp_namespace_change", args=[namespace.pk]),
        reverse("admin:syncapp_namespace_overview", args=[namespace.pk]),
        reverse("admin:syncapp_namespace_start", args=[namespace.pk, "mirror"]),
        reverse("admin:syncapp_syncrun_changelist"),
        reverse("admin:syncapp_syncrun_change", args=[run.pk]),
        reverse("admin:syncapp_syncrun_progress", args=[run.pk]),
        reverse("admin:syncapp_syncrun_history", args=[run.pk]),
        reverse("admin:syncapp_syncrun_export", args=[run.pk]),
        reverse("admin:syncapp_recorddiff_changelist") + f"?run={run.pk}",
        reverse("admin:syncapp_recorddiff_change", args=[diff.pk]),
        reverse("admin:django_q_success_changelist"),
    ]
    for url in urls:
        response = root_client.get(url)
        assert response.status_code == 200, url
        text = body(response)
        for secret in SECRETS:
            assert secret not in text, (url, secret)
