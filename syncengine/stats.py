"""Result shapes of a run: counters, per-record diffs, run and verification results.

All of them turn into plain JSON-ready dicts (``to_dict``) so the Django layer can store them
in JSON fields without knowing the dataclasses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

__all__ = [
    "DiffAction",
    "DiffKind",
    "DisplayValue",
    "MirroringStats",
    "RecordDiff",
    "RunKind",
    "RunOutcome",
    "RunResult",
    "VerificationResult",
    "display_value",
]


@dataclass(slots=True)
class MirroringStats:
    """Counters of one run. The first eleven fields are the original plan's ``MirroringStats``.

    Invariants of a finished (not cancelled) real mirror run, which tests rely on::

        missing_in_target == successfully_migrated + already_migrated + failed_migration
                             + skipped (missing side) + vanished (missing side)
        matching_ids      == metadata_matches + metadata_differs + vanished (matching side)
                             + records whose fetch failed (counted in failed_update)
        metadata_differs  == successfully_updated + failed_update (compared ones)
                             + skipped (changed side) + already_migrated (changed side)

    In ``analyze`` and dry runs nothing is written, so the ``successfully_*`` counters stay 0:
    "would migrate" / "would update" are ``would_migrate`` / ``would_update``: the missing and
    differing records that have text and fit the metadata limit.
    ``failed_*`` there counts records certain to be rejected (metadata over 40 KB) or unreadable.
    """

    # The original plan's fields.
    total_source_vectors: int = 0  # IDs listed in the source
    total_target_vectors: int = 0  # IDs listed in the target (before this run's writes)
    missing_in_target: int = 0
    matching_ids: int = 0
    metadata_matches: int = 0
    metadata_differs: int = 0
    successfully_migrated: int = 0
    successfully_updated: int = 0
    failed_migration: int = 0
    failed_update: int = 0
    skipped_no_text: int = 0
    # Additions.
    orphaned_in_target: int = 0  # target only; counted, sampled, never touched
    embeddings_requested: int = 0  # texts sent to the embedder
    embedding_calls: int = 0  # embedder requests (attempts, including retries)
    vectors_reused: int = 0  # records written without embedding their text for them
    source_read_requests: int = 0  # list pages + fetches + count calls (attempts)
    target_read_requests: int = 0
    target_write_requests: int = 0  # upsert attempts
    records_written: int = 0
    # Listed as missing (or fetched with stale metadata) although the ledger shows this exact
    # content was written within the consistency window: Pinecone's reads lag, not rewritten.
    already_migrated: int = 0
    vanished: int = 0  # listed, then absent when fetched (deleted meanwhile / listing lag)
    # Analyses and dry runs: records a real mirror would write now (text present, metadata
    # within the size limit); the "would migrate" / "would update" of the plan's dry run.
    would_migrate: int = 0
    would_update: int = 0

    def add(self, other: MirroringStats) -> None:
        """Add ``other``'s counters to this one (workers return deltas; the coordinator adds)."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def copy(self) -> MirroringStats:
        return MirroringStats(**self.to_dict())

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def failed(self) -> int:
        return self.failed_migration + self.failed_update


class DiffKind(StrEnum):
    """Why a record appears in the diff list."""

    MISSING = "missing"  # in the source, not in the target
    CHANGED = "changed"  # in both, metadata differs
    SKIPPED_NO_TEXT = "skipped_no_text"  # needed a write but has no text to embed
    FAILED = "failed"  # needed a write, which failed (or certainly would)


class DiffAction(StrEnum):
    """What the run did about it."""

    CREATED = "created"
    UPDATED = "updated"  # re-embedded and replaced
    METADATA_ONLY = "metadata_only"  # replaced, keeping the target's vector (text unchanged)
    SKIPPED = "skipped"
    FAILED = "failed"
    NONE = "none"  # analysis or dry run: nothing done


class DisplayValue(TypedDict):
    """A metadata value prepared for display: possibly truncated, original length kept.

    ``value`` is the original value when it is short, otherwise a string cut to the display
    limit (the JSON text for non-strings). ``length`` is the length of the string, or of the
    JSON text for other types.
    """

    value: Any
    length: int
    truncated: bool


def display_value(value: Any, max_chars: int = 500) -> DisplayValue:
    """Prepare ``value`` for a diff row without storing 40 KB strings per changed record."""
    if isinstance(value, str):
        text = value
        if len(text) <= max_chars:
            return {"value": value, "length": len(text), "truncated": False}
    else:
        text = json.dumps(value, ensure_ascii=False, default=repr)
        if len(text) <= max_chars:
            return {"value": value, "length": len(text), "truncated": False}
    return {"value": text[:max_chars], "length": len(text), "truncated": True}


@dataclass(slots=True)
class RecordDiff:
    """One record's outcome. ``values`` maps each changed key to (source, target) display
    values; ``None`` on a side means the key is absent there."""

    record_id: str
    kind: DiffKind
    action: DiffAction
    changed_keys: list[str] = field(default_factory=list)
    values: dict[str, tuple[DisplayValue | None, DisplayValue | None]] = field(default_factory=dict)
    text_changed: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "kind": str(self.kind),
            "action": str(self.action),
            "changed_keys": list(self.changed_keys),
            "values": {k: [s, t] for k, (s, t) in self.values.items()},
            "text_changed": self.text_changed,
            "error": self.error,
        }


class RunKind(StrEnum):
    ANALYZE = "analyze"
    DRY_RUN = "dry_run"
    MIRROR = "mirror"
    VERIFY = "verify"


class RunOutcome(StrEnum):
    """How a run ended. ``FAILED`` is never returned by the engine: it is what the caller
    records when ``analyze``/``mirror``/``verify`` raised."""

    SUCCEEDED = "succeeded"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(slots=True)
class RunResult:
    """What ``MirrorEngine.analyze`` and ``MirrorEngine.mirror`` return."""

    kind: RunKind
    outcome: RunOutcome
    stats: MirroringStats
    orphan_sample: list[str]
    started_at: datetime
    finished_at: datetime

    @property
    def cancelled(self) -> bool:
        return self.outcome is RunOutcome.CANCELLED

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "outcome": str(self.outcome),
            "stats": self.stats.to_dict(),
            "orphan_sample": list(self.orphan_sample),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
        }


@dataclass(slots=True)
class VerificationResult:
    """Outcome of a read-only comparison pass (``MirrorEngine.verify``).

    ``in_sync`` is true when the pass completed and no record that mirroring could write is
    missing or differs. Records without text cannot be mirrored and are reported separately
    (``no_text``), as are orphans (ignored by design). ``not_yet_visible`` counts records the
    ledger shows as written with the source's current content while the target still lists or
    returns the old state (Pinecone is eventually consistent): they do not break ``in_sync``.
    ``unreadable`` counts records whose fetch failed: any makes ``in_sync`` false.
    """

    in_sync: bool
    source_count: int
    target_count: int
    missing: int
    differing: int
    orphans: int
    no_text: int
    not_yet_visible: int
    unreadable: int
    checked_at: datetime
    missing_sample: list[str] = field(default_factory=list)
    differing_sample: list[str] = field(default_factory=list)
    no_text_sample: list[str] = field(default_factory=list)
    orphan_sample: list[str] = field(default_factory=list)
    cancelled: bool = False

    @property
    def sample(self) -> list[str]:
        """Offending IDs (missing, then differing), for a short message."""
        return [*self.missing_sample, *self.differing_sample]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["checked_at"] = self.checked_at.isoformat()
        return out
