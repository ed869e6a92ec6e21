"""`python manage.py mirror_namespace NAME [--dry-run] [--batch-size N] [--json]`"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from syncapp.management.runcommand import RunCommand
from syncapp.models import RunKind


class Command(RunCommand):
    help = (
        "Mirror the source namespace into the target: migrate missing records, replace changed "
        "ones (re-embedded with Gemini), never touch the source or orphans. Exit status: 0 "
        "succeeded, 1 failed, 2 completed with errors (some records failed), 3 cancelled."
    )
    kind = RunKind.MIRROR

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="classify and report what would be written; write and embed nothing",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            metavar="N",
            help="records per batch for this run (1-1000; default: the namespace's)",
        )

    def start_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"dry_run": options["dry_run"], "batch_size": options["batch_size"]}
