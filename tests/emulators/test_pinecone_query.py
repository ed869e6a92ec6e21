"""Query: exact search under each metric, query by ID, and every filter operator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pinecone.errors import ApiError

from emulators.pinecone import IndexSpec, PineconeEmulator
from tests.fixtures_pinecone import pinecone_index_for

# Records with every kind of metadata value, and some fields missing, to filter on.
RECORDS: list[tuple[str, dict[str, Any]]] = [
    ("m1", {"genre": "drama", "year": 2019, "tags": ["a", "b"], "hit": True}),
    ("m2", {"genre": "comedy", "year": 2020, "tags": ["b", "c"], "hit": False}),
    ("m3", {"genre": "drama", "year": 2021.5, "tags": ["c"]}),
    ("m4", {"genre": "horror", "year": 1999}),
    ("m5", {"year": 1, "hit": True}),
    ("m6", {}),
]


@pytest.fixture
def movies(pinecone_emulator: PineconeEmulator) -> Callable[[dict[str, Any]], list[str]]:
    """Load RECORDS into `src`/`movies`; returns `ids_matching(filter)`."""
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(
        vectors=[(vid, [float(n + 1)] + [0.5] * 7, md) for n, (vid, md) in enumerate(RECORDS)],
        namespace="movies",
    )

    def ids_matching(flt: dict[str, Any]) -> list[str]:
        response = idx.query(vector=[1.0] * 8, top_k=100, filter=flt, namespace="movies")
        return sorted(match.id for match in response.matches)

    return ids_matching


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"genre": "drama"}, ["m1", "m3"]),
        ({"genre": {"$eq": "drama"}}, ["m1", "m3"]),
        ({"year": {"$eq": 2019}}, ["m1"]),
        ({"year": 2019.0}, ["m1"]),
        # $ne / $nin also match records without the field.
        ({"genre": {"$ne": "drama"}}, ["m2", "m4", "m5", "m6"]),
        ({"genre": {"$in": ["comedy", "horror"]}}, ["m2", "m4"]),
        ({"genre": {"$nin": ["comedy", "horror"]}}, ["m1", "m3", "m5", "m6"]),
        ({"year": {"$gt": 2019}}, ["m2", "m3"]),
        ({"year": {"$gte": 2019}}, ["m1", "m2", "m3"]),
        ({"year": {"$lt": 2000}}, ["m4", "m5"]),
        ({"year": {"$lte": 1999}}, ["m4", "m5"]),
        ({"year": {"$gt": 2000, "$lt": 2021}}, ["m1", "m2"]),
        ({"hit": {"$exists": True}}, ["m1", "m2", "m5"]),
        ({"hit": {"$exists": False}}, ["m3", "m4", "m6"]),
        # Booleans are their own type: true is not 1.
        ({"hit": True}, ["m1", "m5"]),
        ({"year": {"$eq": True}}, []),
        ({"hit": {"$eq": 1}}, []),
        # A list-valued field matches $eq/$in if ANY element does, $ne/$nin if NONE does.
        ({"tags": "b"}, ["m1", "m2"]),
        ({"tags": {"$in": ["a", "c"]}}, ["m1", "m2", "m3"]),
        ({"tags": {"$ne": "b"}}, ["m3", "m4", "m5", "m6"]),
        ({"tags": {"$nin": ["a", "b"]}}, ["m3", "m4", "m5", "m6"]),
        # Range operators only ever match numbers.
        ({"genre": {"$gt": 0}}, []),
        ({"$and": [{"genre": "drama"}, {"year": {"$gt": 2020}}]}, ["m3"]),
        ({"$or": [{"genre": "horror"}, {"hit": True}]}, ["m1", "m4", "m5"]),
        ({"genre": "drama", "tags": "c"}, ["m3"]),
        ({"$or": [{"$and": [{"genre": "drama"}, {"tags": "a"}]}, {"year": 1}]}, ["m1", "m5"]),
        ({}, ["m1", "m2", "m3", "m4", "m5", "m6"]),
    ],
)
def test_filters(
    movies: Callable[[dict[str, Any]], list[str]], flt: dict[str, Any], expected: list[str]
) -> None:
    assert movies(flt) == expected


@pytest.mark.parametrize(
    ("flt", "fragment"),
    [
        ({"genre": {"$regex": "d.*"}}, "unknown operator '$regex'"),
        ({"$not": {"genre": "drama"}}, "unknown top-level operator '$not'"),
        ({"genre": {"$in": "drama"}}, "$in requires an array"),
        ({"year": {"$gt": "2019"}}, "$gt requires a number"),
        ({"hit": {"$exists": 1}}, "$exists requires a boolean"),
        ({"$and": []}, "requires a non-empty array"),
        ({"$or": ["genre"]}, "expected a filter object"),
        ({"genre": ["drama"]}, "must be a string, number, boolean or an operator object"),
        ({"genre": {}}, "has no operator"),
        ({"genre": {"eq": "x"}}, "expected an operator such as $eq"),
        ({"genre": {"$eq": None}}, "$eq requires a string, number or boolean"),
    ],
)
def test_invalid_filters_answer_400(
    pinecone_emulator: PineconeEmulator, flt: dict[str, Any], fragment: str
) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    with pytest.raises(ApiError) as caught:
        idx.query(vector=[1.0] * 8, top_k=1, filter=flt)
    assert caught.value.status_code == 400
    assert caught.value.body["message"].startswith("Invalid filter: filter")
    assert fragment in caught.value.body["message"]


def _load(emulator: PineconeEmulator, index: str, vectors: dict[str, list[float]]) -> None:
    pinecone_index_for(emulator, index).upsert(vectors=list(vectors.items()))


VECTORS = {
    "east": [1.0, 0.0, 0.0, 0.0],
    "north": [0.0, 2.0, 0.0, 0.0],
    "north-east": [3.0, 3.0, 0.0, 0.0],
    "west": [-1.0, 0.0, 0.0, 0.0],
}


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        # Cosine: direction only.
        ("cosine", [("east", 1.0), ("north-east", 0.70710677), ("north", 0.0), ("west", -1.0)]),
        # Dot product: direction and length.
        ("dotproduct", [("north-east", 6.0), ("east", 2.0), ("north", 0.0), ("west", -2.0)]),
        # Euclidean: the squared distance, closest (lowest) first.
        ("euclidean", [("east", 1.0), ("north", 8.0), ("west", 9.0), ("north-east", 10.0)]),
    ],
)
def test_metrics(
    make_pinecone_emulator: Callable[..., PineconeEmulator],
    metric: str,
    expected: list[tuple[str, float]],
) -> None:
    emulator = make_pinecone_emulator(indexes=[IndexSpec("m", 4, metric)])
    _load(emulator, "m", VECTORS)
    matches = pinecone_index_for(emulator, "m").query(vector=[2.0, 0.0, 0.0, 0.0], top_k=4).matches

    assert [(m.id, m.score) for m in matches] == [
        (vid, pytest.approx(score, rel=1e-6)) for vid, score in expected
    ]


def test_query_by_id_top_k_and_includes(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    rng = np.random.default_rng(5)
    data = {f"r{i}": rng.normal(size=8).astype(float).tolist() for i in range(50)}
    idx.upsert(vectors=[(vid, v, {"i": n}) for n, (vid, v) in enumerate(data.items())])

    bare = idx.query(id="r7", top_k=5)
    full = idx.query(id="r7", top_k=5, include_values=True, include_metadata=True)

    assert len(bare.matches) == 5
    assert bare.matches[0].id == "r7" and bare.matches[0].score == pytest.approx(1.0, rel=1e-6)
    assert bare.matches[0].values == [] and bare.matches[0].metadata is None
    assert [m.id for m in full.matches] == [m.id for m in bare.matches]
    assert full.matches[0].values == pytest.approx(data["r7"], rel=1e-6)
    assert full.matches[0].metadata == {"i": 7.0}
    # Brute force agrees on the ranking.
    matrix = np.array(list(data.values()), dtype=np.float32)
    q = matrix[7]
    cosine = matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q))
    assert [m.id for m in bare.matches] == [f"r{i}" for i in np.argsort(-cosine)[:5]]
    # An unknown ID, or an empty namespace, finds nothing rather than failing.
    assert idx.query(id="nope", top_k=3).matches == []
    assert idx.query(vector=[1.0] * 8, top_k=3, namespace="empty").matches == []


def test_hybrid_query_adds_the_sparse_dot_product(
    make_pinecone_emulator: Callable[..., PineconeEmulator],
) -> None:
    emulator = make_pinecone_emulator(indexes=[IndexSpec("h", 2, "dotproduct")])
    idx = pinecone_index_for(emulator, "h")
    idx.upsert(
        vectors=[
            {"id": "a", "values": [1.0, 0.0], "sparse_values": {"indices": [7], "values": [2.0]}},
            {"id": "b", "values": [1.0, 0.0]},
        ]
    )

    matches = idx.query(
        vector=[1.0, 0.0], sparse_vector={"indices": [7, 9], "values": [0.5, 1.0]}, top_k=2,
        include_values=True,
    ).matches  # fmt: skip

    assert [(m.id, m.score) for m in matches] == [("a", 2.0), ("b", 1.0)]
    assert matches[0].sparse_values is not None
    assert matches[0].sparse_values.indices == [7]
    fetched = idx.fetch(ids=["a"]).vectors["a"]
    assert fetched.sparse_values is not None and fetched.sparse_values.values == [2.0]
