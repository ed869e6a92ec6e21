"""Run configuration and its preflight checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import PreflightError

__all__ = ["REEMBED_POLICIES", "MirrorConfig"]

REEMBED_POLICIES = ("text_changed", "always")

CLEARANCE_KEY = "clearance_level"


@dataclass(frozen=True, slots=True)
class MirrorConfig:
    """Everything that shapes a run. Defaults follow Pinecone's and Gemini's documented limits.

    ``reembed_policy``:
      * ``"text_changed"`` (default): an update whose text is unchanged keeps the target's own
        vector when it has the embedder's dimension (and, if the ledger knows the record, was
        made by the same model from the same text), and identical texts reuse vectors already
        in the target (ledger ``find_by_text_hash``). Metadata-only changes cost no embedding.
      * ``"always"``: every written record gets a vector embedded *in this run*; vectors from
        earlier runs are never reused. Identical texts within the run still share one call.

    ``clearance_level`` has no default on purpose: it is an access-control label, and guessing
    one (say ``"public"``) could expose records. ``mirror()`` refuses to start without it.
    """

    namespace: str = ""  # the namespace mirrored (same name on both sides); messages + body size
    source_name: str = "source"  # index names, for messages only
    target_name: str = "target"
    text_field: str = "text"
    managed_keys: tuple[str, ...] = (CLEARANCE_KEY,)
    clearance_level: Any = None
    batch_size: int = 100
    reembed_policy: str = "text_changed"
    dry_run: bool = False
    concurrency: int = 4
    max_in_flight: int | None = None  # batches in flight; None = 2 x concurrency
    upsert_max_records: int = 1000
    upsert_max_bytes: int = 2 * 1024 * 1024
    metadata_max_bytes: int = 40960
    orphan_sample_size: int = 20
    verify_sample_size: int = 20
    fetch_max: int = 1000
    embedding_cache_size: int = 256  # recent vectors kept for identical texts (24 KB each)
    retry_attempts: int = 3  # per operation, on top of the adapter's own retries
    retry_base_delay: float = 1.0
    retry_max_delay: float = 30.0
    abort_after_failed_batches: int = 5  # consecutive batches with writes attempted, none done
    consistency_window_seconds: float = 900.0  # how long a ledger entry outranks a listing
    diff_value_max_chars: int = 500
    list_prefetch_pages: int = 4  # pages listed ahead per index on a thread; 0 = no thread

    @property
    def in_flight_limit(self) -> int:
        return self.max_in_flight if self.max_in_flight is not None else 2 * self.concurrency

    def managed_defaults(self) -> dict[str, Any]:
        """Managed key values for a record the target does not have yet."""
        if self.clearance_level is None:
            return {}
        return {CLEARANCE_KEY: self.clearance_level}

    def validate(self) -> None:
        """Raise ``PreflightError`` naming the first setting that makes no sense."""
        _int_range("batch_size", self.batch_size, 1, 1000)
        _int_range("fetch_max", self.fetch_max, 1, 1000)
        _int_range("upsert_max_records", self.upsert_max_records, 1, 1000)
        _int_range("concurrency", self.concurrency, 1, 64)
        if self.max_in_flight is not None:
            _int_range("max_in_flight", self.max_in_flight, 1, 1024)
        _int_range("upsert_max_bytes", self.upsert_max_bytes, 1024, 2 * 1024 * 1024)
        _int_range("metadata_max_bytes", self.metadata_max_bytes, 1, 40960)
        _int_range("orphan_sample_size", self.orphan_sample_size, 0, 10_000)
        _int_range("verify_sample_size", self.verify_sample_size, 0, 10_000)
        _int_range("embedding_cache_size", self.embedding_cache_size, 0, 1_000_000)
        _int_range("retry_attempts", self.retry_attempts, 1, 20)
        _int_range("abort_after_failed_batches", self.abort_after_failed_batches, 0, 1_000_000)
        _int_range("diff_value_max_chars", self.diff_value_max_chars, 1, 1_000_000)
        _int_range("list_prefetch_pages", self.list_prefetch_pages, 0, 1000)
        for name in ("retry_base_delay", "retry_max_delay", "consistency_window_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise PreflightError(name, f"must be a number >= 0, got {value!r}")
        if not isinstance(self.text_field, str) or not self.text_field.strip():
            raise PreflightError("text_field", "must name the metadata key holding the text")
        if not isinstance(self.managed_keys, tuple) or not all(
            isinstance(k, str) and k for k in self.managed_keys
        ):
            raise PreflightError("managed_keys", "must be a tuple of non-empty key names")
        if CLEARANCE_KEY not in self.managed_keys:
            raise PreflightError(
                "managed_keys",
                f"must include {CLEARANCE_KEY!r}: the source never has it, so comparing it "
                "would report every record as changed",
            )
        if self.text_field in self.managed_keys:
            raise PreflightError(
                "managed_keys",
                f"contains the text field {self.text_field!r}; the text must come from the source",
            )
        if self.reembed_policy not in REEMBED_POLICIES:
            raise PreflightError(
                "reembed_policy",
                f"must be one of {', '.join(REEMBED_POLICIES)}, got {self.reembed_policy!r}",
            )
        if self.clearance_level is not None and not _valid_metadata_value(self.clearance_level):
            raise PreflightError(
                "clearance_level",
                "must be a string, number, boolean or list of strings (Pinecone metadata), "
                f"got {self.clearance_level!r}",
            )

    def validate_for_writing(self) -> None:
        """Extra checks for ``mirror()`` (real or dry run): values every new record needs."""
        self.validate()
        if self.clearance_level is None:
            raise PreflightError(
                "clearance_level",
                "is not set; every record written to the target needs one and there is no "
                "safe default",
            )


def _int_range(name: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise PreflightError(name, f"must be an integer from {low} to {high}, got {value!r}")


def _valid_metadata_value(value: Any) -> bool:
    if isinstance(value, (str, bool)):
        return True
    if isinstance(value, (int, float)):
        return value == value  # not NaN
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    return False
