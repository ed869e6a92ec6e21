"""Builds an engine wired to fakes, and checks a target against the source it mirrors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from syncengine import MirrorConfig, MirrorEngine, Record, compare_metadata, extract_text

from .fakes import (
    FakeEmbedder,
    FakeIndex,
    InMemoryLedger,
    ReadOnlySource,
    RecordingSink,
    fake_vector,
)

CLEARANCE = "restricted"


class Clock:
    """A controllable UTC clock."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Harness:
    source_index: FakeIndex
    target: FakeIndex
    embedder: FakeEmbedder
    ledger: InMemoryLedger = field(default_factory=InMemoryLedger)
    sink: RecordingSink = field(default_factory=RecordingSink)
    config: MirrorConfig = field(default_factory=MirrorConfig)
    clock: Clock = field(default_factory=Clock)

    @property
    def source(self) -> ReadOnlySource:
        return ReadOnlySource(self.source_index)

    def engine(self, **overrides: Any) -> MirrorEngine:
        """A fresh engine (and fresh sink) sharing the indexes, embedder, ledger and clock."""
        self.sink = RecordingSink(cancel_after=overrides.pop("cancel_after", None))
        embedder = overrides.pop("embedder", self.embedder)
        config = replace(self.config, **overrides)
        return MirrorEngine(
            self.source, self.target, embedder, self.sink, self.ledger, config, clock=self.clock
        )


def make(
    source: Iterable[Record],
    target: Iterable[Record] = (),
    *,
    dimension: int = 8,
    page_size: int = 100,
    source_float64: bool = True,
    embedder: FakeEmbedder | None = None,
    **config: Any,
) -> Harness:
    settings: dict[str, Any] = {
        "namespace": "ns",
        "clearance_level": CLEARANCE,
        "retry_base_delay": 0.0,
        "retry_max_delay": 0.0,
    }
    settings.update(config)
    return Harness(
        source_index=FakeIndex(
            source, page_size=page_size, name="source", float64_numbers=source_float64
        ),
        target=FakeIndex(target, page_size=page_size, dimension=dimension, name="target"),
        embedder=embedder or FakeEmbedder(dimension),
        config=MirrorConfig(**settings),
    )


def assert_mirrored(
    source: FakeIndex,
    target: FakeIndex,
    *,
    dimension: int,
    clearance: Any = CLEARANCE,
    text_field: str = "text",
) -> None:
    """Every source record with text is in the target with equal metadata, a clearance level
    and the vector of its text; records without text are not required."""
    for record_id, record in source.snapshot().items():
        text = extract_text(record.metadata, text_field)
        if text is None:
            continue
        mirrored = target.get(record_id)
        assert mirrored is not None, f"{record_id} missing from target"
        assert compare_metadata(record.metadata, mirrored.metadata, {"clearance_level"}) == [], (
            record_id
        )
        assert "clearance_level" in mirrored.metadata, record_id
        assert mirrored.values == fake_vector(text, dimension), f"{record_id} has a stale vector"
