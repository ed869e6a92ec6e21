"""`python manage.py analyze_namespace NAME [--json]`: read-only analysis of a namespace."""

from syncapp.management.runcommand import RunCommand
from syncapp.models import RunKind


class Command(RunCommand):
    help = (
        "Compare the source and target namespaces without writing anything: missing, matching, "
        "changed and orphaned records, and records that would be skipped for lack of text. "
        "Exit status: 0 succeeded, 1 failed."
    )
    kind = RunKind.ANALYZE
