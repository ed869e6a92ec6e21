"""The mirroring engine: classify, migrate missing records, update changed ones, verify.

How a run flows (``analyze``, ``mirror`` and ``verify`` share it):

1. The **coordinating thread** (the caller's) merge-joins the two ID listings (each read ahead
   on a thread of its own) and cuts the stream into batches of ``batch_size`` IDs, missing
   and matching IDs in separate batches. Orphans are only counted and sampled.
2. **Stage 1** (worker thread): fetch the batch from the source (and the target for matching
   IDs), classify each record, and plan the writes: new metadata, text, hashes.
3. Back on the coordinating thread: consult the **ledger** (eventual-consistency guard, model
   check, vectors to reuse) and **lease** the text hashes from the run's ``VectorCache``.
4. **Stage 2** (worker thread): obtain vectors (reused, awaited from another batch, or
   embedded), pack them into size-limited upserts and write them, isolating bad records.
5. Coordinating thread: record written entries in the ledger, report diffs and progress.

Missing and changed records are handled in **one pass** over the listings rather than the
plan's Phase A then Phase B. Two passes would list both namespaces twice (10 M IDs = 100,000
list requests per pass and index) and, worse, the second listing of the target would already
show records written by Phase A, counting them as "matching" (or, with listing lag, not),
so the statistics would depend on timing. In one pass every ID is classified exactly once, by
one consistent walk; a missing ID is only written after the target listing has moved past it,
so this run's writes never reappear in its own listing.

Memory is bounded by ``batch_size x max_in_flight`` records plus a few listing pages and the
LRU of vectors, whatever the namespace size: no set or list of all IDs is ever built.

Only the coordinating thread calls the ``ResultSink`` and the ``Ledger`` (see ``types``);
workers return their statistics as deltas, so counters need no locks.
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .batching import check_metadata_size, plan_upserts
from .compare import (
    canonical_metadata_hash,
    compare_metadata,
    diff_values,
    extract_text,
    text_hash,
)
from .config import MirrorConfig
from .errors import AdapterError, EngineError, PermanentError, PreflightError, TransientError
from .merge import Side, batched, merge_join
from .prefetch import Prefetcher
from .retry import call_with_retry
from .stats import (
    DiffAction,
    DiffKind,
    MirroringStats,
    RecordDiff,
    RunKind,
    RunOutcome,
    RunResult,
    VerificationResult,
)
from .types import Embedder, Ledger, LedgerEntry, Record, ResultSink, SourceReader, TargetStore
from .vectors import Lease, VectorCache, compact

__all__ = ["MirrorEngine"]


# A PermanentError with one of these statuses is about the request's credentials or address,
# not about a record in it: splitting the batch to find "the bad record" would only multiply
# failing requests.
_SERVICE_STATUSES = frozenset({401, 403, 404})


def _is_service_failure(error: AdapterError) -> bool:
    return isinstance(error, TransientError) or error.status in _SERVICE_STATUSES


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Batch:
    seq: int
    side: Side
    ids: list[str]


@dataclass(slots=True)
class _Plan:
    """One record that needs writing, as decided in stage 1."""

    record_id: str
    side: Side
    metadata: dict[str, Any]  # complete new metadata, managed keys included
    metadata_hash: str  # of the source metadata, managed keys excluded
    text: str
    text_hash: str
    diff: RecordDiff
    own_vector: array[float] | None = None  # target's vector, reusable (metadata-only update)


@dataclass(slots=True)
class _Prepared:
    """Stage 1 result. ``stats`` is a delta for this batch only."""

    batch: _Batch
    stats: MirroringStats = field(default_factory=MirroringStats)
    diffs: list[RecordDiff] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    plans: list[_Plan] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)  # need a create (have text)
    differing_ids: list[str] = field(default_factory=list)  # need an update (have text)
    no_text_ids: list[str] = field(default_factory=list)
    unreadable: int = 0
    service_error: str | None = None  # the batch could not be read at all


@dataclass(slots=True)
class _Written:
    """Stage 2 result. ``stats`` is a delta for this batch only."""

    batch: _Batch
    stats: MirroringStats = field(default_factory=MirroringStats)
    diffs: list[RecordDiff] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)  # text hashes this batch had to produce
    attempted: int = 0
    written: int = 0
    service_error: str | None = None  # a failure not attributable to a record (outage, auth)


@dataclass(slots=True)
class _VerifyCounts:
    missing: int = 0
    differing: int = 0
    no_text: int = 0
    not_yet_visible: int = 0
    unreadable: int = 0
    missing_sample: list[str] = field(default_factory=list)
    differing_sample: list[str] = field(default_factory=list)
    no_text_sample: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _RunState:
    kind: RunKind
    started_at: datetime
    total: int | None = None
    stats: MirroringStats = field(default_factory=MirroringStats)
    orphan_sample: list[str] = field(default_factory=list)
    done: int = 0
    cancelled: bool = False
    error: BaseException | None = None
    failed_reads: int = 0  # consecutive batches that could not be read
    failed_writes: int = 0  # consecutive batches whose writes all failed for a service reason
    verify: _VerifyCounts = field(default_factory=_VerifyCounts)

    @property
    def stopping(self) -> bool:
        return self.cancelled or self.error is not None


class MirrorEngine:
    """Mirror one namespace of a read-only source index into a target index.

    ``embedder`` may be ``None`` for ``analyze``, ``verify`` and dry runs, which never embed.
    ``clock`` returns the tz-aware UTC time stamped on ledger entries (tests inject one).
    An engine instance runs one operation at a time; build a new one per run.
    """

    def __init__(
        self,
        source: SourceReader,
        target: TargetStore,
        embedder: Embedder | None,
        sink: ResultSink,
        ledger: Ledger,
        config: MirrorConfig,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        config.validate()
        self.source = source
        self.target = target
        self.embedder = embedder
        self.sink = sink
        self.ledger = ledger
        self.config = config
        self._clock = clock
        self._managed = frozenset(config.managed_keys)
        self._defaults = config.managed_defaults()
        self._cache = VectorCache(config.embedding_cache_size)

    # ------------------------------------------------------------------ public API

    def analyze(self) -> RunResult:
        """Read-only classification with diffs; never writes, never calls the embedder."""
        return self._result(self._run(RunKind.ANALYZE))

    def mirror(self) -> RunResult:
        """Migrate missing and update changed records (or, with ``dry_run``, only report).

        Raises ``PreflightError`` before any request when the configuration cannot work, and
        re-raises any non-adapter exception (after finishing the batches in flight and saving
        their results) or an ``EngineError`` (corrupted listing, too many failed batches).
        """
        self.config.validate_for_writing()
        if self.config.dry_run:
            return self._result(self._run(RunKind.DRY_RUN))
        embedder = self.embedder
        if embedder is None:
            raise PreflightError("embedder", "mirroring needs an embedder (only dry runs don't)")
        if not isinstance(embedder.max_batch, int) or embedder.max_batch < 1:
            raise PreflightError("embedder.max_batch", f"must be >= 1, got {embedder.max_batch!r}")
        if not isinstance(embedder.dimension, int) or embedder.dimension < 1:
            raise PreflightError("embedder.dimension", f"must be >= 1, got {embedder.dimension!r}")
        return self._result(self._run(RunKind.MIRROR))

    def verify(self) -> VerificationResult:
        """Read-only pass telling whether the target now mirrors the source.

        Run it after a real mirror. Records without text (which mirroring cannot write) and
        orphans are reported but do not make the namespaces "out of sync".
        """
        state = self._run(RunKind.VERIFY)
        v = state.verify
        return VerificationResult(
            in_sync=not state.cancelled
            and v.missing == 0
            and v.differing == 0
            and v.unreadable == 0,
            source_count=state.stats.total_source_vectors,
            target_count=state.stats.total_target_vectors,
            missing=v.missing,
            differing=v.differing,
            orphans=state.stats.orphaned_in_target,
            no_text=v.no_text,
            not_yet_visible=v.not_yet_visible,
            unreadable=v.unreadable,
            checked_at=self._clock(),
            missing_sample=v.missing_sample,
            differing_sample=v.differing_sample,
            no_text_sample=v.no_text_sample,
            orphan_sample=state.orphan_sample,
            cancelled=state.cancelled,
        )

    # ------------------------------------------------------------------ coordination

    def _result(self, state: _RunState) -> RunResult:
        if state.cancelled:
            outcome = RunOutcome.CANCELLED
        elif state.stats.failed:
            outcome = RunOutcome.COMPLETED_WITH_ERRORS
        else:
            outcome = RunOutcome.SUCCEEDED
        return RunResult(
            kind=state.kind,
            outcome=outcome,
            stats=state.stats,
            orphan_sample=state.orphan_sample,
            started_at=state.started_at,
            finished_at=self._clock(),
        )

    def _run(self, kind: RunKind) -> _RunState:
        state = _RunState(kind=kind, started_at=self._clock())
        state.total = self._source_count(state)
        self.sink.phase(str(kind), state.total)
        self.sink.log(
            "info",
            f"{kind}: namespace {self.config.namespace!r}, {self.config.source_name} -> "
            f"{self.config.target_name}, batch size {self.config.batch_size}, "
            f"{self.config.concurrency} workers"
            + (f", about {state.total} source records" if state.total is not None else ""),
        )
        executor = ThreadPoolExecutor(
            max_workers=self.config.concurrency, thread_name_prefix=f"syncengine-{kind}"
        )
        in_flight: dict[Future[Any], _Batch] = {}
        stream = self._batch_stream(state)
        orderly = False
        try:
            exhausted = False
            while True:
                while not state.stopping and not exhausted:
                    if len(in_flight) >= self.config.in_flight_limit:
                        break
                    if self.sink.cancelled():
                        self._cancel(state)
                        break
                    try:
                        batch = next(stream)
                    except StopIteration:
                        exhausted = True
                        break
                    except Exception as error:  # listing failed or out of order
                        self._fail(state, error)
                        break
                    in_flight[executor.submit(self._prepare, batch, kind)] = batch
                if not in_flight:
                    break
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: in_flight[f].seq):
                    in_flight.pop(future)
                    try:
                        outcome = future.result()
                    except Exception as error:  # a bug or crash in a worker: stop the run
                        self._fail(state, error)
                        continue
                    if isinstance(outcome, _Prepared):
                        self._after_prepare(outcome, state, executor, in_flight)
                    else:
                        self._after_write(outcome, state)
                if not state.stopping and self.sink.cancelled():
                    self._cancel(state)
            orderly = True
        finally:
            stream.close()
            if orderly:
                executor.shutdown(wait=True)
            else:
                # KeyboardInterrupt, SystemExit (django-q2 timeout), a sink/ledger failure:
                # leave at once, but make sure no worker waits forever on a vector.
                self._cache.abandon_all(EngineError("run aborted"))
                executor.shutdown(wait=False, cancel_futures=True)
        self._finish(state)
        if state.error is not None:
            raise state.error
        return state

    def _cancel(self, state: _RunState) -> None:
        state.cancelled = True
        self.sink.log("warning", "cancel requested: finishing the batches being written")

    def _fail(self, state: _RunState, error: BaseException) -> None:
        if state.error is None:
            state.error = error
            self.sink.log(
                "error",
                f"stopping: {type(error).__name__}: {error}; finishing the batches in flight",
            )

    def _finish(self, state: _RunState) -> None:
        s = state.stats
        self.sink.progress(s.copy(), state.done, state.total)
        if s.vanished:
            self.sink.log(
                "warning",
                f"{s.vanished} listed records were absent when fetched (deleted meanwhile or "
                "listing lag); the next run will pick up any that reappear",
            )
        if s.already_migrated:
            self.sink.log(
                "info",
                f"{s.already_migrated} records the target did not show (yet) were already written "
                "with the same content (ledger); target reads lag, so they were not rewritten",
            )
        if s.orphaned_in_target:
            self.sink.log(
                "info",
                f"{s.orphaned_in_target} records exist only in the target; left untouched "
                f"(sample: {', '.join(state.orphan_sample[:5])})",
            )
        ending = "cancelled" if state.cancelled else ("failed" if state.error else "finished")
        self.sink.log(
            "error" if state.error else "info",
            f"{state.kind} {ending}: {s.total_source_vectors} source / "
            f"{s.total_target_vectors} target IDs; missing {s.missing_in_target}, matching "
            f"{s.matching_ids} (equal {s.metadata_matches}, differ {s.metadata_differs}), "
            f"orphans {s.orphaned_in_target}; migrated {s.successfully_migrated}, updated "
            f"{s.successfully_updated}, failed {s.failed_migration}+{s.failed_update}, "
            f"skipped (no text) {s.skipped_no_text}; {s.embeddings_requested} texts embedded in "
            f"{s.embedding_calls} calls, {s.vectors_reused} vectors reused, "
            f"{s.records_written} records written",
        )

    def _source_count(self, state: _RunState) -> int | None:
        state.stats.source_read_requests += 1
        try:
            return self.source.count()
        except AdapterError as error:
            self.sink.log("warning", f"could not count source records ({error}); no ETA")
            return None

    def _listing(
        self, store: SourceReader, label: str, state: _RunState
    ) -> Generator[list[str], None, None]:
        """The ID pages of ``store``, counted as read requests (on the coordinating thread)."""
        depth = self.config.list_prefetch_pages
        pages: Iterator[list[str]]
        if depth:
            pages = Prefetcher(store.list_id_pages, depth=depth, name=f"syncengine-list-{label}")
        else:
            pages = store.list_id_pages()
        try:
            for page in pages:
                if label == "source":
                    state.stats.source_read_requests += 1
                else:
                    state.stats.target_read_requests += 1
                yield page
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def _batch_stream(self, state: _RunState) -> Generator[_Batch, None, None]:
        """Batches of missing and of matching IDs, in listing order; counts listed IDs."""
        size = self.config.batch_size
        stats = state.stats
        source_pages = self._listing(self.source, "source", state)
        target_pages = self._listing(self.target, "target", state)
        buffers: dict[Side, list[str]] = {Side.MISSING: [], Side.MATCHING: []}
        seq = 0
        try:
            for record_id, side in merge_join(
                source_pages,
                target_pages,
                source_label=f"{self.config.source_name} ({self.config.namespace!r})",
                target_label=f"{self.config.target_name} ({self.config.namespace!r})",
            ):
                if side is Side.ORPHAN:
                    stats.total_target_vectors += 1
                    stats.orphaned_in_target += 1
                    if len(state.orphan_sample) < self.config.orphan_sample_size:
                        state.orphan_sample.append(record_id)
                    continue
                stats.total_source_vectors += 1
                if side is Side.MATCHING:
                    stats.total_target_vectors += 1
                buffer = buffers[side]
                buffer.append(record_id)
                if len(buffer) >= size:
                    buffers[side] = []
                    yield _Batch(seq, side, buffer)
                    seq += 1
            for side in (Side.MISSING, Side.MATCHING):
                if buffers[side]:
                    yield _Batch(seq, side, buffers[side])
                    seq += 1
        finally:
            source_pages.close()
            target_pages.close()

    def _report(self, logs: Iterable[tuple[str, str]]) -> None:
        for level, message in logs:
            self.sink.log(level, message)

    def _after_prepare(
        self,
        prepared: _Prepared,
        state: _RunState,
        executor: ThreadPoolExecutor,
        in_flight: dict[Future[Any], _Batch],
    ) -> None:
        state.stats.add(prepared.stats)
        self._report(prepared.logs)
        if prepared.service_error is not None:
            state.failed_reads += 1
            self._check_health(state, state.failed_reads, prepared.service_error)
        else:
            state.failed_reads = 0
        kind = state.kind
        if kind is RunKind.VERIFY:
            self._verify_batch(prepared, state)
        elif kind is RunKind.MIRROR:
            if prepared.plans and not state.stopping:
                plans, lease, donors = self._plan_writes(prepared, state)
                if plans:
                    if prepared.diffs:
                        self.sink.diffs(prepared.diffs)
                    future = executor.submit(self._write, prepared.batch, plans, lease, donors)
                    in_flight[future] = prepared.batch
                    return  # progress is reported when the writes are done
        else:
            prepared.diffs.extend(plan.diff for plan in prepared.plans)
        if prepared.diffs and kind is not RunKind.VERIFY:
            self.sink.diffs(prepared.diffs)
        state.done += len(prepared.batch.ids)
        self.sink.progress(state.stats.copy(), state.done, state.total)

    def _after_write(self, written: _Written, state: _RunState) -> None:
        # Ledger first: if the sink then fails, the writes are still remembered.
        if written.entries:
            self.ledger.record(written.entries)
        self._cache.release(written.claims)
        state.stats.add(written.stats)
        self._report(written.logs)
        if written.diffs:
            self.sink.diffs(written.diffs)
        state.done += len(written.batch.ids)
        self.sink.progress(state.stats.copy(), state.done, state.total)
        if written.written:
            state.failed_writes = 0
        elif written.service_error is not None:
            state.failed_writes += 1
            self._check_health(state, state.failed_writes, written.service_error)

    def _check_health(self, state: _RunState, consecutive: int, last_error: str) -> None:
        """Stop a run that cannot make progress (service down, bad credentials).

        Only failures that are not a record's fault count, so a run over sparse bad records
        is never aborted; a successful read (or write) resets its counter.
        """
        limit = self.config.abort_after_failed_batches
        if limit and consecutive >= limit:
            self._fail(
                state,
                EngineError(
                    f"{consecutive} consecutive batches failed entirely (last error: "
                    f"{last_error}); aborting instead of going through the rest of the "
                    "namespace for nothing"
                ),
            )

    def _ledger_confirms(self, entry: LedgerEntry, plan: _Plan, *, check_model: bool) -> bool:
        """Does ``entry`` prove this exact content was written recently?

        Within ``consistency_window_seconds`` of a write, Pinecone may not list or return the
        record yet, so the ledger outranks the listing. After the window the listing is
        trusted again, so a record deleted from the target by someone else is re-created
        instead of being believed present forever.
        """
        if entry.metadata_hash != plan.metadata_hash or entry.text_hash != plan.text_hash:
            return False
        if (
            check_model
            and self.embedder is not None
            and (entry.model, entry.dimension) != (self.embedder.model, self.embedder.dimension)
        ):
            return False
        written_at = entry.written_at
        if written_at.tzinfo is None:
            written_at = written_at.replace(tzinfo=UTC)
        age = self._clock() - written_at
        return age <= timedelta(seconds=self.config.consistency_window_seconds)

    def _plan_writes(
        self, prepared: _Prepared, state: _RunState
    ) -> tuple[list[_Plan], Lease, dict[str, str]]:
        """Coordinator step between the stages: ledger checks, vector leases, reuse donors."""
        embedder = self.embedder
        assert embedder is not None  # mirror() checked
        entries = self.ledger.get([plan.record_id for plan in prepared.plans])
        keep: list[_Plan] = []
        confirmed = 0
        for plan in prepared.plans:
            entry = entries.get(plan.record_id)
            if entry is not None and self._ledger_confirms(entry, plan, check_model=True):
                # Eventual-consistency guard: a previous run (or a batch moments ago) wrote
                # exactly this content; the target's listing (missing) or fetch (stale metadata)
                # just does not show it yet. Rewriting would cost an embedding and a write and
                # change nothing.
                confirmed += 1
                continue
            if (
                plan.own_vector is not None
                and entry is not None
                and (
                    entry.model != embedder.model
                    or entry.dimension != embedder.dimension
                    or entry.text_hash != plan.text_hash
                )
            ):
                plan.own_vector = None  # that vector came from another model or text
            keep.append(plan)
        if confirmed:
            state.stats.already_migrated += confirmed
            self.sink.log(
                "debug",
                f"{confirmed} records already written per the ledger (target reads lag)",
            )
        lease = self._cache.lease(plan.text_hash for plan in keep if plan.own_vector is None)
        donors: dict[str, str] = {}
        if lease.claims and self.config.reembed_policy == "text_changed":
            donors = self.ledger.find_by_text_hash(lease.claims, embedder.model, embedder.dimension)
        return keep, lease, donors

    def _verify_batch(self, prepared: _Prepared, state: _RunState) -> None:
        v = state.verify
        sample = self.config.verify_sample_size
        v.unreadable += prepared.unreadable
        v.no_text += len(prepared.no_text_ids)
        v.no_text_sample.extend(prepared.no_text_ids[: max(0, sample - len(v.no_text_sample))])
        plans = {plan.record_id: plan for plan in prepared.plans}
        entries = self.ledger.get(list(plans)) if plans else {}

        def confirmed(record_id: str) -> bool:
            plan, entry = plans.get(record_id), entries.get(record_id)
            return (
                plan is not None
                and entry is not None
                and self._ledger_confirms(entry, plan, check_model=False)
            )

        for record_id in prepared.missing_ids:
            if confirmed(record_id):
                v.not_yet_visible += 1
            else:
                v.missing += 1
                if len(v.missing_sample) < sample:
                    v.missing_sample.append(record_id)
        for record_id in prepared.differing_ids:
            if confirmed(record_id):
                v.not_yet_visible += 1
            else:
                v.differing += 1
                if len(v.differing_sample) < sample:
                    v.differing_sample.append(record_id)

    # ------------------------------------------------------------------ stage 1 (worker)

    def _fetch(
        self, store: SourceReader, ids: Sequence[str], label: str, out: _Prepared | _Written
    ) -> dict[str, Record]:
        records: dict[str, Record] = {}
        is_source = label == "source"

        def count() -> None:
            if is_source:
                out.stats.source_read_requests += 1
            else:
                out.stats.target_read_requests += 1

        def note_retry(attempt: int, error: TransientError) -> None:
            out.logs.append(
                (
                    "warning",
                    f"{label} fetch of {len(ids)} IDs failed (attempt {attempt}/"
                    f"{self.config.retry_attempts}): {error}; retrying",
                )
            )

        for chunk in batched(ids, self.config.fetch_max):
            records.update(
                call_with_retry(
                    functools.partial(store.fetch, chunk),
                    attempts=self.config.retry_attempts,
                    base_delay=self.config.retry_base_delay,
                    max_delay=self.config.retry_max_delay,
                    on_attempt=count,
                    on_retry=note_retry,
                )
            )
        return records

    def _new_metadata(
        self, source: Mapping[str, Any], target: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Source metadata plus managed keys: the target's values if it has them, else defaults.

        Managed keys present in the source (it should never have them) are overridden: they
        belong to the target side, and comparison ignores them anyway.
        """
        metadata = {k: v for k, v in source.items() if k not in self._managed}
        for key in self.config.managed_keys:
            if target is not None and key in target:
                metadata[key] = target[key]
            elif key in self._defaults:
                metadata[key] = self._defaults[key]
        return metadata

    def _prepare(self, batch: _Batch, kind: RunKind) -> _Prepared:
        out = _Prepared(batch=batch)
        stats = out.stats
        ids = batch.ids
        writing = kind is RunKind.MIRROR
        if batch.side is Side.MISSING:
            stats.missing_in_target += len(ids)
        else:
            stats.matching_ids += len(ids)
        try:
            sources = self._fetch(self.source, ids, "source", out)
            targets = (
                self._fetch(self.target, ids, "target", out) if batch.side is Side.MATCHING else {}
            )
        except AdapterError as error:
            self._unreadable(out, error)
            return out
        vanished: list[str] = []
        for record_id in ids:
            source = sources.get(record_id)
            if source is None:
                vanished.append(record_id)
                continue
            if batch.side is Side.MISSING:
                self._classify_missing(out, source, writing)
            else:
                target = targets.get(record_id)
                if target is None:
                    vanished.append(record_id)
                    continue
                self._classify_matching(out, source, target, writing)
        if vanished:
            stats.vanished += len(vanished)
            out.logs.append(
                (
                    "warning",
                    f"{len(vanished)} listed IDs were absent when fetched: "
                    f"{', '.join(vanished[:5])}{' ...' if len(vanished) > 5 else ''}",
                )
            )
        return out

    def _unreadable(self, out: _Prepared, error: AdapterError) -> None:
        """The batch could not be fetched even after retries: its records fail, the run goes on."""
        missing = out.batch.side is Side.MISSING
        out.unreadable += len(out.batch.ids)
        if missing:
            out.stats.failed_migration += len(out.batch.ids)
        else:
            out.stats.failed_update += len(out.batch.ids)
        kind = "permanently" if isinstance(error, PermanentError) else "after retries"
        out.service_error = f"fetch failed {kind}: {error}"
        out.logs.append(("error", f"fetch of {len(out.batch.ids)} records failed {kind}: {error}"))
        for record_id in out.batch.ids:
            out.diffs.append(
                RecordDiff(
                    record_id=record_id,
                    kind=DiffKind.FAILED,
                    action=DiffAction.FAILED,
                    error=f"record {record_id!r}: could not be fetched for comparison: {error}",
                )
            )

    def _classify_missing(self, out: _Prepared, source: Record, writing: bool) -> None:
        record_id = source.id
        text = extract_text(source.metadata, self.config.text_field)
        if text is None:
            out.stats.skipped_no_text += 1
            out.no_text_ids.append(record_id)
            out.diffs.append(
                RecordDiff(
                    record_id=record_id,
                    kind=DiffKind.SKIPPED_NO_TEXT,
                    action=DiffAction.SKIPPED if writing else DiffAction.NONE,
                    error=f"no text in metadata field {self.config.text_field!r}",
                )
            )
            return
        out.missing_ids.append(record_id)
        metadata = self._new_metadata(source.metadata, None)
        too_big = check_metadata_size(record_id, metadata, self.config.metadata_max_bytes)
        if too_big is not None:
            out.stats.failed_migration += 1
            out.diffs.append(
                RecordDiff(
                    record_id=record_id,
                    kind=DiffKind.FAILED,
                    action=DiffAction.FAILED if writing else DiffAction.NONE,
                    error=too_big,
                )
            )
            return
        if not writing:
            out.stats.would_migrate += 1
        out.plans.append(
            _Plan(
                record_id=record_id,
                side=Side.MISSING,
                metadata=metadata,
                metadata_hash=canonical_metadata_hash(source.metadata, self._managed),
                text=text,
                text_hash=text_hash(text),
                diff=RecordDiff(record_id=record_id, kind=DiffKind.MISSING, action=DiffAction.NONE),
            )
        )

    def _classify_matching(
        self, out: _Prepared, source: Record, target: Record, writing: bool
    ) -> None:
        record_id = source.id
        changed = compare_metadata(source.metadata, target.metadata, self._managed)
        if not changed:
            out.stats.metadata_matches += 1
            return
        out.stats.metadata_differs += 1
        text = extract_text(source.metadata, self.config.text_field)
        old_text = extract_text(target.metadata, self.config.text_field)
        text_changed = text != old_text
        values = diff_values(
            source.metadata, target.metadata, changed, self.config.diff_value_max_chars
        )
        if text is None:
            # The source lost its text: writing the new metadata with the old vector would
            # leave a vector that no longer describes the record, so skip and report.
            out.stats.skipped_no_text += 1
            out.no_text_ids.append(record_id)
            out.diffs.append(
                RecordDiff(
                    record_id=record_id,
                    kind=DiffKind.SKIPPED_NO_TEXT,
                    action=DiffAction.SKIPPED if writing else DiffAction.NONE,
                    changed_keys=changed,
                    values=values,
                    text_changed=text_changed,
                    error=f"no text in metadata field {self.config.text_field!r}",
                )
            )
            return
        out.differing_ids.append(record_id)
        metadata = self._new_metadata(source.metadata, target.metadata)
        too_big = check_metadata_size(record_id, metadata, self.config.metadata_max_bytes)
        if too_big is not None:
            out.stats.failed_update += 1
            out.diffs.append(
                RecordDiff(
                    record_id=record_id,
                    kind=DiffKind.FAILED,
                    action=DiffAction.FAILED if writing else DiffAction.NONE,
                    changed_keys=changed,
                    values=values,
                    text_changed=text_changed,
                    error=too_big,
                )
            )
            return
        own_vector = None
        if (
            writing
            and self.config.reembed_policy == "text_changed"
            and not text_changed
            and self.embedder is not None
            and target.values is not None
            and len(target.values) == self.embedder.dimension
        ):
            own_vector = compact(target.values)
        if not writing:
            out.stats.would_update += 1
        out.plans.append(
            _Plan(
                record_id=record_id,
                side=Side.MATCHING,
                metadata=metadata,
                metadata_hash=canonical_metadata_hash(source.metadata, self._managed),
                text=text,
                text_hash=text_hash(text),
                diff=RecordDiff(
                    record_id=record_id,
                    kind=DiffKind.CHANGED,
                    action=DiffAction.NONE,
                    changed_keys=changed,
                    values=values,
                    text_changed=text_changed,
                ),
                own_vector=own_vector,
            )
        )

    # ------------------------------------------------------------------ stage 2 (worker)

    def _write(
        self, batch: _Batch, plans: list[_Plan], lease: Lease, donors: dict[str, str]
    ) -> _Written:
        out = _Written(batch=batch, claims=list(lease.claims), attempted=len(plans))
        vectors, fresh, errors = self._obtain_vectors(plans, lease, donors, out)
        fresh_used: set[str] = set()
        by_id: dict[str, tuple[_Plan, bool]] = {}
        records: list[Record] = []
        for plan in plans:
            if plan.own_vector is not None:
                vector: array[float] | None = plan.own_vector
                reused = True
            else:
                vector = vectors.get(plan.text_hash)
                if vector is None:
                    reason = errors.get(plan.text_hash, "no vector was obtained")
                    self._record_failure(out, plan, f"record {plan.record_id!r}: {reason}")
                    continue
                # The first record of a text embedded by this batch is the "fresh" one; others
                # sharing it (and all cache/ledger hits) count as reused.
                reused = plan.text_hash not in fresh or plan.text_hash in fresh_used
                fresh_used.add(plan.text_hash)
            by_id[plan.record_id] = (plan, reused)
            records.append(Record(plan.record_id, vector, plan.metadata))
        upserts = plan_upserts(
            records,
            namespace=self.config.namespace,
            max_records=self.config.upsert_max_records,
            max_bytes=self.config.upsert_max_bytes,
            metadata_max_bytes=self.config.metadata_max_bytes,
        )
        for rejected in upserts.rejected:
            self._record_failure(out, by_id[rejected.record_id][0], rejected.reason)
        written_at = self._clock()
        for chunk in upserts.batches:
            ok, failed = self._upsert_isolating(chunk, out)
            for record in ok:
                plan, reused = by_id[record.id]
                self._record_success(out, plan, reused, written_at)
            for record, reason in failed:
                self._record_failure(out, by_id[record.id][0], reason)
        return out

    def _obtain_vectors(
        self, plans: list[_Plan], lease: Lease, donors: dict[str, str], out: _Written
    ) -> tuple[dict[str, array[float]], set[str], dict[str, str]]:
        """Vectors for every leased hash: hits, donors' vectors, fresh embeddings, awaited ones.

        Returns (vectors by text hash, hashes embedded here, error message by text hash).
        Every claim of the lease is fulfilled or abandoned before returning or raising, so no
        other batch can be left waiting.
        """
        embedder = self.embedder
        assert embedder is not None
        vectors: dict[str, array[float]] = dict(lease.hits)
        fresh: set[str] = set()
        errors: dict[str, str] = {}
        unresolved = set(lease.claims)
        texts = {plan.text_hash: plan.text for plan in plans}
        try:
            if donors:
                for h, vector in self._donor_vectors(donors, out).items():
                    if h in unresolved:
                        vectors[h] = vector
                        self._cache.fulfil(h, vector)
                        unresolved.discard(h)
            to_embed = [h for h in lease.claims if h in unresolved]
            for chunk in batched(to_embed, embedder.max_batch):
                self._embed_isolating(chunk, texts, vectors, fresh, errors, out)
                unresolved.difference_update(chunk)
            for h, future in lease.waits.items():
                try:
                    vectors[h] = future.result()
                except Exception as error:  # becomes a per-record failure, see the owner's error
                    errors[h] = f"embedding of the same text in another batch failed: {error}"
        finally:
            for h in unresolved:
                self._cache.abandon(h, EngineError("the batch embedding this text stopped"))
        return vectors, fresh, errors

    def _donor_vectors(self, donors: dict[str, str], out: _Written) -> dict[str, array[float]]:
        """Vectors of target records the ledger says were embedded from the same texts.

        Each is checked before reuse: present, of the right dimension, and its metadata still
        holds a text with the same hash (the ledger may be stale). Any doubt -> embed instead.
        """
        embedder = self.embedder
        assert embedder is not None
        by_record: dict[str, list[str]] = {}
        for h, record_id in donors.items():
            by_record.setdefault(record_id, []).append(h)
        try:
            fetched = self._fetch(self.target, list(by_record), "target", out)
        except AdapterError as error:
            out.logs.append(("warning", f"could not fetch vectors to reuse ({error}); embedding"))
            return {}
        found: dict[str, array[float]] = {}
        for record_id, hashes in by_record.items():
            record = fetched.get(record_id)
            if record is None or record.values is None:
                continue
            if len(record.values) != embedder.dimension:
                continue
            text = extract_text(record.metadata, self.config.text_field)
            if text is None:
                continue
            vector = compact(record.values)
            for h in hashes:
                if text_hash(text) == h:
                    found[h] = vector
        return found

    def _embed_isolating(
        self,
        chunk: list[str],
        texts: dict[str, str],
        vectors: dict[str, array[float]],
        fresh: set[str],
        errors: dict[str, str],
        out: _Written,
    ) -> None:
        """Embed the texts of ``chunk`` (text hashes) and fulfil or abandon every one of them.

        A permanent rejection of a call with several texts (a text the model refuses, a wrong
        number of vectors back) is bisected like an upsert, so one bad text does not fail up to
        99 neighbours on every run. Transient exhaustion and auth-type failures are not: they
        are not a text's fault.
        """
        embedder = self.embedder
        assert embedder is not None
        batch_texts = [texts[h] for h in chunk]

        def count() -> None:
            out.stats.embedding_calls += 1
            out.stats.embeddings_requested += len(batch_texts)

        def note_retry(attempt: int, error: TransientError) -> None:
            out.logs.append(
                (
                    "warning",
                    f"embedding {len(batch_texts)} texts failed (attempt {attempt}/"
                    f"{self.config.retry_attempts}): {error}; retrying",
                )
            )

        try:
            result = call_with_retry(
                functools.partial(embedder.embed, batch_texts),
                attempts=self.config.retry_attempts,
                base_delay=self.config.retry_base_delay,
                max_delay=self.config.retry_max_delay,
                on_attempt=count,
                on_retry=note_retry,
            )
            if len(result) != len(chunk):
                raise PermanentError(
                    f"embedder returned {len(result)} vectors for {len(chunk)} texts"
                )
        except AdapterError as error:
            if len(chunk) > 1 and not _is_service_failure(error):
                out.logs.append(
                    (
                        "warning",
                        f"embedding {len(chunk)} texts rejected ({error}); "
                        "splitting to isolate the offending text",
                    )
                )
                middle = len(chunk) // 2
                self._embed_isolating(chunk[:middle], texts, vectors, fresh, errors, out)
                self._embed_isolating(chunk[middle:], texts, vectors, fresh, errors, out)
                return
            if _is_service_failure(error):
                out.service_error = f"embedding failed: {error}"
            out.logs.append(("error", f"embedding {len(chunk)} texts failed: {error}"))
            for h in chunk:
                errors[h] = f"embedding failed: {error}"
                self._cache.abandon(h, error)
            return
        for h, values in zip(chunk, result, strict=True):
            if len(values) != embedder.dimension:
                message = (
                    f"embedder returned {len(values)} dimensions, expected {embedder.dimension}"
                )
                errors[h] = message
                self._cache.abandon(h, PermanentError(message))
                continue
            vector = compact(values)
            vectors[h] = vector
            fresh.add(h)
            self._cache.fulfil(h, vector)

    def _upsert(self, chunk: Sequence[Record], out: _Written) -> None:
        # Adapters and SDKs want plain lists; converting per request keeps only this request's
        # vectors in list form (~32 bytes per float instead of 8).
        body = [Record(r.id, list(r.values or ()), r.metadata) for r in chunk]

        def count() -> None:
            out.stats.target_write_requests += 1

        def note_retry(attempt: int, error: TransientError) -> None:
            out.logs.append(
                (
                    "warning",
                    f"upsert of {len(body)} records failed (attempt {attempt}/"
                    f"{self.config.retry_attempts}): {error}; retrying",
                )
            )

        call_with_retry(
            functools.partial(self.target.upsert, body),
            attempts=self.config.retry_attempts,
            base_delay=self.config.retry_base_delay,
            max_delay=self.config.retry_max_delay,
            on_attempt=count,
            on_retry=note_retry,
        )

    def _upsert_isolating(
        self, chunk: list[Record], out: _Written
    ) -> tuple[list[Record], list[tuple[Record, str]]]:
        """Upsert ``chunk``; on a permanent rejection, bisect to isolate the bad record(s).

        Bisection finds one bad record among n with about 2*log2(n) requests instead of n,
        and every good half is written as soon as it is found good. A transient failure that
        outlasted the retries, or an auth-type refusal (401/403/404), fails the whole chunk: the
        service, not a record, is the problem.
        """
        try:
            self._upsert(chunk, out)
            return chunk, []
        except PermanentError as error:
            if _is_service_failure(error):
                out.service_error = f"upsert refused: {error}"
                out.logs.append(("error", f"upsert of {len(chunk)} records refused: {error}"))
                return [], [(r, f"record {r.id!r}: upsert refused: {error}") for r in chunk]
            if len(chunk) == 1:
                return [], [(chunk[0], f"record {chunk[0].id!r}: upsert rejected: {error}")]
            out.logs.append(
                (
                    "warning",
                    f"upsert of {len(chunk)} records rejected ({error}); "
                    "splitting to isolate the offending record",
                )
            )
            middle = len(chunk) // 2
            ok_a, failed_a = self._upsert_isolating(chunk[:middle], out)
            ok_b, failed_b = self._upsert_isolating(chunk[middle:], out)
            return ok_a + ok_b, failed_a + failed_b
        except TransientError as error:
            out.service_error = f"upsert failed: {error}"
            out.logs.append(("error", f"upsert of {len(chunk)} records failed: {error}"))
            return [], [
                (
                    record,
                    f"record {record.id!r}: upsert failed after "
                    f"{self.config.retry_attempts} attempts: {error}",
                )
                for record in chunk
            ]

    def _record_success(
        self, out: _Written, plan: _Plan, reused: bool, written_at: datetime
    ) -> None:
        embedder = self.embedder
        assert embedder is not None
        out.written += 1
        out.stats.records_written += 1
        if reused:
            out.stats.vectors_reused += 1
        if plan.side is Side.MISSING:
            out.stats.successfully_migrated += 1
            plan.diff.action = DiffAction.CREATED
        else:
            out.stats.successfully_updated += 1
            plan.diff.action = (
                DiffAction.METADATA_ONLY if plan.own_vector is not None else DiffAction.UPDATED
            )
        out.diffs.append(plan.diff)
        out.entries.append(
            LedgerEntry(
                record_id=plan.record_id,
                metadata_hash=plan.metadata_hash,
                text_hash=plan.text_hash,
                model=embedder.model,
                dimension=embedder.dimension,
                written_at=written_at,
            )
        )

    def _record_failure(self, out: _Written, plan: _Plan, reason: str) -> None:
        if plan.side is Side.MISSING:
            out.stats.failed_migration += 1
        else:
            out.stats.failed_update += 1
        diff = plan.diff
        out.diffs.append(
            RecordDiff(
                record_id=plan.record_id,
                kind=DiffKind.FAILED,
                action=DiffAction.FAILED,
                changed_keys=diff.changed_keys,
                values=diff.values,
                text_changed=diff.text_changed,
                error=reason,
            )
        )
