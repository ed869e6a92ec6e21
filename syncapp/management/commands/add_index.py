"""`python manage.py add_index NAME [--host URL] [--api-key-env VAR]`"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncapp.services.config import index_upsert
from syncapp.services.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Register a Pinecone index (or update it). The API key is never stored: name the "
        "environment variable that holds it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Pinecone index name, e.g. askdona")
        parser.add_argument(
            "--host",
            default="",
            help="Data-plane URL; default: looked up through the control plane",
        )
        parser.add_argument(
            "--api-key-env",
            default="",
            metavar="VAR",
            help="Environment variable holding the key (default: PINECONE_SOURCE_API_KEY "
            "when read as a source, falling back to PINECONE_API_KEY; PINECONE_API_KEY as a "
            "target)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            index, created = index_upsert(
                name=options["name"], host=options["host"], api_key_env=options["api_key_env"]
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Added" if created else "Updated"
        host = index.host or "resolved through the control plane"
        key = index.api_key_env or "default variables"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} index {index.name} (host: {host}; key: {key})")
        )
