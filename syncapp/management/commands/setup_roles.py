"""`python manage.py setup_roles`: create the "Sync operators" and "Sync auditors" groups."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from syncapp.services.roles import roles_ensure_groups


class Command(BaseCommand):
    help = (
        "Create or repair two groups: 'Sync operators' (configure, start, cancel and resume "
        "runs) and 'Sync auditors' (see everything, change nothing). Add staff users to them "
        "in the admin."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        operators, auditors = roles_ensure_groups()
        for group in (operators, auditors):
            perms = ", ".join(sorted(group.permissions.values_list("codename", flat=True)))
            self.stdout.write(self.style.SUCCESS(f"{group.name}: {perms}"))
