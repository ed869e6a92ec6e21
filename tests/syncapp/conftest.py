"""Fixtures for the integration tests of the mirror: the real service layer, the real SDKs,
the Pinecone and Gemini emulators over HTTP, and a real database.

`mirror_env` is the usual entry point::

    @pytest.mark.django_db
    def test_something(mirror_env: MirrorEnv) -> None:
        mirror_env.seed_source([rec("A", "alpha")])
        run = mirror_env.mirror()
        assert run.status == "succeeded"
        assert mirror_env.target_snapshot()["A"].metadata["clearance_level"] == "internal"

Only the environment (API keys) and two settings (where Pinecone's control plane and Gemini
live) are patched, plus, in the few tests that must act in the middle of a run (a kill, a
cancel click), the run sink's progress hook; everything between the management command or
service call and the HTTP request is the production code.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from pinecone import Index as SdkIndex

from emulators.gemini import GeminiEmulator, embed_text
from emulators.pinecone import IndexSpec, PineconeEmulator
from syncapp.models import Namespace, SyncedRecord, SyncRun
from syncapp.services.config import index_upsert, namespace_upsert
from syncapp.services.runs import sync_run_create, sync_run_execute
from tests.fixtures_gemini import GEMINI_TEST_KEY
from tests.fixtures_pinecone import PINECONE_RO_KEY, PINECONE_RW_KEY

SOURCE_INDEX = "gflops-serverless"
TARGET_INDEX = "askdona"
SOURCE_DIMENSION = 8
EMBEDDING_DIMENSION = 128  # the smallest Gemini output: keeps the tests fast
NAMESPACE = "docs"  # the Namespace row's name and the Pinecone namespace on both sides
CLEARANCE = "internal"

# The environment variables the service layer reads (syncapp.models / services.runs).
TARGET_KEY_ENV = "PINECONE_API_KEY"
SOURCE_KEY_ENV = "PINECONE_SOURCE_API_KEY"
GEMINI_KEY_ENV = "GEMINI_API_KEY"


@dataclass(frozen=True)
class Rec:
    """A record to seed, or one read back: plain values, comparable with `==`."""

    id: str
    values: tuple[float, ...]
    metadata: dict[str, Any]


def source_vector(record_id: str) -> tuple[float, ...]:
    """A small non-zero vector, distinct per ID, exactly representable as float32."""
    base = sum(record_id.encode()) % 97 + 1
    return tuple(float((base + i) % 16 + 1) / 16 for i in range(SOURCE_DIMENSION))


def gemini_vector(text: str, dimension: int = EMBEDDING_DIMENSION) -> list[float]:
    """What the Gemini adapter hands the engine for `text`: the emulator's vector, normalised
    (Gemini only normalises 3072-d output; `GeminiEmbedder` normalises smaller ones)."""
    values = embed_text(text, dimension)
    norm = math.sqrt(math.fsum(v * v for v in values))
    return [v / norm for v in values]


def rec(record_id: str, text: str | None = None, /, **metadata: Any) -> Rec:
    """A source record (8-d vector) with `text` (if given) and other metadata."""
    meta = dict(metadata)
    if text is not None:
        meta["text"] = text
    return Rec(record_id, source_vector(record_id), meta)


def target_rec(
    record_id: str, text: str | None = None, /, *, dimension: int = EMBEDDING_DIMENSION, **meta: Any
) -> Rec:
    """A target record as an earlier mirror would have left it: the vector of its text."""
    metadata = dict(meta)
    if text is not None:
        metadata["text"] = text
    values = gemini_vector(text or record_id, dimension)
    return Rec(record_id, tuple(values), metadata)


def same_vector(actual: Sequence[float], expected: Sequence[float]) -> bool:
    """Equal up to the float32 rounding Pinecone applies when it stores a vector."""
    return len(actual) == len(expected) and all(
        math.isclose(a, e, rel_tol=1e-6, abs_tol=1e-7)
        for a, e in zip(actual, expected, strict=True)
    )


def upsert_all(index: SdkIndex, records: Iterable[Rec], namespace: str, chunk: int = 100) -> None:
    """Write `records` through the SDK, `chunk` per request (kept well under 2 MB)."""
    batch: list[dict[str, Any]] = []
    for r in records:
        batch.append({"id": r.id, "values": list(r.values), "metadata": dict(r.metadata)})
        if len(batch) >= chunk:
            index.upsert(vectors=batch, namespace=namespace)
            batch = []
    if batch:
        index.upsert(vectors=batch, namespace=namespace)


def read_all(index: SdkIndex, namespace: str) -> dict[str, Rec]:
    """Every record of a namespace, through the SDK (list, then fetch by 100)."""
    ids: list[str] = []
    token: str | None = None
    while True:
        page = index.list_paginated(namespace=namespace, limit=100, pagination_token=token)
        ids.extend(item.id for item in page.vectors)
        token = page.pagination.next if page.pagination else None
        if not token:
            break
    out: dict[str, Rec] = {}
    for start in range(0, len(ids), 100):
        fetched = index.fetch(ids=ids[start : start + 100], namespace=namespace)
        for vid, vector in fetched.vectors.items():
            out[vid] = Rec(vid, tuple(vector.values), dict(vector.metadata or {}))
    assert len(out) == len(ids), "a listed record could not be fetched"
    return out


def join_engine_threads(timeout: float = 30.0) -> None:
    """Wait for worker and listing threads a stopped run left behind.

    A run interrupted by `SystemExit` (django-q2's timeout) does not wait for batches already
    being written (`MirrorEngine._run` shuts its executor down without waiting); the test must
    see their writes complete before it inspects the target or starts another run.
    """
    for thread in threading.enumerate():
        if thread.name.startswith("syncengine-") and thread is not threading.current_thread():
            thread.join(timeout)
            assert not thread.is_alive(), f"{thread.name} did not finish"


@dataclass
class MirrorEnv:
    """Two emulators, the SDK handles to seed and read them, and the registered namespace."""

    pinecone: PineconeEmulator
    gemini: GeminiEmulator
    namespace: Namespace
    source_index: str = SOURCE_INDEX
    target_index: str = TARGET_INDEX
    pinecone_namespace: str = NAMESPACE
    _handles: dict[str, SdkIndex] = field(default_factory=dict)

    # --- SDK access (rw key: the tests may write the source; the product never does) ---

    def sdk(self, index: str) -> SdkIndex:
        if index not in self._handles:
            self._handles[index] = SdkIndex(
                host=self.pinecone.index_host(index), api_key=PINECONE_RW_KEY
            )
        return self._handles[index]

    def seed_source(self, records: Iterable[Rec]) -> None:
        upsert_all(self.sdk(self.source_index), records, self.pinecone_namespace)

    def seed_target(self, records: Iterable[Rec]) -> None:
        upsert_all(self.sdk(self.target_index), records, self.pinecone_namespace)

    def source_snapshot(self) -> dict[str, Rec]:
        return read_all(self.sdk(self.source_index), self.pinecone_namespace)

    def target_snapshot(self) -> dict[str, Rec]:
        return read_all(self.sdk(self.target_index), self.pinecone_namespace)

    # --- emulator counters ---------------------------------------------------------------

    def reset_counters(self) -> None:
        self.pinecone.reset_stats()
        self.gemini.reset_stats()

    def index_stats(self, index: str, namespace: str | None = None) -> dict[str, Any]:
        stats: dict[str, Any] = self.pinecone.stats()["indexes"][index]
        if namespace is None:
            return stats
        ns: dict[str, Any] = stats["namespaces"].get(namespace or "__default__", {})
        return ns

    def writes_received(self, index: str) -> int:
        """Write requests that reached the index's port, whatever their fate."""
        return int(self.index_stats(index)["writes_received"])

    def texts_embedded(self) -> int:
        return int(self.gemini.stats()["texts"])

    def embed_requests(self) -> int:
        return int(self.gemini.stats()["requests"]["total"])

    # --- runs through the service layer ---------------------------------------------------

    def create(self, kind: str = "mirror", *, dry_run: bool = False, **kwargs: Any) -> SyncRun:
        return sync_run_create(
            namespace=self.namespace, kind=kind, trigger="command", dry_run=dry_run, **kwargs
        )

    def execute(self, run: SyncRun) -> SyncRun:
        sync_run_execute(run_id=run.pk)
        run.refresh_from_db()
        return run

    def analyze(self, **kwargs: Any) -> SyncRun:
        return self.execute(self.create("analyze", **kwargs))

    def dry_run(self, **kwargs: Any) -> SyncRun:
        return self.execute(self.create("mirror", dry_run=True, **kwargs))

    def mirror(self, **kwargs: Any) -> SyncRun:
        return self.execute(self.create("mirror", **kwargs))

    def configure(self, **options: Any) -> Namespace:
        """Change the namespace's settings through the service (as the admin would)."""
        where: dict[str, Any] = {
            "source_index": self.namespace.source_index.name,
            "target_index": self.namespace.target_index.name,
            "source_namespace": self.namespace.source_namespace,
            "target_namespace": self.namespace.target_namespace,
        }
        namespace, _ = namespace_upsert(name=self.namespace.name, **{**where, **options})
        self.namespace = namespace
        return namespace

    def ledger(self) -> dict[str, SyncedRecord]:
        return {row.record_id: row for row in SyncedRecord.objects.filter(namespace=self.namespace)}

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


def expected_target(
    source: Mapping[str, Rec], target_before: Mapping[str, Rec], clearance: str = CLEARANCE
) -> dict[str, dict[str, Any]]:
    """Metadata the target must hold after a complete mirror: every source record with text,
    its metadata plus the target's clearance (kept) or the namespace's (new); orphans and
    records without text as they were."""
    expected = {rid: dict(r.metadata) for rid, r in target_before.items()}
    for rid, r in source.items():
        text = r.metadata.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        previous = target_before.get(rid)
        level = previous.metadata.get("clearance_level", clearance) if previous else clearance
        expected[rid] = {**r.metadata, "clearance_level": level}
    return expected


@pytest.fixture
def make_mirror_env(
    make_pinecone_emulator: Callable[..., PineconeEmulator],
    make_gemini_emulator: Callable[..., GeminiEmulator],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> Iterator[Callable[..., MirrorEnv]]:
    """Factory for a `MirrorEnv` with non-default emulators or namespace settings, e.g.
    `make_mirror_env(target_dimension=3072, embedding_dimension=3072, batch_size=50)` or
    `make_mirror_env(pinecone_options={"fault_rate": 0.1})`; other keywords are namespace
    settings given to `namespace_upsert`."""
    envs: list[MirrorEnv] = []

    def make(
        *,
        target_dimension: int = EMBEDDING_DIMENSION,
        embedding_dimension: int = EMBEDDING_DIMENSION,
        pinecone_options: Mapping[str, Any] | None = None,
        gemini_options: Mapping[str, Any] | None = None,
        **namespace_options: Any,
    ) -> MirrorEnv:
        pinecone = make_pinecone_emulator(
            indexes=[
                IndexSpec(SOURCE_INDEX, SOURCE_DIMENSION),
                IndexSpec(TARGET_INDEX, target_dimension),
            ],
            **(pinecone_options or {}),
        )
        gemini = make_gemini_emulator(**(gemini_options or {}))
        monkeypatch.setenv(TARGET_KEY_ENV, PINECONE_RW_KEY)
        monkeypatch.setenv(SOURCE_KEY_ENV, PINECONE_RO_KEY)
        monkeypatch.setenv(GEMINI_KEY_ENV, GEMINI_TEST_KEY)
        settings.PINECONE_CONTROLLER_HOST = pinecone.control_url
        settings.GEMINI_BASE_URL = gemini.base_url
        index_upsert(name=SOURCE_INDEX)
        index_upsert(name=TARGET_INDEX)
        options: dict[str, Any] = {
            "clearance_level": CLEARANCE,
            "embedding_dimension": embedding_dimension,
            **namespace_options,
        }
        namespace, _ = namespace_upsert(
            name=NAMESPACE,
            source_index=SOURCE_INDEX,
            target_index=TARGET_INDEX,
            source_namespace=NAMESPACE,
            **options,
        )
        env = MirrorEnv(pinecone=pinecone, gemini=gemini, namespace=namespace)
        envs.append(env)
        return env

    yield make
    join_engine_threads()
    for env in envs:
        env.close()


@pytest.fixture
def mirror_env(make_mirror_env: Callable[..., MirrorEnv]) -> MirrorEnv:
    """Source `gflops-serverless` (8-d) and target `askdona` (128-d) on one Pinecone emulator,
    a Gemini emulator, keys in the environment (the source's is read-only: any write to it
    would be refused with 403 and still counted in `writes_received`), and the namespace
    `docs` registered through the services with clearance level `internal`."""
    return make_mirror_env()
