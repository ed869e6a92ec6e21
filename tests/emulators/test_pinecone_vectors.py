"""Vector operations through the real pinecone SDK: upsert, fetch, update, delete, list, stats."""

from __future__ import annotations

import random

import httpx
import numpy as np
import pytest
from pinecone import Pinecone, Vector
from pinecone.errors import ApiError, NotFoundError

from emulators.pinecone import PineconeEmulator
from tests.fixtures_pinecone import PINECONE_RW_KEY, pinecone_index_for


def _vec(seed: int, dimension: int = 8) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-1, 1) for _ in range(dimension)]


def test_it_resolves_the_index_by_name_and_round_trips_a_record(
    pinecone_emulator: PineconeEmulator, pinecone_client: Pinecone
) -> None:
    idx = pinecone_client.Index(name="src")
    values = [0.1, -0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]

    assert idx.upsert(vectors=[("doc-1", values, {"title": "a"})]).upserted_count == 1
    fetched = idx.fetch(ids=["doc-1"]).vectors["doc-1"]

    assert fetched.id == "doc-1"
    assert fetched.values == pytest.approx(values, rel=1e-6)
    assert fetched.metadata == {"title": "a"}


def test_it_returns_values_as_float32_and_metadata_numbers_as_floats(
    pinecone_emulator: PineconeEmulator,
) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    values = [1, 0.1, 1 / 3, -2.5e-7, 123456.789, 2, 3, 4]
    metadata = {"year": 2019, "rating": 4.5, "ok": True, "tags": ["x", "y"], "name": "n"}
    idx.upsert(vectors=[{"id": "a", "values": values, "metadata": metadata}])

    vector = idx.fetch(ids=["a"]).vectors["a"]

    # Stored as float32 and rendered with float32's shortest repr, as Pinecone does.
    assert vector.values == [float(str(np.float32(v))) for v in values]
    assert vector.values[0] == 1.0 and isinstance(vector.values[0], float)
    assert vector.metadata == {"year": 2019.0, "rating": 4.5, "ok": True, "tags": ["x", "y"],
                               "name": "n"}  # fmt: skip
    assert isinstance(vector.metadata["year"], float)
    assert vector.metadata["ok"] is True


def test_it_leaves_absent_ids_out_of_a_fetch(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(vectors=[("here", _vec(1))])

    response = idx.fetch(ids=["here", "missing", "also-missing"])

    assert set(response.vectors) == {"here"}
    assert response.vectors["here"].metadata is None
    assert response.namespace == ""
    assert response.usage is not None and response.usage.read_units == 1


def test_it_overwrites_a_whole_record_on_upsert(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(vectors=[("a", _vec(1), {"keep": "no", "old": 1})])

    idx.upsert(vectors=[("a", _vec(2), {"new": "yes"})])
    vector = idx.fetch(ids=["a"]).vectors["a"]

    assert vector.metadata == {"new": "yes"}
    assert vector.values == pytest.approx(_vec(2), rel=1e-6)
    idx.upsert(vectors=[("a", _vec(3))])
    assert idx.fetch(ids=["a"]).vectors["a"].metadata is None
    assert pinecone_emulator.vector_count("src") == 1


def test_the_last_duplicate_in_one_request_wins(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)

    response = idx.upsert(vectors=[("a", _vec(1), {"n": 1}), ("a", _vec(2), {"n": 2})])

    assert response.upserted_count == 2
    assert idx.fetch(ids=["a"]).vectors["a"].metadata == {"n": 2.0}
    assert pinecone_emulator.vector_count("src") == 1


def test_update_merges_metadata_and_replaces_values(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(vectors=[("a", _vec(1), {"genre": "drama", "year": 2019})])

    idx.update(id="a", set_metadata={"year": 2021, "reviewed": True, "genre": None})
    idx.update(id="a", values=_vec(9))
    vector = idx.fetch(ids=["a"]).vectors["a"]

    # Unnamed keys keep their value; a null is stripped, so it cannot remove a key either.
    assert vector.metadata == {"genre": "drama", "year": 2021.0, "reviewed": True}
    assert vector.values == pytest.approx(_vec(9), rel=1e-6)


def test_update_of_an_unknown_id_is_not_found(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(vectors=[("a", _vec(1))])

    with pytest.raises(NotFoundError) as caught:
        idx.update(id="nope", set_metadata={"x": 1})
    assert caught.value.body == {
        "code": 5,
        "message": "Vector ID 'nope' not found in namespace '__default__'",
        "details": [],
    }


def test_update_by_filter_reports_matches_and_honours_dry_run(
    pinecone_emulator: PineconeEmulator,
) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(
        vectors=[
            ("a", _vec(1), {"genre": "drama"}),
            ("b", _vec(2), {"genre": "drama"}),
            ("c", _vec(3), {"genre": "comedy"}),
        ],
        namespace="films",
    )

    preview = idx.update(
        filter={"genre": "drama"}, set_metadata={"seen": True}, namespace="films", dry_run=True
    )
    assert preview.matched_records == 2
    assert idx.fetch(ids=["a"], namespace="films").vectors["a"].metadata == {"genre": "drama"}

    done = idx.update(filter={"genre": "drama"}, set_metadata={"seen": True}, namespace="films")
    fetched = idx.fetch(ids=["a", "b", "c"], namespace="films").vectors
    assert done.matched_records == 2
    assert fetched["a"].metadata == {"genre": "drama", "seen": True}
    assert fetched["b"].metadata == {"genre": "drama", "seen": True}
    assert fetched["c"].metadata == {"genre": "comedy"}


def test_delete_by_ids_by_filter_and_all(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(
        vectors=[
            (f"v{i}", _vec(i), {"parity": "even" if i % 2 == 0 else "odd"}) for i in range(10)
        ],
        namespace="ns",
    )

    idx.delete(ids=["v0", "v1", "not-there"], namespace="ns")
    assert pinecone_emulator.vector_count("src", "ns") == 8
    idx.delete(filter={"parity": {"$eq": "odd"}}, namespace="ns")
    assert sorted(idx.fetch(ids=[f"v{i}" for i in range(10)], namespace="ns").vectors) == [
        "v2",
        "v4",
        "v6",
        "v8",
    ]
    idx.delete(delete_all=True, namespace="ns")
    assert pinecone_emulator.vector_count("src", "ns") == 0
    # The namespace went away with its last record, and serverless answers 404 for a
    # delete in a namespace that does not exist.
    with pytest.raises(NotFoundError, match="Namespace not found"):
        idx.delete(delete_all=True, namespace="ns")
    # ...but the default namespace always exists.
    idx.delete(delete_all=True)


def test_list_orders_ids_bytewise(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    ids = ["a", "B9", "_", "A", "B10", "-", "b", "0", "~", "Ab"]
    idx.upsert(vectors=[(vector_id, _vec(n)) for n, vector_id in enumerate(ids)], namespace="c")

    page = idx.list_paginated(namespace="c")

    assert [item.id for item in page.vectors] == sorted(ids, key=lambda s: s.encode())
    assert [item.id for item in page.vectors] == [
        "-", "0", "A", "Ab", "B10", "B9", "_", "a", "b", "~",
    ]  # fmt: skip
    assert page.pagination is None
    assert page.namespace == "c"


def test_list_paginates_with_tokens_across_many_pages(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    ids = [f"doc-{n:05d}" for n in range(1050)]
    shuffled = random.Random(3).sample(ids, len(ids))
    for start in range(0, len(shuffled), 500):
        idx.upsert(vectors=[(i, _vec(n)) for n, i in enumerate(shuffled[start : start + 500])])

    seen: list[str] = []
    pages = 0
    token = None
    while True:
        page = idx.list_paginated(pagination_token=token)
        pages += 1
        seen.extend(item.id for item in page.vectors)
        if page.pagination is None:
            break
        assert page.pagination.next
        token = page.pagination.next
    assert seen == ids
    assert pages == 11  # ten full pages of 100, then 50 and no token

    # The SDK's own generator walks the same chain.
    assert [item.id for page in idx.list() for item in page.vectors] == ids
    # When the rest fits the page exactly, the page carries no token (no empty last page).
    tail = idx.list_paginated(prefix="doc-010", limit=50)
    assert len(tail.vectors) == 50 and tail.pagination is None


def test_list_honours_prefix_and_limit(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    ids = [f"doc1#{n}" for n in range(7)] + [f"doc2#{n}" for n in range(3)] + ["doc10#0"]
    idx.upsert(vectors=[(i, _vec(n)) for n, i in enumerate(ids)])

    first = idx.list_paginated(prefix="doc1#", limit=4)
    second = idx.list_paginated(prefix="doc1#", limit=4, pagination_token=first.pagination.next)

    assert [v.id for v in first.vectors] == [f"doc1#{n}" for n in range(4)]
    assert [v.id for v in second.vectors] == [f"doc1#{n}" for n in range(4, 7)]
    assert second.pagination is None
    exact = idx.list_paginated(prefix="doc2#", limit=3)
    assert len(exact.vectors) == 3 and exact.pagination is None
    assert idx.list_paginated(prefix="zzz").vectors == []
    assert idx.list_paginated(prefix="doc1", namespace="elsewhere").vectors == []


def test_namespaces_are_isolated_and_default_has_an_alias(
    pinecone_emulator: PineconeEmulator,
) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(vectors=[("a", _vec(1), {"ns": "default"})], namespace="__default__")
    idx.upsert(vectors=[("a", _vec(2), {"ns": "other"})], namespace="other")

    assert idx.fetch(ids=["a"]).vectors["a"].metadata == {"ns": "default"}
    assert idx.fetch(ids=["a"], namespace="other").vectors["a"].metadata == {"ns": "other"}
    assert pinecone_emulator.vector_count("src", "") == 1


def test_describe_index_stats_counts_namespaces(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    assert idx.describe_index_stats().namespaces == {}
    idx.upsert(vectors=[(f"d{i}", _vec(i)) for i in range(3)])
    idx.upsert(vectors=[(f"x{i}", _vec(i)) for i in range(5)], namespace="x")

    stats = idx.describe_index_stats()

    assert stats.total_vector_count == 8
    assert stats.dimension == 8
    assert stats.metric == "cosine"
    assert stats.vector_type == "dense"
    assert stats.index_fullness == 0.0
    assert {name: s.vector_count for name, s in stats.namespaces.items()} == {
        "__default__": 3,
        "x": 5,
    }
    # Serverless rejects a metadata filter here (the SDK documents it).
    with pytest.raises(ApiError) as caught:
        idx.describe_index_stats(filter={"a": "b"})
    assert caught.value.status_code == 400


def test_namespace_endpoints(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(vectors=[("a", _vec(1))])
    for name in ("movies-en", "movies-de", "books"):
        idx.upsert(vectors=[("a", _vec(2)), ("b", _vec(3))], namespace=name)
    idx.create_namespace(name="empty", schema={"fields": {"genre": {"filterable": True}}})

    listed = [ns.name for page in idx.list_namespaces(limit=2) for ns in page.namespaces]
    assert listed == ["__default__", "books", "empty", "movies-de", "movies-en"]
    first = idx.list_namespaces_paginated(prefix="movies-", limit=1)
    assert [ns.name for ns in first.namespaces] == ["movies-de"]
    assert first.total_count == 2
    rest = idx.list_namespaces_paginated(
        prefix="movies-", limit=1, pagination_token=first.pagination.next
    )
    assert [ns.name for ns in rest.namespaces] == ["movies-en"] and rest.pagination is None

    described = idx.describe_namespace(name="movies-en")
    assert (described.name, described.record_count) == ("movies-en", 2)
    assert idx.describe_namespace(name="__default__").record_count == 1
    empty = idx.describe_namespace(name="empty")
    assert empty.record_count == 0
    assert empty.schema is not None and empty.schema.fields["genre"].filterable is True

    idx.delete_namespace(name="movies-en")
    with pytest.raises(NotFoundError):
        idx.describe_namespace(name="movies-en")
    with pytest.raises(NotFoundError):
        idx.delete_namespace(name="never-existed")
    with pytest.raises(ApiError) as caught:
        idx.create_namespace(name="books")
    assert caught.value.status_code == 409
    assert pinecone_emulator.vector_count("src", "movies-en") == 0


def test_batched_upsert_through_the_sdk_bulk_path(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator, "dst")
    vectors = [Vector(id=f"v{i}", values=_vec(i, 16), metadata={"i": i}) for i in range(250)]

    response = idx.upsert(vectors=vectors, batch_size=60, max_concurrency=4, show_progress=False)

    assert not response.has_errors
    assert response.upserted_count == 250
    assert response.total_batch_count == 5
    assert pinecone_emulator.vector_count("dst") == 250


@pytest.mark.parametrize("version", ["2026-07", "2026-04", None])
def test_the_data_plane_serves_every_api_version_alike(
    pinecone_emulator: PineconeEmulator, version: str | None
) -> None:
    headers = {"Api-Key": PINECONE_RW_KEY}
    if version is not None:
        headers["X-Pinecone-Api-Version"] = version
    with httpx.Client(base_url=pinecone_emulator.index_host("src"), headers=headers) as client:
        upserted = client.post(
            "/vectors/upsert", json={"vectors": [{"id": "a", "values": [1] * 8}]}
        )
        fetched = client.get("/vectors/fetch", params={"ids": "a"})

    assert upserted.json() == {"upsertedCount": 1}
    assert fetched.json()["vectors"]["a"]["values"] == [1.0] * 8
