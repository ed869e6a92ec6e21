"""Every documented limit is enforced, and surfaces as the SDK exception the service causes.

Several limits are also checked by the SDK before it sends anything (list `limit`, ID rules on
plain tuples and dicts, nested metadata). For those the test shows both: the SDK's own refusal,
and the emulator's answer to the same request sent through the SDK's HTTP layer (`idx._http`,
which applies the SDK's status -> exception mapping), since other clients, or other SDK paths
such as `Vector` objects, do reach the server with them.
"""

from __future__ import annotations

from typing import Any

import pytest
from pinecone import Vector
from pinecone.errors import (
    ApiError,
    PayloadTooLargeError,
    PineconeTypeError,
    PineconeValueError,
)

from emulators.pinecone import PineconeEmulator
from tests.fixtures_pinecone import pinecone_index_for

ONES = [1.0] * 8


def _rejected(excinfo: pytest.ExceptionInfo[ApiError], status: int = 400) -> str:
    """The rpcStatus message of a rejected request, after checking its status and shape."""
    error = excinfo.value
    assert error.status_code == status
    assert isinstance(error.body, dict)
    assert set(error.body) == {"code", "message", "details"}
    assert error.body["code"] == (3 if status == 400 else error.body["code"])
    message: str = error.body["message"]
    return message


@pytest.mark.parametrize(
    ("vectors", "expected"),
    [
        pytest.param(
            [("a", [1.0] * 7)],
            "Vector dimension 7 does not match the dimension of the index 8 (vector ID 'a')",
            id="dimension",
        ),
        pytest.param(
            [("ok", ONES), ("zero", [0.0] * 7 + [1e-9])],
            "Dense vectors must contain at least one non-zero value. "
            "Vector ID 'zero' contains only zeros",
            id="zero-vector",
        ),
        pytest.param(
            [Vector(id="x" * 513, values=ONES)],
            "Vector ID exceeds the maximum length of 512 characters (got 513)",
            id="id-too-long",
        ),
        pytest.param(
            [Vector(id="caf\u00e9", values=ONES)],
            "Vector ID must contain only ASCII characters",
            id="id-not-ascii",
        ),
        pytest.param(
            [Vector(id="", values=ONES)],
            "Vector ID must not be empty",
            id="id-empty",
        ),
        pytest.param(
            [("a", ONES, {"$where": "x"})],
            "Metadata key '$where' is invalid",
            id="dollar-key",
        ),
        pytest.param(
            [("big", ONES, {"text": "x" * (40 * 1024)})],
            "Metadata size is 40971 bytes, which exceeds the limit of 40960 bytes per vector "
            "(vector ID 'big')",
            id="metadata-40kb",
        ),
        pytest.param(
            [(f"v{i}", ONES) for i in range(1001)],
            "Upsert request contains 1001 vectors, more than the maximum of 1000 per request",
            id="more-than-1000",
        ),
    ],
)
def test_upsert_limits_answer_400(
    pinecone_emulator: PineconeEmulator, vectors: list[Any], expected: str
) -> None:
    idx = pinecone_index_for(pinecone_emulator)

    with pytest.raises(ApiError) as caught:
        idx.upsert(vectors=vectors)

    assert expected in _rejected(caught)
    # The whole request is validated before anything is written.
    assert pinecone_emulator.vector_count("src") == 0


def test_metadata_at_exactly_40kb_is_accepted(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    text = "x" * (40 * 1024 - len('{"text":""}'))

    idx.upsert(vectors=[("edge", ONES, {"text": text})])

    assert idx.fetch(ids=["edge"]).vectors["edge"].metadata == {"text": text}


def test_an_upsert_over_2mb_is_payload_too_large(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator, "dst")
    # 900 records of ~2.35 KB of JSON each: ~2.1 MB, under the 1,000-vector limit.
    vectors = [(f"v{i}", [0.123456789012345] * 16, {"pad": "p" * 2000}) for i in range(900)]

    with pytest.raises(PayloadTooLargeError) as caught:
        idx.upsert(vectors=vectors)

    assert caught.value.status_code == 413
    assert "larger than the maximum supported size - 2MB" in caught.value.body["message"]
    assert pinecone_emulator.vector_count("dst") == 0
    # With batch_size the SDK does not raise (nor split the batch, for vectors): the 413 is
    # reported on the response, and the caller must resend smaller batches itself.
    response = idx.upsert(vectors=vectors, batch_size=900, show_progress=False)
    assert response.has_errors and response.upserted_count == 0
    assert isinstance(response.errors[0].error, PayloadTooLargeError)
    assert len(response.failed_items) == 900
    assert not idx.upsert(vectors=vectors, batch_size=450, show_progress=False).has_errors
    assert pinecone_emulator.vector_count("dst") == 900


def test_nested_metadata_is_refused_by_the_sdk_and_by_the_server(
    pinecone_emulator: PineconeEmulator,
) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    with pytest.raises(PineconeTypeError):
        idx.upsert(vectors=[("a", ONES, {"nested": {"a": 1}})])

    with pytest.raises(ApiError) as caught:
        idx._http.post(
            "/vectors/upsert",
            json={"vectors": [{"id": "a", "values": ONES, "metadata": {"nested": {"a": 1}}}]},
        )
    assert _rejected(caught) == (
        "Metadata value must be a string, number, boolean or list of strings, got "
        "'{\"a\":1.0}' for field 'nested' (vector ID 'a')"
    )
    with pytest.raises(ApiError):
        idx._http.post(
            "/vectors/upsert",
            json={"vectors": [{"id": "a", "values": ONES, "metadata": {"mixed": ["a", 1]}}]},
        )


def test_non_numeric_values_are_refused(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)

    with pytest.raises(ApiError) as caught:
        idx._http.post(
            "/vectors/upsert", json={"vectors": [{"id": "a", "values": [True, *ONES[1:]]}]}
        )

    assert "Expected `float`, got `bool` - at `$.vectors[0].values[0]`" in _rejected(caught)


@pytest.mark.parametrize("limit", [0, 101])
def test_list_limit_out_of_range(pinecone_emulator: PineconeEmulator, limit: int) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    with pytest.raises(PineconeValueError):
        idx.list_paginated(limit=limit)

    with pytest.raises(ApiError) as caught:
        idx._http.get("/vectors/list", params={"limit": limit})

    assert _rejected(caught) == (f"Invalid value for limit: {limit}, it must be between 1 and 100")


def test_list_rejects_a_forged_pagination_token(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    with pytest.raises(ApiError) as caught:
        idx.list_paginated(pagination_token="not-a-token")
    assert "Invalid pagination token" in _rejected(caught)


def test_fetch_of_more_than_1000_ids(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(vectors=[("v1", ONES)])

    with pytest.raises(ApiError) as caught:
        idx.fetch(ids=[f"v{i}" for i in range(1001)])

    assert _rejected(caught) == (
        "Too many IDs: fetch accepts at most 1000 IDs per request, got 1001"
    )
    # 1000 IDs of 60 characters (a ~64 KB query string) are fine. Longer lists of long IDs
    # never leave the client: httpx refuses a query string over 64 KB (httpx.InvalidURL).
    assert set(idx.fetch(ids=[f"v{i:04d}" + "x" * 55 for i in range(999)] + ["v1"]).vectors) == {
        "v1"
    }


def test_fetch_of_zero_or_illegal_ids(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    with pytest.raises(PineconeValueError):
        idx.fetch(ids=[])

    with pytest.raises(ApiError) as no_ids:
        idx._http.get("/vectors/fetch")
    with pytest.raises(ApiError) as too_long:
        idx._http.get("/vectors/fetch", params={"ids": ["y" * 513]})

    assert "No IDs provided" in _rejected(no_ids)
    assert "maximum length of 512" in _rejected(too_long)


def test_delete_of_more_than_1000_ids(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    with pytest.raises(ApiError) as caught:
        idx.delete(ids=[f"v{i}" for i in range(1001)])
    assert "accepts 1 to 1000 IDs per request, got 1001" in _rejected(caught)


def test_query_limits(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(vectors=[("a", ONES)])

    with pytest.raises(ApiError) as wrong_dimension:
        idx.query(vector=[1.0] * 3, top_k=1)
    with pytest.raises(PineconeValueError):
        idx.query(vector=ONES, top_k=10_001)
    with pytest.raises(ApiError) as top_k:
        idx._http.post("/query", json={"vector": ONES, "topK": 10_001})
    with pytest.raises(ApiError) as missing_top_k:
        idx._http.post("/query", json={"vector": ONES})

    assert "Query vector dimension 3 does not match the dimension of the index 8" in _rejected(
        wrong_dimension
    )
    assert "between 1 and 10000" in _rejected(top_k)
    assert "missing required field `topK`" in _rejected(missing_top_k)
    assert len(idx.query(vector=ONES, top_k=10_000).matches) == 1


def test_sparse_values_need_the_dotproduct_metric(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    with pytest.raises(ApiError) as caught:
        idx.upsert(
            vectors=[
                {"id": "a", "values": ONES, "sparse_values": {"indices": [1], "values": [0.5]}}
            ]
        )
    assert "only for indexes using the dotproduct metric" in _rejected(caught)


def test_unknown_routes_and_methods_answer_in_rpc_status_shape(
    pinecone_emulator: PineconeEmulator,
) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    with pytest.raises(ApiError) as missing:
        idx._http.get("/no/such/path")
    with pytest.raises(ApiError) as method:
        idx._http.delete("/vectors/list")
    assert missing.value.status_code == 404 and missing.value.body["code"] == 5
    assert method.value.status_code == 405 and method.value.body["code"] == 12
