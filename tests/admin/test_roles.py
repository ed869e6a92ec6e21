"""The groups `setup_roles` creates give exactly the two roles the product has."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from syncapp.models import Namespace, SyncRun
from syncapp.services.roles import AUDITORS, OPERATORS, roles_ensure_groups


def member_of(group_name: str, username: str) -> Client:
    operators, auditors = roles_ensure_groups()
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.groups.set([operators if group_name == OPERATORS else auditors])
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_setup_roles_is_idempotent_and_names_the_permissions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("setup_roles")
    call_command("setup_roles")
    out = capsys.readouterr().out
    assert f"{OPERATORS}: " in out and "start_sync" in out
    operators, auditors = roles_ensure_groups()
    assert "start_sync" not in set(auditors.permissions.values_list("codename", flat=True))
    assert {"view_syncrun", "start_sync", "change_namespace"} <= set(
        operators.permissions.values_list("codename", flat=True)
    )


@pytest.mark.django_db
def test_an_auditor_group_member_sees_runs_but_cannot_start_one(bare_namespace: Namespace) -> None:
    client = member_of(AUDITORS, "carol")
    assert client.get(reverse("admin:syncapp_syncrun_changelist")).status_code == 200
    page = client.get(reverse("admin:syncapp_namespace_changelist")).content.decode()
    assert "mirror_action" not in page
    start = reverse("admin:syncapp_namespace_start", args=[bare_namespace.pk, "mirror"])
    client.post(start, {"post": "yes"})
    assert not SyncRun.objects.exists()


@pytest.mark.django_db
def test_an_operator_group_member_gets_the_start_actions(bare_namespace: Namespace) -> None:
    client = member_of(OPERATORS, "olga")
    page = client.get(reverse("admin:syncapp_namespace_changelist")).content.decode()
    assert "mirror_action" in page and "analyze_action" in page
