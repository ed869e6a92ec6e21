"""Sample data for `make demo`: a source namespace and a stale copy of it in the target.

The sample imitates a knowledge base that an earlier mirror copied and that has moved on since:
most records are unchanged, some are new, some had their metadata edited, some their text
rewritten, a few lost their text, and the target holds a few records of its own (orphans).
Everything is generated from a seeded random generator, so every demo shows the same numbers.

Writes go through the project's own Pinecone adapter with a read-write key: here the demo plays
the upstream system that fills the source. The product itself reads the source with a
read-only key.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from syncapp.clients.pinecone_store import PineconeConnection, PineconeTarget
from syncapp.models import SyncedRecord
from syncapp.services.config import index_upsert, namespace_upsert
from syncengine import Record, plan_upserts

CATEGORIES = ("billing", "security", "onboarding", "api", "compliance", "infrastructure")
AUTHORS = ("ana", "bruno", "chen", "dara", "eli", "fatima", "gus", "hana")
TAGS = ("faq", "howto", "policy", "runbook", "release-notes", "internal", "customer", "legal")
CLEARANCE_LEVELS = ("public", "internal", "confidential")
WORDS = [
    "account",
    "invoice",
    "token",
    "rotate",
    "key",
    "cluster",
    "namespace",
    "index",
    "replica",
    "latency",
    "region",
    "backup",
    "restore",
    "policy",
    "access",
    "audit",
    "export",
    "import",
    "schema",
    "field",
    "vector",
    "query",
    "filter",
    "metadata",
    "retention",
    "encryption",
    "customer",
    "contract",
    "renewal",
    "refund",
    "incident",
    "outage",
    "escalation",
    "deployment",
    "rollback",
    "release",
    "migration",
    "upgrade",
    "quota",
    "limit",
    "throttle",
    "monitor",
    "alert",
    "dashboard",
    "report",
    "compliance",
    "review",
    "approval",
    "owner",
    "team",
    "service",
    "endpoint",
    "request",
]


@dataclass(frozen=True)
class DemoPlan:
    """How many records of each kind the sample holds (what a first analysis should find)."""

    source_records: int = 3000
    missing: int = 240  # in the source only
    changed_metadata: int = 150  # target has older metadata, same text
    changed_text: int = 60  # target has older text
    no_text: int = 15  # source records with no usable text (of which some are in the target)
    orphans: int = 12  # target only


@dataclass
class DemoSummary:
    source_records: int
    target_records: int
    plan: DemoPlan


def _sentence(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(WORDS) for _ in range(words)]
    return " ".join(chosen).capitalize() + "."


def _text(rng: random.Random) -> str:
    return " ".join(_sentence(rng, rng.randint(8, 16)) for _ in range(rng.randint(2, 6)))


def _source_metadata(rng: random.Random, number: int) -> dict[str, Any]:
    category = CATEGORIES[number % len(CATEGORIES)]
    return {
        "text": _text(rng),
        "title": _sentence(rng, rng.randint(3, 7)).rstrip("."),
        "category": category,
        "author": rng.choice(AUTHORS),
        "year": rng.randint(2017, 2026),
        "page": rng.randint(1, 400),
        "tags": sorted(rng.sample(TAGS, rng.randint(1, 3))),
        "published": rng.random() < 0.85,
        "url": f"https://kb.example.com/{category}/{number:05d}",
    }


def _unit_vector(rng: random.Random, dimension: int) -> list[float]:
    values = [rng.gauss(0.0, 1.0) for _ in range(dimension)]
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def _stale(rng: random.Random, metadata: dict[str, Any]) -> dict[str, Any]:
    """An older version of the metadata: what the target kept from an earlier mirror."""
    old = dict(metadata)
    change = rng.randrange(4)
    if change == 0:
        old["year"] = metadata["year"] - 1
    elif change == 1:
        old["tags"] = sorted({*metadata["tags"], "draft"})
    elif change == 2:
        old["title"] = metadata["title"] + " (draft)"
    else:
        old["reviewed_by"] = rng.choice(AUTHORS)  # a key the source has since removed
    return old


def build_sample(plan: DemoPlan, seed: int = 20260115) -> tuple[list[Record], list[Record]]:
    """(source records, target records) with 1536-d source and 3072-d target vectors.

    Target vectors are the Gemini emulator's embedding of the target's text, as an earlier
    mirror would have written them.
    """
    from emulators.gemini import embed_text  # the emulator's deterministic vectors

    rng = random.Random(seed)
    source: list[Record] = []
    target: list[Record] = []
    kinds = (
        ["missing"] * plan.missing
        + ["changed_metadata"] * plan.changed_metadata
        + ["changed_text"] * plan.changed_text
        + ["no_text"] * plan.no_text
    )
    kinds += ["same"] * (plan.source_records - len(kinds))
    rng.shuffle(kinds)
    for number, kind in enumerate(kinds, start=1):
        record_id = f"kb-{CATEGORIES[number % len(CATEGORIES)]}-{number:05d}"
        metadata = _source_metadata(rng, number)
        clearance = rng.choice(CLEARANCE_LEVELS)
        if kind == "no_text":
            variant = number % 3
            if variant == 0:
                del metadata["text"]
            else:
                metadata["text"] = "" if variant == 1 else "   \n "
        source.append(Record(record_id, _unit_vector(rng, 1536), metadata))
        if kind == "missing":
            continue
        if kind == "changed_metadata":
            old = _stale(rng, metadata)
        elif kind == "changed_text":
            old = {**metadata, "text": _text(rng)}
        elif kind == "no_text":
            if number % 2:  # half of them were mirrored back when they had text
                continue
            old = {**metadata, "text": _text(rng)}
        else:
            old = dict(metadata)
        vector = embed_text(old["text"], 3072)
        target.append(Record(record_id, vector, {**old, "clearance_level": clearance}))
    for number in range(1, plan.orphans + 1):
        metadata = {**_source_metadata(rng, 90000 + number), "clearance_level": "internal"}
        target.append(
            Record(f"local-note-{number:03d}", embed_text(metadata["text"], 3072), metadata)
        )
    return source, target


def _write(store: PineconeTarget, records: list[Record]) -> None:
    plan = plan_upserts(
        records,
        namespace=store.namespace,
        max_records=1000,
        max_bytes=2 * 1024 * 1024,
        metadata_max_bytes=40960,
    )
    if plan.rejected:
        raise ValueError(f"sample records rejected: {plan.rejected[:3]}")
    for batch in plan.batches:
        store.upsert(batch)


def _chunks(records: list[Record], size: int) -> Iterator[list[Record]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def demo_seed(
    *,
    api_key: str,
    controller_host: str,
    source_index: str = "gflops-serverless",
    target_index: str = "askdona",
    namespace: str = "kb-articles",
    plan: DemoPlan | None = None,
) -> DemoSummary:
    """Fill the emulators' indexes with the sample and register them and the namespace."""
    plan = plan or DemoPlan()
    source_records, target_records = build_sample(plan)
    connection = PineconeConnection(api_key=api_key, controller_host=controller_host)
    for index_name, records in ((source_index, source_records), (target_index, target_records)):
        store = PineconeTarget(connection=connection, index_name=index_name, namespace=namespace)
        try:
            for chunk in _chunks(records, 500):
                _write(store, chunk)
        finally:
            store.close()
    index_upsert(name=source_index)
    index_upsert(name=target_index)
    # The emulators start empty each time, so what the ledger remembers writing to the old
    # target no longer exists: forget it, or the engine would trust it over the new listing.
    SyncedRecord.objects.filter(namespace__name=namespace).delete()
    namespace_upsert(
        name=namespace,
        source_index=source_index,
        target_index=target_index,
        source_namespace=namespace,
        clearance_level="internal",
    )
    return DemoSummary(len(source_records), len(target_records), plan)
