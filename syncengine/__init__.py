"""Pure-Python engine that mirrors a namespace of a read-only Pinecone index into another.

Imports nothing from Django or any SDK. The pieces the rest of the project supplies:

* adapters implementing ``SourceReader`` (source index: no write method exists),
  ``TargetStore`` and ``Embedder`` that translate SDK exceptions into ``TransientError``
  (429/5xx/timeouts, after their own retries) or ``PermanentError`` (4xx; set ``status`` so
  401/403/404 are recognised as "not this record's fault");
* a ``Ledger`` (table ``SyncedRecord``) and a ``ResultSink`` (SyncRun row, RecordDiff rows,
  run log). Both are called only from the thread that calls the engine.

Typical use from a service function::

    engine = MirrorEngine(source, target, embedder, sink, ledger, MirrorConfig(
        namespace=ns, clearance_level=settings.CLEARANCE_LEVEL, dry_run=dry_run))
    result = engine.mirror()          # RunResult: .outcome, .stats, .orphan_sample
    check = engine.verify()           # VerificationResult: .in_sync, counts, samples

``analyze()`` / ``mirror()`` return a ``RunResult`` whose ``outcome`` is ``succeeded``,
``completed_with_errors`` or ``cancelled``; an exception raised out of them means ``failed``
(the sink has already received the final statistics).
"""

from .batching import RejectedRecord, UpsertPlan, metadata_size, plan_upserts
from .compare import (
    canonical_metadata_hash,
    compare_metadata,
    extract_text,
    text_hash,
    values_equal,
)
from .config import MirrorConfig
from .engine import MirrorEngine
from .errors import AdapterError, EngineError, PermanentError, PreflightError, TransientError
from .merge import Side, batched, merge_join
from .stats import (
    DiffAction,
    DiffKind,
    DisplayValue,
    MirroringStats,
    RecordDiff,
    RunKind,
    RunOutcome,
    RunResult,
    VerificationResult,
    display_value,
)
from .types import (
    Embedder,
    Ledger,
    LedgerEntry,
    Record,
    ResultSink,
    SourceReader,
    TargetStore,
)

__all__ = [
    "AdapterError",
    "DiffAction",
    "DiffKind",
    "DisplayValue",
    "Embedder",
    "EngineError",
    "Ledger",
    "LedgerEntry",
    "MirrorConfig",
    "MirrorEngine",
    "MirroringStats",
    "PermanentError",
    "PreflightError",
    "Record",
    "RecordDiff",
    "RejectedRecord",
    "ResultSink",
    "RunKind",
    "RunOutcome",
    "RunResult",
    "Side",
    "SourceReader",
    "TargetStore",
    "TransientError",
    "UpsertPlan",
    "VerificationResult",
    "batched",
    "canonical_metadata_hash",
    "compare_metadata",
    "display_value",
    "extract_text",
    "merge_join",
    "metadata_size",
    "plan_upserts",
    "text_hash",
    "values_equal",
]
