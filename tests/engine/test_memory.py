"""Memory stays bounded by batch size and concurrency, not by namespace size."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator, Sequence

from syncengine import LedgerEntry, MirrorConfig, MirrorEngine, Record

from .fakes import CountingSink, FakeEmbedder, FakeIndex, InMemoryLedger, ReadOnlySource


def build(n: int) -> tuple[FakeIndex, FakeIndex]:
    source = FakeIndex(
        (
            Record(f"doc-{i:07d}", [0.25, 0.5, 0.75, 1.0], {"text": f"t{i}", "n": i})
            for i in range(n)
        ),
        name="source",
    )
    # A target holding every other record, identical: half "matching" (fetched on both sides
    # and compared), half "missing" (fetched from the source to check for text).
    target = FakeIndex(
        (
            Record(f"doc-{i:07d}", [0.25, 0.5, 0.75, 1.0], {"text": f"t{i}", "n": i})
            for i in range(0, n, 2)
        ),
        name="target",
    )
    return source, target


def analyze_peak(n: int) -> tuple[int, int]:
    """Peak bytes allocated while analysing ``n`` source records (fakes built beforehand)."""
    source, target = build(n)
    sink = CountingSink()
    engine = MirrorEngine(
        ReadOnlySource(source),
        target,
        None,
        sink,
        InMemoryLedger(),
        MirrorConfig(namespace="ns", batch_size=100, concurrency=4),
    )
    gc.collect()
    tracemalloc.start()
    try:
        result = engine.analyze()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.stats.total_source_vectors == n
    assert result.stats.metadata_matches == n // 2
    assert sink.last_done == n
    return peak, sink.diff_count


def test_analysis_memory_does_not_grow_with_the_namespace() -> None:
    small, small_diffs = analyze_peak(10_000)
    large, large_diffs = analyze_peak(50_000)
    assert (small_diffs, large_diffs) == (5_000, 25_000)  # diffs go to the sink, not kept
    # A fixed bound (batch_size x in-flight batches, listing pages), and no linear growth:
    # holding the 50,000 IDs alone would take several MB.
    assert large < 2 * 1024 * 1024, large
    assert large < small * 1.5 + 256 * 1024, (small, large)


class DiscardingTarget:
    """An empty target that accepts and forgets writes, so only the engine's memory counts."""

    def __init__(self) -> None:
        self.written = 0

    def list_id_pages(self) -> Iterator[list[str]]:
        yield []

    def fetch(self, ids: Sequence[str]) -> dict[str, Record]:
        return {}

    def count(self) -> int | None:
        return 0

    def upsert(self, records: Sequence[Record]) -> None:
        self.written += len(records)


class ForgetfulLedger(InMemoryLedger):
    def record(self, entries: Sequence[LedgerEntry]) -> None:
        self.calls["record"] += 1


def mirror_peak(n: int) -> int:
    source = FakeIndex(
        (Record(f"doc-{i:07d}", [0.5] * 4, {"text": f"t{i}"}) for i in range(n)), name="source"
    )
    target = DiscardingTarget()
    engine = MirrorEngine(
        ReadOnlySource(source),
        target,
        FakeEmbedder(8, keep_texts=False),
        CountingSink(),
        ForgetfulLedger(),
        MirrorConfig(namespace="ns", clearance_level="x", batch_size=100, concurrency=4),
    )
    gc.collect()
    tracemalloc.start()
    try:
        result = engine.mirror()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.stats.successfully_migrated == n == target.written
    return peak


def test_mirroring_memory_does_not_grow_with_the_namespace() -> None:
    small = mirror_peak(2_000)
    large = mirror_peak(8_000)
    assert large < 4 * 1024 * 1024, large
    assert large < small * 1.5 + 256 * 1024, (small, large)
