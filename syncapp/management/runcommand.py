"""What `analyze_namespace` and `mirror_namespace` share: run in-process, show progress on a
terminal, print the statistics as a table or as one JSON object.

The run is recorded as a SyncRun (trigger "command") exactly as if started from the admin; the
command is simply the worker that executes it.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

# STAT_LABELS and WRITE_ONLY_ROWS live in syncapp.labels (the admin shows the same table) and
# stay importable from here.
from syncapp.labels import STAT_LABELS, WRITE_ONLY_ROWS, stat_names_for  # noqa: F401
from syncapp.models import RunKind, RunStatus, RunTrigger, SyncRun
from syncapp.services.config import namespace_get
from syncapp.services.errors import ServiceError
from syncapp.services.runs import sync_run_create, sync_run_execute

EXIT_CODES = {
    RunStatus.SUCCEEDED: 0,
    RunStatus.COMPLETED_WITH_ERRORS: 2,
    RunStatus.CANCELLED: 3,
    RunStatus.FAILED: 1,
}


class TerminalObserver:
    """Phases, a progress bar with rate and ETA, and warnings, on a terminal (stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: tqdm[Any] | None = None

    def phase(self, name: str, total: int | None) -> None:
        self.close()
        self.stream.write(f"Phase: {name}\n")
        self.bar = tqdm(
            total=total, unit=" records", file=self.stream, dynamic_ncols=True, desc=name
        )

    def progress(self, stats: dict[str, int], done: int, total: int | None) -> None:
        if self.bar is None:
            return
        if total is not None and total != self.bar.total:
            self.bar.total = max(total, done)
        self.bar.update(done - self.bar.n)
        self.bar.set_postfix(
            migrated=stats["successfully_migrated"],
            updated=stats["successfully_updated"],
            failed=stats["failed_migration"] + stats["failed_update"],
            refresh=False,
        )

    def log(self, level: str, message: str) -> None:
        if level in ("warning", "error"):
            (self.bar.write if self.bar else self.stream.write)(f"{level.upper()}: {message}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_as_json(run: SyncRun) -> dict[str, Any]:
    return {
        "run_id": run.pk,
        "namespace": run.namespace.name,
        "kind": run.kind,
        "dry_run": run.dry_run,
        "status": run.status,
        "error": run.error or None,
        **run.stats_dict(),
        "orphan_sample": run.orphan_sample,
        "verification": run.verification,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


class RunCommand(BaseCommand):
    kind: str = RunKind.ANALYZE

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the mirrored namespace (see add_namespace)")
        parser.add_argument(
            "--json",
            action="store_true",
            help="print one JSON object with the run's statistics on stdout, nothing else",
        )

    def start_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verbosity"] < 2:
            # The run log is on the run's page and summarised in the table; per-batch lines
            # on the console would bury the progress bar. -v 2 shows them.
            logging.getLogger("syncapp").setLevel(logging.WARNING)
        try:
            namespace = namespace_get(name=options["name"])
            run = sync_run_create(
                namespace=namespace,
                kind=self.kind,
                trigger=RunTrigger.COMMAND,
                **self.start_options(options),
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc

        # Progress goes to stderr, and only on a terminal, so stdout stays clean for --json.
        observer = TerminalObserver(sys.stderr) if sys.stderr.isatty() else None
        if not options["json"]:
            self.stdout.write(f"Run #{run.pk}: {run}")
        try:
            run = sync_run_execute(run_id=run.pk, observer=observer)
        finally:
            if observer:
                observer.close()

        if options["json"]:
            self.stdout.write(json.dumps(run_as_json(run), indent=2))
        else:
            self.print_table(run)
        code = EXIT_CODES.get(RunStatus(run.status), 1)
        if code:
            # Django turns a CommandError into exit status 1; other codes need sys.exit.
            if code == 1:
                raise CommandError(f"Run #{run.pk} failed: {run.error}")
            sys.exit(code)

    @staticmethod
    def rows_for(run: SyncRun) -> set[str]:
        """Statistics that mean something for this kind of run (the JSON has them all)."""
        return set(stat_names_for(kind=run.kind, dry_run=run.dry_run))

    def print_table(self, run: SyncRun) -> None:
        width = max(len(label) for label in STAT_LABELS.values())
        out = self.stdout
        out.write("")
        out.write(f"{'Statistic':<{width}}  {'Count':>10}")
        out.write(f"{'-' * width}  {'-' * 10}")
        for name in STAT_LABELS:
            if name not in self.rows_for(run):
                continue
            out.write(f"{STAT_LABELS.get(name, name):<{width}}  {getattr(run, name):>10,}")
        if run.orphan_sample:
            out.write(f"\nOrphan sample: {', '.join(run.orphan_sample[:10])}")
        if run.verification:
            v = run.verification
            verdict = "IN SYNC" if v.get("in_sync") else "NOT IN SYNC"
            out.write(
                f"\nVerification: {verdict} (source {v.get('source_count')}, target "
                f"{v.get('target_count')}, missing {v.get('missing')}, differing "
                f"{v.get('differing')}, without text {v.get('no_text')})"
            )
        style = {
            RunStatus.SUCCEEDED: self.style.SUCCESS,
            RunStatus.COMPLETED_WITH_ERRORS: self.style.WARNING,
        }.get(RunStatus(run.status), self.style.ERROR)
        out.write(style(f"\nRun #{run.pk} {run.get_status_display().lower()}"))
        if run.error:
            out.write(self.style.ERROR(run.error))
