"""Services that start, execute and cancel runs (analyses and mirrors).

The admin, the django-q2 task and the management commands all go through `sync_run_create` and
`sync_run_execute`. A run row is created first (queued), then executed; the runner guarantees
a final state whatever happens (NetBox `Job` style), and a run can only be claimed once.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
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
            f"(run #{active.pk}); wait for it to finish or cancel it."
        ) from None


def sync_run_cancel(*, run: SyncRun) -> SyncRun:
    """Ask a run to stop. A queued run is cancelled at once; a running one stops between
    batches, keeping what it wrote."""
    now = timezone.now()
    if SyncRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED, cancel_requested=True, finished_at=now, phase="cancelled"
    ):
        pass
    elif not SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        cancel_requested=True
    ):
        raise ServiceError(f"Run #{run.pk} has already finished ({run.get_status_display()}).")
    run.refresh_from_db()
    return run


# --- The Django side of the engine: result sink and ledger ---------------------------------


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
    may take milliseconds); `flush()` writes the final state.
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

    # Runner helpers
    def _apply_stats(self, stats: MirroringStats) -> None:
        values = stats.to_dict()
        for name in STAT_FIELDS:
            setattr(self.run, name, values.get(name, 0))

    def flush(self) -> None:
        self._last_save = time.monotonic()
        self.run.log = "\n".join(self.lines)
        self.run.heartbeat_at = timezone.now()
        self.run.save(
            update_fields=[
                *STAT_FIELDS,
                "phase",
                "progress_done",
                "progress_total",
                "log",
                "heartbeat_at",
            ]
        )

    def finish(self, status: str, *, error: str = "") -> None:
        self.run.status = status
        self.run.error = error
        self.run.finished_at = timezone.now()
        self.run.phase = "finished" if status != RunStatus.FAILED else "failed"
        self.log("error" if error else "info", f"run {status}" + (f": {error}" if error else ""))
        self.flush()
        self.run.save(
            update_fields=["status", "error", "finished_at", "orphan_sample", "verification"]
        )


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


def sync_run_execute(*, run_id: int, observer: RunObserver | None = None) -> SyncRun:
    """Claim a queued run and carry it out to a final state.

    Claiming is a conditional UPDATE, so a duplicated or retried task finds the run no longer
    queued and does nothing. Whatever happens inside, the run ends in a final status with the
    statistics reached so far; nothing the engine wrote is undone.
    """
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, phase="preflight"
    )
    run = SyncRun.objects.select_related(
        "namespace", "namespace__source_index", "namespace__target_index"
    ).get(pk=run_id)
    if not claimed:
        logger.info("run #%s is %s, not queued: nothing to do", run_id, run.status)
        return run

    sink = DjangoRunSink(run, observer)
    parts: RunParts | None = None
    try:
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
                + f" (source {verification.source_count}, target {verification.target_count}, "
                f"missing {verification.missing}, differing {verification.differing})",
            )
            # The verification pass reported its own progress; the run keeps the mirror's.
            sink._apply_stats(result.stats)
        sink.finish(OUTCOME_STATUS[result.outcome])
    except PreflightError as exc:
        sink.finish(RunStatus.FAILED, error=f"Preflight failed: {exc}")
    except (EngineError, AdapterError) as exc:
        sink.finish(RunStatus.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("run #%s crashed", run.pk)
        sink.finish(RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    except BaseException as exc:
        # django-q2's timeout is a SystemExit subclass; record it, then let it propagate.
        sink.finish(RunStatus.FAILED, error=f"interrupted ({type(exc).__name__})")
        raise
    finally:
        if parts is not None:
            parts.close()
    return run
