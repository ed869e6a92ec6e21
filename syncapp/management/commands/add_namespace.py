"""`python manage.py add_namespace NAME --source-index IDX --target-index IDX [...]`"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncapp.models import ReembedPolicy
from syncapp.services.config import namespace_upsert
from syncapp.services.errors import ServiceError


class Command(BaseCommand):
    help = "Configure (or update) a mirrored namespace: which source namespace goes where, how."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A short label for this mirror, e.g. docs")
        parser.add_argument("--source-index", required=True, metavar="IDX")
        parser.add_argument("--target-index", required=True, metavar="IDX")
        parser.add_argument("--source-namespace", default=None, metavar="NS", help="default: NAME")
        parser.add_argument(
            "--target-namespace", default=None, metavar="NS", help="default: the source's"
        )
        parser.add_argument("--text-field", default=None, metavar="F", help="default: text")
        parser.add_argument(
            "--clearance-level", default=None, metavar="VALUE", help="given to new records"
        )
        parser.add_argument("--batch-size", type=int, default=None, metavar="N")
        parser.add_argument("--reembed-policy", choices=ReembedPolicy.values, default=None)
        parser.add_argument(
            "--managed-keys",
            default=None,
            metavar="JSON",
            help="keys the target manages itself, default '[\"clearance_level\"]'",
        )
        parser.add_argument("--embedding-model", default=None)
        parser.add_argument("--embedding-dimension", type=int, default=None)
        parser.add_argument("--task-type", default=None)
        parser.add_argument("--concurrency", type=int, default=None, metavar="N")

    def handle(self, *args: Any, **options: Any) -> None:
        managed = None
        if options["managed_keys"] is not None:
            try:
                managed = json.loads(options["managed_keys"])
            except json.JSONDecodeError as exc:
                raise CommandError(f"--managed-keys is not valid JSON: {exc}") from exc
        source_namespace = options["source_namespace"]
        if source_namespace is None:
            source_namespace = options["name"]
        try:
            namespace, created = namespace_upsert(
                name=options["name"],
                source_index=options["source_index"],
                target_index=options["target_index"],
                source_namespace=source_namespace,
                target_namespace=options["target_namespace"],
                text_field=options["text_field"],
                clearance_level=options["clearance_level"],
                batch_size=options["batch_size"],
                reembed_policy=options["reembed_policy"],
                managed_keys=managed,
                embedding_model=options["embedding_model"],
                embedding_dimension=options["embedding_dimension"],
                task_type=options["task_type"],
                concurrency=options["concurrency"],
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Added" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} namespace {namespace.name}: "
                f"{namespace.source_index}/{namespace.source_namespace or '(default)'} -> "
                f"{namespace.target_index}/{namespace.target_namespace or '(default)'} "
                f"(text field {namespace.text_field!r}, batch size {namespace.batch_size}, "
                f"policy {namespace.reembed_policy})"
            )
        )
