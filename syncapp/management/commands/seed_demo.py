"""`python manage.py seed_demo`: fill the local emulators with the demo's sample namespace."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncapp.services.demo import DemoPlan, demo_seed
from syncengine import AdapterError


class Command(BaseCommand):
    help = (
        "Write the demo sample (a source namespace and a stale copy in the target) to the "
        "Pinecone emulator and register the indexes and the namespace. For the local "
        "emulators only: it writes to the source index, which the product itself never does."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--records", type=int, default=DemoPlan.source_records)
        parser.add_argument("--namespace", default="kb-articles")
        parser.add_argument(
            "--api-key-env",
            default="PINECONE_API_KEY",
            help="variable holding a read-write key for both indexes",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        key = os.environ.get(options["api_key_env"], "")
        if not key:
            raise CommandError(f"{options['api_key_env']} is not set")
        if not settings.PINECONE_CONTROLLER_HOST:
            raise CommandError(
                "PINECONE_CONTROLLER_HOST is not set: seed_demo writes to the local emulator "
                "only, never to Pinecone's own service"
            )
        plan = DemoPlan(source_records=options["records"])
        try:
            summary = demo_seed(
                api_key=key,
                controller_host=settings.PINECONE_CONTROLLER_HOST,
                namespace=options["namespace"],
                plan=plan,
            )
        except AdapterError as exc:
            raise CommandError(f"could not write the sample: {exc}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {summary.source_records} source records and {summary.target_records} "
                f"target records in namespace {options['namespace']!r} "
                f"({plan.missing} missing, {plan.changed_metadata} with changed metadata, "
                f"{plan.changed_text} with changed text, {plan.no_text} without text, "
                f"{plan.orphans} orphans)"
            )
        )
