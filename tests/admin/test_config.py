"""Configuring indexes and namespaces in the admin: the same rules as the commands' services,
errors shown on the form, key variables named but never revealed, schedules kept in step."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django_q.models import Schedule

from syncapp.models import Index, Namespace
from syncapp.services.schedules import SCHEDULED_TASK, schedule_name


def namespace_form(**overrides: Any) -> dict[str, Any]:
    source, target = Index.objects.get(name="gflops-serverless"), Index.objects.get(name="askdona")
    data = {
        "name": "kb",
        "source_index": source.pk,
        "source_namespace": "kb",
        "target_index": target.pk,
        "target_namespace": "kb",
        "text_field": "text",
        "managed_keys": '["clearance_level"]',
        "clearance_level": "internal",
        "embedding_model": "gemini-embedding-001",
        "embedding_dimension": "3072",
        "task_type": "RETRIEVAL_DOCUMENT",
        "reembed_policy": "text_changed",
        "batch_size": "100",
        "concurrency": "4",
        "schedule_mode": "off",
        "schedule_minutes": "",
        "schedule_cron": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def indexes(db: None) -> None:
    Index.objects.create(name="gflops-serverless")
    Index.objects.create(name="askdona", api_key_env="ASKDONA_KEY")


ADD_NAMESPACE = reverse("admin:syncapp_namespace_add")


def errors_of(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, "expected the form again, with errors"
    form = response.context["adminform"].form
    return {field: [str(e) for e in errs] for field, errs in form.errors.items()}


@pytest.mark.django_db
def test_an_index_name_is_validated(root_client: Client) -> None:
    response = root_client.post(
        reverse("admin:syncapp_index_add"), {"name": "Bad_Name", "host": "", "api_key_env": ""}
    )
    assert "lowercase letters, digits and hyphens" in errors_of(response)["name"][0]
    response = root_client.post(
        reverse("admin:syncapp_index_add"),
        {"name": "good-name", "host": "", "api_key_env": "1NOT-A-VAR"},
    )
    assert "name of an environment variable" in errors_of(response)["api_key_env"][0]
    root_client.post(
        reverse("admin:syncapp_index_add"), {"name": "good-name", "host": "", "api_key_env": ""}
    )
    assert Index.objects.filter(name="good-name").exists()


@pytest.mark.django_db
def test_indexes_show_which_variable_supplies_each_key_and_never_the_key(
    root_client: Client, indexes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_SOURCE_API_KEY", "very-secret-source-key")
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    monkeypatch.setenv("ASKDONA_KEY", "very-secret-target-key")
    html = root_client.get(reverse("admin:syncapp_index_changelist")).content.decode()
    assert "<code>PINECONE_SOURCE_API_KEY</code>" in html  # gflops-serverless as a source
    assert "<code>PINECONE_API_KEY</code>" in html and "not set" in html  # ... as a target
    assert "<code>ASKDONA_KEY</code>" in html
    source = Index.objects.get(name="gflops-serverless")
    page = root_client.get(reverse("admin:syncapp_index_change", args=[source.pk]))
    body = page.content.decode()
    assert "PINECONE_SOURCE_API_KEY" in body
    for secret in ("very-secret-source-key", "very-secret-target-key"):
        assert secret not in html and secret not in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"clearance_level": ""}, "clearance_level", "This field is required."),
        (
            {"managed_keys": '["clearance_level", "text"]'},
            "text_field",
            "text_field 'text' cannot also be a managed key",
        ),
        ({"managed_keys": '{"a": 1}'}, "managed_keys", "must be a list of metadata key names"),
        ({"batch_size": "0"}, "batch_size", "greater than or equal to 1"),
        ({"embedding_dimension": "64"}, "embedding_dimension", "greater than or equal to 128"),
        ({"schedule_mode": "interval"}, "schedule_minutes", "number of minutes"),
        (
            {"schedule_mode": "cron", "schedule_cron": "every day"},
            "schedule_cron",
            "not a valid cron expression",
        ),
        ({"schedule_mode": "cron"}, "schedule_cron", "Give a cron expression"),
        (
            {"schedule_mode": "off", "schedule_cron": "61 * * * *"},
            "schedule_cron",
            "not a valid cron expression",
        ),
    ],
)
def test_namespace_rules_are_shown_on_the_form(
    root_client: Client, indexes: None, overrides: dict[str, str], field: str, message: str
) -> None:
    errors = errors_of(root_client.post(ADD_NAMESPACE, namespace_form(**overrides)))
    assert any(message in e for e in errors.get(field, [])), errors
    assert not Namespace.objects.exists()


@pytest.mark.django_db
def test_source_and_target_may_not_be_the_same_namespace(
    root_client: Client, indexes: None
) -> None:
    source = Index.objects.get(name="gflops-serverless")
    response = root_client.post(
        ADD_NAMESPACE, namespace_form(target_index=source.pk, target_namespace="kb")
    )
    assert "Source and target are the same index and namespace." in response.content.decode()
    assert not Namespace.objects.exists()


@pytest.mark.django_db
def test_a_namespace_schedule_follows_its_settings(root_client: Client, indexes: None) -> None:
    root_client.post(
        ADD_NAMESPACE, namespace_form(schedule_mode="cron", schedule_cron="15 2 * * *")
    )
    namespace = Namespace.objects.get()
    schedule = Schedule.objects.get(name=schedule_name(namespace.pk))
    assert (schedule.func, schedule.args) == (SCHEDULED_TASK, repr(namespace.pk))
    assert (schedule.schedule_type, schedule.cron) == (Schedule.CRON, "15 2 * * *")
    assert (schedule.next_run.hour, schedule.next_run.minute) == (2, 15)  # TIME_ZONE is UTC

    change = reverse("admin:syncapp_namespace_change", args=[namespace.pk])
    root_client.post(change, namespace_form(schedule_mode="interval", schedule_minutes="15"))
    schedule = Schedule.objects.get(name=schedule_name(namespace.pk))
    assert (schedule.schedule_type, schedule.minutes, schedule.cron) == (Schedule.MINUTES, 15, None)
    page = root_client.get(change).content.decode()
    assert "Next scheduled mirror" in page

    root_client.post(change, namespace_form(schedule_mode="off"))
    assert not Schedule.objects.filter(name=schedule_name(namespace.pk)).exists()


@pytest.mark.django_db
def test_a_namespace_created_in_the_admin_gets_the_default_managed_key(
    root_client: Client, indexes: None
) -> None:
    response = root_client.post(ADD_NAMESPACE, namespace_form(managed_keys=""))
    assert response.status_code == 302
    assert Namespace.objects.get().managed_keys == ["clearance_level"]
