"""Services that start, execute, cancel and resume runs (analyses and mirrors).

The admin, the django-q2 task and the management commands all go through `sync_run_create` and
`sync_run_execute`. A run row is created first (queued), then executed; the runner guarantees
a final state whatever happens (NetBox `Job` style), and a run can only be claimed once.

A worker that dies mid-run (killed, out of memory, machine lost) cannot record anything: its
run stays `running` and its heartbeat stops. Such a run is *stale* once its heartbeat is older
than `settings.SYNC_STALE_AFTER`; it can then be resumed (`sync_run_requeue_stale`, from the
admin) or is reclaimed by django-q2's redelivery of the same task (`reclaim_stale=True`). The
engine's ledger makes the rerun skip every record the dead worker already wrote.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from syncapp.clients.gemini_embedder import GeminiEmbedder
from syncapp.clients.pinecone_store import PineconeConnection, PineconeSource, PineconeTarget
from syncapp.models import (
    ACTIVE_STATUSES,
    STAT_FIELDS,
    DiffAction,
    DiffKind,
    Index,
    Namespace,
    RecordDiff,
    RunKind,
    RunStatus,
    RunTrigger,
    SyncedRecord,
    SyncRun,
)
from syncapp.services.errors import RunConflict, ServiceError
from syncapp.services.selectors import stale_cutoff, stale_runs_q
from syncengine import (
    AdapterError,
    EngineError,
    LedgerEntry,
    MirrorConfig,
    MirrorEngine,
    MirroringStats,
    PreflightError,
    RunOutcome,
)
from syncengine import RecordDiff as EngineDiff

logger = logging.getLogger(__name__)

RUN_LOG_MAX_LINES = 2000  # the run log keeps the last lines only: a run may log per batch
PROGRESS_SAVE_INTERVAL = 0.5  # seconds between progress writes to the run row
CANCEL_POLL_INTERVAL = 1.0  # seconds between reads of the cancel flag
GEMINI_KEY_ENV = "GEMINI_API_KEY"

# What the sink writes on every progress flush.
PROGRESS_FIELDS = (
    *STAT_FIELDS,
    "phase",
    "phase_started_at",
    "progress_done",
    "progress_total",
    "log",
    "heartbeat_at",
)
# Diff rows that record a write that happened: a resumed run keeps them (the rerun will find
# those records in sync and report nothing for them) and recomputes the others.
WRITTEN_ACTIONS = (DiffAction.CREATED, DiffAction.UPDATED, DiffAction.METADATA_ONLY)

OUTCOME_STATUS = {
    RunOutcome.SUCCEEDED: RunStatus.SUCCEEDED,
    RunOutcome.COMPLETED_WITH_ERRORS: RunStatus.COMPLETED_WITH_ERRORS,
    RunOutcome.CANCELLED: RunStatus.CANCELLED,
}


class RunObserver(Protocol):
    """Something that watches a run as it executes (the commands' terminal progress)."""

    def phase(self, name: str, total: int | None) -> None: ...

    def progress(self, stats: dict[str, int], done: int, total: int | None) -> None: ...

    def log(self, level: str, message: str) -> None: ...


# --- Creating and cancelling ---------------------------------------------------------------


def sync_run_create(
    *,
    namespace: Namespace,
    kind: str,
    trigger: str,
    dry_run: bool = False,
    requested_by: Any = None,
    batch_size: int | None = None,
) -> SyncRun:
    """Create a queued run. Raises `RunConflict` if a real mirror of the namespace is active.

    The database enforces one active mirror per namespace (a partial unique index), so two
    concurrent requests cannot both get past this point.
    """
    if kind not in RunKind.values:
        raise ServiceError(f"Unknown run kind {kind!r}")
    if trigger not in RunTrigger.values:
        raise ServiceError(f"Unknown run trigger {trigger!r}")
    if batch_size is not None and not 1 <= batch_size <= 1000:
        raise ServiceError(f"batch size must be from 1 to 1000, not {batch_size}")
    options = {
        "batch_size": batch_size or namespace.batch_size,
        "reembed_policy": namespace.reembed_policy,
        "concurrency": namespace.concurrency,
        "embedding_model": namespace.embedding_model,
        "embedding_dimension": namespace.embedding_dimension,
    }
    try:
        with transaction.atomic():
            return SyncRun.objects.create(
                namespace=namespace,
                kind=kind,
                dry_run=dry_run if kind == RunKind.MIRROR else False,
                trigger=trigger,
                requested_by=requested_by,
                options=options,
            )
    except IntegrityError:
        active = (
            SyncRun.objects.filter(
                namespace=namespace, kind=RunKind.MIRROR, dry_run=False, status__in=ACTIVE_STATUSES
            )
            .order_by("-id")
            .first()
        )
        if active is None:
            raise
        raise RunConflict(
            f"A mirror of {namespace.name} is already {active.get_status_display().lower()} "
            f"(run #{active.pk}); wait for it to finish or cancel it.",
            active_run_id=active.pk,
        ) from None


def sync_run_create_skipped(
    *, namespace: Namespace, trigger: str, blocked_by_id: int | None, reason: str
) -> SyncRun:
    """Record a mirror that was due (on a schedule) but did not start, and why.

    It is a run row in the final `skipped` state rather than a log line somewhere, so the
    history shows every scheduled slot and what became of it. The partial unique constraint
    covers only queued and running mirrors, so this row never conflicts.
    """
    now = timezone.now()
    stamp = timezone.localtime(now).strftime("%H:%M:%S")
    return SyncRun.objects.create(
        namespace=namespace,
        kind=RunKind.MIRROR,
        dry_run=False,
        trigger=trigger,
        status=RunStatus.SKIPPED,
        blocked_by_id=blocked_by_id,
        options={"batch_size": namespace.batch_size},
        finished_at=now,
        phase="skipped",
        log=f"{stamp} INFO    skipped: {reason}",
    )


def sync_run_cancel(*, run: SyncRun) -> SyncRun:
    """Ask a run to stop. A queued run is cancelled at once; a running one stops between
    batches, keeping what it wrote. A stale run (its worker is gone, nobody would see the
    request) is cancelled at once too, and fenced off in case its worker was only stuck."""
    now = timezone.now()
    ended = SyncRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED, cancel_requested=True, finished_at=now, phase="cancelled"
    ) or SyncRun.objects.filter(stale_runs_q(now), pk=run.pk).update(
        status=RunStatus.CANCELLED,
        cancel_requested=True,
        finished_at=now,
        phase="cancelled",
        error="Cancelled while stale: its worker had stopped reporting. What it wrote is kept.",
        attempt=F("attempt") + 1,
    )
    if not ended and not SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        cancel_requested=True
    ):
        run.refresh_from_db()
        raise ServiceError(f"Run #{run.pk} has already finished ({run.get_status_display()}).")
    run.refresh_from_db()
    return run


def sync_run_requeue_stale(*, run: SyncRun, requested_by: Any = None) -> SyncRun:
    """Prepare a stalled run to be resumed; the caller then enqueues a task for it
    (`syncapp.services.dispatch.sync_run_resume`).

    A stale run (running, heartbeat too old: its worker died) goes back to queued. A run queued
    for longer than the stale threshold (`run_is_waiting_too_long`: its task may be lost) stays
    queued and simply gets another task. Either way a line in its log says who did it.

    The conditional UPDATEs make this safe against a second click and against a worker that
    recovers meanwhile (its heartbeat would no longer be stale). Should the old worker still
    be alive after all, whoever gets there first wins: if it finishes the run, the new task
    finds nothing queued; once the new task claims the run (bumping `attempt`), the old
    worker's writes are refused and it stops (`RunTakenOver`). Extra tasks for one run are
    harmless: only one can claim it.
    """
    now = timezone.now()
    who = getattr(requested_by, "get_username", lambda: "")() or "the system"
    last = run.heartbeat_at.isoformat(timespec="seconds") if run.heartbeat_at else "never"
    stamp = timezone.localtime(now).strftime("%H:%M:%S")
    cutoff = stale_cutoff(now)
    with transaction.atomic():
        # heartbeat_at = now: the "waiting for a worker" clock restarts with the new task.
        if SyncRun.objects.filter(stale_runs_q(now), pk=run.pk).update(
            status=RunStatus.QUEUED, phase="queued (resume)", heartbeat_at=now
        ):
            line = (
                f"{stamp} WARNING resume requested by {who}: the worker stopped reporting "
                f"(last heartbeat {last})"
            )
        elif (
            SyncRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED)
            .filter(
                Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
            )
            .update(heartbeat_at=now)
        ):
            line = f"{stamp} WARNING queued again by {who}: no worker had taken the run"
        else:
            run.refresh_from_db()
            if run.status == RunStatus.RUNNING:
                raise ServiceError(
                    f"Run #{run.pk} is running and its worker is reporting; nothing to resume."
                )
            if run.status == RunStatus.QUEUED:
                raise ServiceError(
                    f"Run #{run.pk} was queued moments ago; give a worker time to take it."
                )
            raise ServiceError(
                f"Run #{run.pk} is {run.get_status_display().lower()}, not a stale running run; "
                "nothing to resume."
            )
        run.refresh_from_db()
        run.log = f"{run.log}\n{line}" if run.log else line
        run.save(update_fields=["log"])
    return run


# --- The Django side of the engine: result sink and ledger ---------------------------------


class RunTakenOver(Exception):
    """The run's row no longer carries this worker's `attempt`: it was resumed or cancelled as
    stale, and another worker (or nobody) owns it now. This worker must stop writing."""


def _diff_row(run: SyncRun, diff: EngineDiff) -> RecordDiff:
    return RecordDiff(
        run=run,
        record_id=diff.record_id,
        kind=DiffKind(str(diff.kind)),
        action=DiffAction(str(diff.action)),
        changed_keys=list(diff.changed_keys),
        values={key: {"source": s, "target": t} for key, (s, t) in diff.values.items()},
        text_changed=diff.text_changed,
        error=diff.error or "",
    )


class DjangoRunSink:
    """Persists what the engine reports into the run's row, its diffs and its log.

    Called from the engine's coordinating thread only. Progress writes are throttled (a batch
    may take milliseconds); `flush()` writes the final state. Every write is conditional on
    the run still carrying this worker's `attempt` (see `RunTakenOver`).
    """

    def __init__(self, run: SyncRun, observer: RunObserver | None = None) -> None:
        self.run = run
        self.observer = observer
        self.lines: deque[str] = deque(run.log.splitlines(), maxlen=RUN_LOG_MAX_LINES)
        self._last_save = 0.0
        self._last_cancel_check = 0.0
        self._cancelled = False

    # ResultSink protocol
    def phase(self, name: str, total: int | None) -> None:
        self.run.phase = name
        self.run.phase_started_at = timezone.now()
        self.run.progress_done = 0
        self.run.progress_total = total
        self.log("info", f"phase {name}" + (f" (about {total} source records)" if total else ""))
        self.flush()
        if self.observer:
            self.observer.phase(name, total)

    def progress(self, stats: MirroringStats, done: int, total: int | None) -> None:
        self._apply_stats(stats)
        self.run.progress_done = done
        self.run.progress_total = total
        if time.monotonic() - self._last_save >= PROGRESS_SAVE_INTERVAL:
            self.flush()
        if self.observer:
            self.observer.progress(self.run.stats_dict(), done, total)

    def diffs(self, diffs: Sequence[EngineDiff]) -> None:
        self._check_owner()
        RecordDiff.objects.bulk_create([_diff_row(self.run, d) for d in diffs], batch_size=500)

    def log(self, level: str, message: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self.lines.append(f"{stamp} {level.upper():<7} {message}")
        logger.log(logging.getLevelName(level.upper()), "run #%s: %s", self.run.pk, message)
        if self.observer:
            self.observer.log(level, message)

    def cancelled(self) -> bool:
        if (
            not self._cancelled
            and time.monotonic() - self._last_cancel_check >= CANCEL_POLL_INTERVAL
        ):
            self._last_cancel_check = time.monotonic()
            self._cancelled = SyncRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()
        return self._cancelled

    def _check_owner(self) -> None:
        if not SyncRun.objects.filter(pk=self.run.pk, attempt=self.run.attempt).exists():
            raise RunTakenOver(f"run #{self.run.pk} was taken over (attempt {self.run.attempt})")

    def _write(self, fields: Sequence[str]) -> None:
        """UPDATE the run's row with these fields, only if this worker still owns it."""
        values = {name: getattr(self.run, name) for name in fields}
        if not SyncRun.objects.filter(pk=self.run.pk, attempt=self.run.attempt).update(**values):
            raise RunTakenOver(f"run #{self.run.pk} was taken over (attempt {self.run.attempt})")

    # Runner helpers
    def _apply_stats(self, stats: MirroringStats) -> None:
        values = stats.to_dict()
        for name in STAT_FIELDS:
            setattr(self.run, name, values.get(name, 0))

    def flush(self, *extra_fields: str) -> None:
        self._last_save = time.monotonic()
        self.run.log = "\n".join(self.lines)
        self.run.heartbeat_at = timezone.now()
        self._write([*PROGRESS_FIELDS, *extra_fields])

    def finish(self, status: str, *, error: str = "") -> None:
        self.run.status = status
        self.run.error = error
        self.run.finished_at = timezone.now()
        self.run.phase = "finished" if status != RunStatus.FAILED else "failed"
        self.log("error" if error else "info", f"run {status}" + (f": {error}" if error else ""))
        # One UPDATE, so nobody reads a finished phase with a running status.
        self.flush("status", "error", "finished_at", "orphan_sample", "verification")


class DjangoLedger:
    """`syncengine.Ledger` over the `SyncedRecord` table, for one namespace."""

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace

    def get(self, ids: Sequence[str]) -> dict[str, LedgerEntry]:
        rows = SyncedRecord.objects.filter(namespace=self.namespace, record_id__in=list(ids))
        return {
            row.record_id: LedgerEntry(
                record_id=row.record_id,
                metadata_hash=row.metadata_hash,
                text_hash=row.text_hash,
                model=row.embedding_model,
                dimension=row.embedding_dimension,
                written_at=row.written_at,
            )
            for row in rows
        }

    def find_by_text_hash(
        self, text_hashes: Sequence[str], model: str, dimension: int
    ) -> dict[str, str]:
        found: dict[str, str] = {}
        rows = SyncedRecord.objects.filter(
            namespace=self.namespace,
            text_hash__in=list(text_hashes),
            embedding_model=model,
            embedding_dimension=dimension,
        ).values_list("text_hash", "record_id")
        for text_hash, record_id in rows:
            found.setdefault(text_hash, record_id)
        return found

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        SyncedRecord.objects.bulk_create(
            [
                SyncedRecord(
                    namespace=self.namespace,
                    record_id=e.record_id,
                    metadata_hash=e.metadata_hash,
                    text_hash=e.text_hash,
                    embedding_model=e.model,
                    embedding_dimension=e.dimension,
                    written_at=e.written_at,
                )
                for e in entries
            ],
            update_conflicts=True,
            unique_fields=["namespace", "record_id"],
            update_fields=[
                "metadata_hash",
                "text_hash",
                "embedding_model",
                "embedding_dimension",
                "written_at",
            ],
            batch_size=500,
        )


# --- Preflight: everything checked before a record is read ---------------------------------


@dataclass
class RunParts:
    source: PineconeSource
    target: PineconeTarget
    embedder: GeminiEmbedder | None
    config: MirrorConfig

    def close(self) -> None:
        self.source.close()
        self.target.close()


def _api_key(index: Index, *, as_source: bool, role: str) -> str:
    env_name = index.key_env_in_use(as_source=as_source)
    if env_name is None:
        names = " or ".join(index.key_env_candidates(as_source=as_source))
        raise PreflightError(
            f"{role} API key", f"{names} is not set in the environment (needed for {index.name})"
        )
    return os.environ[env_name]


def _describe(reader: PineconeSource | PineconeTarget, index: Index, key_env: str) -> int | None:
    """Resolve the host and read the dimension, turning failures into preflight errors."""
    role = reader.role
    try:
        dimension, _count = reader.describe_stats()
    except AdapterError as exc:
        if exc.status == 401:
            raise PreflightError(
                f"{role} API key", f"Pinecone rejected the key in {key_env} for {index.name}"
            ) from exc
        if exc.status == 403:
            raise PreflightError(
                f"{role} API key",
                f"the key in {key_env} may not read {index.name} (403 Forbidden)",
            ) from exc
        if exc.status == 404:
            raise PreflightError(
                f"{role} index", f"Pinecone has no index named {index.name!r} ({exc})"
            ) from exc
        where = index.host or settings.PINECONE_CONTROLLER_HOST or "Pinecone's control plane"
        raise PreflightError(
            f"{role} index", f"cannot reach {index.name} via {where}: {exc}"
        ) from exc
    return dimension


def build_run_parts(run: SyncRun) -> RunParts:
    """Check everything a run needs and build its adapters; raises `PreflightError`."""
    namespace = run.namespace
    source_index, target_index = namespace.source_index, namespace.target_index
    writes = run.kind == RunKind.MIRROR and not run.dry_run
    options = run.options or {}

    config = MirrorConfig(
        namespace=namespace.target_namespace,
        source_name=source_index.name,
        target_name=target_index.name,
        text_field=namespace.text_field,
        managed_keys=tuple(namespace.managed_keys or ("clearance_level",)),
        clearance_level=namespace.clearance_level or None,
        batch_size=int(options.get("batch_size", namespace.batch_size)),
        reembed_policy=namespace.reembed_policy,
        dry_run=run.dry_run,
        concurrency=namespace.concurrency,
    )
    if run.kind == RunKind.MIRROR:
        config.validate_for_writing()
    else:
        config.validate()
    if not 128 <= namespace.embedding_dimension <= 3072:
        raise PreflightError(
            "embedding_dimension",
            f"{namespace.embedding_dimension} is outside Gemini's 128-3072",
        )
    if (
        source_index.pk == target_index.pk
        and namespace.source_namespace == namespace.target_namespace
    ):
        raise PreflightError(
            "target", "source and target are the same index and namespace: nothing to mirror"
        )

    source_key = _api_key(source_index, as_source=True, role="source")
    target_key = _api_key(target_index, as_source=False, role="target")
    gemini_key = os.environ.get(GEMINI_KEY_ENV, "")
    if writes and not gemini_key:
        raise PreflightError(
            "Gemini API key", f"{GEMINI_KEY_ENV} is not set (needed to embed the records written)"
        )

    controller = settings.PINECONE_CONTROLLER_HOST
    source = PineconeSource(
        connection=PineconeConnection(api_key=source_key, controller_host=controller),
        index_name=source_index.name,
        namespace=namespace.source_namespace,
        host=source_index.host,
    )
    target = PineconeTarget(
        connection=PineconeConnection(api_key=target_key, controller_host=controller),
        index_name=target_index.name,
        namespace=namespace.target_namespace,
        host=target_index.host,
    )
    _describe(source, source_index, source_index.key_env_in_use(as_source=True) or "")
    target_dimension = _describe(
        target, target_index, target_index.key_env_in_use(as_source=False) or ""
    )
    if source.host().rstrip("/") == target.host().rstrip("/") and (
        namespace.source_namespace == namespace.target_namespace
    ):
        raise PreflightError(
            "target", "source and target resolve to the same host and namespace: nothing to mirror"
        )
    if target_dimension is not None and target_dimension != namespace.embedding_dimension:
        raise PreflightError(
            "embedding_dimension",
            f"target index {target_index.name} has dimension {target_dimension}, but "
            f"{namespace.embedding_model} is configured for {namespace.embedding_dimension}",
        )
    embedder = None
    if writes:
        embedder = GeminiEmbedder(
            api_key=gemini_key,
            model=namespace.embedding_model,
            dimension=namespace.embedding_dimension,
            task_type=namespace.task_type,
            base_url=settings.GEMINI_BASE_URL,
        )
    return RunParts(source=source, target=target, embedder=embedder, config=config)


# --- Executing -------------------------------------------------------------------------------


class _Heartbeat:
    """Refreshes the run's `heartbeat_at` from a thread of its own while a worker executes it.

    The sink also stamps the heartbeat with each progress write, but a phase can go minutes
    without progress (listing a long stretch of orphans, a batch waiting out Gemini's rate
    limit): without this thread such a run would look dead. It dies with the process, which
    is exactly what makes a silent heartbeat mean "the worker is gone".
    """

    def __init__(self, run_id: int, attempt: int, interval: float) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"syncapp-heartbeat-{run_id}", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        # Bounded: an UPDATE stuck behind a lock must not keep the run from finishing.
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    SyncRun.objects.filter(
                        pk=self.run_id, attempt=self.attempt, status=RunStatus.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    # The next beat may get through; a run is only stale after several misses.
                    logger.warning("run #%s: heartbeat not written", self.run_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's own connections


def _claim(run_id: int, *, reclaim_stale: bool) -> bool:
    """Conditional UPDATE: queued -> running (or a stale running run, when asked) for us."""
    now = timezone.now()
    claimable = Q(status=RunStatus.QUEUED)
    if reclaim_stale:
        claimable |= stale_runs_q(now)
    return bool(
        SyncRun.objects.filter(claimable, pk=run_id).update(
            status=RunStatus.RUNNING,
            started_at=Coalesce(F("started_at"), now),
            heartbeat_at=now,
            phase="preflight",
            phase_started_at=now,
            attempt=F("attempt") + 1,
        )
    )


def _finish(sink: DjangoRunSink, status: str, error: str = "") -> None:
    try:
        sink.finish(status, error=error)
    except RunTakenOver:
        logger.warning("run #%s: taken over before it could record %s", sink.run.pk, status)


def sync_run_execute(
    *, run_id: int, observer: RunObserver | None = None, reclaim_stale: bool = False
) -> SyncRun:
    """Claim a queued run and carry it out to a final state.

    Claiming is a conditional UPDATE, so a duplicated or retried task finds the run no longer
    queued and does nothing. Whatever happens inside, the run ends in a final status with the
    statistics reached so far; nothing the engine wrote is undone.

    `reclaim_stale=True` (the django-q2 task) also claims a run left `running` by a worker
    that died: django-q2 presents the task of a killed worker again, and that delivery should
    resume the run rather than find it "not queued" and leave it hanging.
    """
    claimed = _claim(run_id, reclaim_stale=reclaim_stale)
    run = SyncRun.objects.select_related(
        "namespace", "namespace__source_index", "namespace__target_index"
    ).get(pk=run_id)
    if not claimed:
        logger.info("run #%s is %s, not queued: nothing to do", run_id, run.status)
        return run

    sink = DjangoRunSink(run, observer)
    parts: RunParts | None = None
    outcome: tuple[str, str]
    with _Heartbeat(run.pk, run.attempt, settings.SYNC_HEARTBEAT_INTERVAL):
        try:
            if run.attempt > 1:
                # A resume: diffs of writes that happened stay; the rest are recomputed.
                RecordDiff.objects.filter(run=run).exclude(action__in=WRITTEN_ACTIONS).delete()
                writes = run.kind == RunKind.MIRROR and not run.dry_run
                sink.log(
                    "warning",
                    f"resuming {run} (attempt {run.attempt}): "
                    + (
                        "records written before are found in the ledger and not written or "
                        "embedded again"
                        if writes
                        else "it writes nothing, so it simply starts over"
                    ),
                )
            else:
                sink.log("info", f"{run} started ({run.get_trigger_display().lower()})")
            parts = build_run_parts(run)
            engine = MirrorEngine(
                parts.source,
                parts.target,
                parts.embedder,
                sink,
                DjangoLedger(run.namespace),
                parts.config,
            )
            result = engine.analyze() if run.kind == RunKind.ANALYZE else engine.mirror()
            sink._apply_stats(result.stats)
            run.orphan_sample = list(result.orphan_sample)
            if run.kind == RunKind.MIRROR and not run.dry_run and not result.cancelled:
                verification = engine.verify()
                run.verification = verification.to_dict()
                sink.log(
                    "info" if verification.in_sync else "warning",
                    "verification: source and target "
                    + ("agree" if verification.in_sync else "do not agree")
                    + f" (source {verification.source_count}, target "
                    f"{verification.target_count}, missing {verification.missing}, "
                    f"differing {verification.differing})",
                )
                # The verification pass reported its own progress; the run keeps the mirror's.
                sink._apply_stats(result.stats)
            outcome = (OUTCOME_STATUS[result.outcome], "")
        except RunTakenOver:
            logger.warning("run #%s was resumed or cancelled elsewhere; this worker stops", run.pk)
            return run
        except PreflightError as exc:
            outcome = (RunStatus.FAILED, f"Preflight failed: {exc}")
        except (EngineError, AdapterError) as exc:
            outcome = (RunStatus.FAILED, str(exc))
        except Exception as exc:
            logger.exception("run #%s crashed", run.pk)
            outcome = (RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
        except BaseException as exc:
            # django-q2's timeout is a SystemExit subclass; record it, then let it propagate.
            _finish(sink, RunStatus.FAILED, f"interrupted ({type(exc).__name__})")
            raise
        finally:
            if parts is not None:
                parts.close()
        _finish(sink, *outcome)
    return run
