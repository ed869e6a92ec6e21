"""The two roles of the product as Django groups: operators start runs, auditors only look.

Superusers can do everything already. Used by `python manage.py setup_roles` and by the demo,
which creates an auditor account to try the read-only role with.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

OPERATORS = "Sync operators"
AUDITORS = "Sync auditors"
VIEW_CODENAMES = ("view_index", "view_namespace", "view_syncrun", "view_recorddiff")
# Operators also configure indexes and namespaces (the admin forms) and start, cancel and
# resume runs. Nobody can change runs or diffs: the admin refuses it for everyone.
OPERATOR_CODENAMES = (
    *VIEW_CODENAMES,
    "add_index",
    "change_index",
    "add_namespace",
    "change_namespace",
    "start_sync",
)


@transaction.atomic
def roles_ensure_groups() -> tuple[Group, Group]:
    """Create (or repair) the operator and auditor groups; returns (operators, auditors)."""
    groups = []
    for name, codenames in ((OPERATORS, OPERATOR_CODENAMES), (AUDITORS, VIEW_CODENAMES)):
        group, _ = Group.objects.get_or_create(name=name)
        permissions = Permission.objects.filter(
            content_type__app_label="syncapp", codename__in=codenames
        )
        missing = set(codenames) - set(permissions.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"permissions missing (run migrate first): {sorted(missing)}")
        group.permissions.set(permissions)
        groups.append(group)
    return groups[0], groups[1]
