"""The observability endpoint `/_emulator/stats` and `emu.stats()`."""

from __future__ import annotations

import httpx

from emulators.pinecone import PineconeEmulator
from tests.fixtures_pinecone import pinecone_index_for

ONES = [1.0] * 8


def test_counters_by_index_namespace_and_operation(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(vectors=[(f"v{i}", ONES, {"i": i}) for i in range(5)], namespace="ns")
    idx.fetch(ids=["v0", "v1", "missing"], namespace="ns")
    idx.list_paginated(namespace="ns")
    idx.query(vector=ONES, top_k=3, namespace="ns")
    idx.update(id="v0", set_metadata={"x": 1}, namespace="ns")
    idx.delete(ids=["v4"], namespace="ns")
    idx.describe_index_stats()

    stats = pinecone_emulator.stats()
    src = stats["indexes"]["src"]
    assert src["requests"] == {
        "upsert": 1,
        "fetch": 1,
        "list": 1,
        "query": 1,
        "update": 1,
        "delete": 1,
        "describe_index_stats": 1,
    }
    assert src["requests_total"] == 7
    assert src["responses"] == {"200": 7}
    assert src["writes_received"] == 3
    assert src["vectors_written"] == 6  # 5 upserted + 1 updated
    assert src["vectors_deleted"] == 1
    assert src["vectors_read"] == 2 + 5 + 3  # fetched + listed + matched
    assert src["bytes_in"] > 0 and src["bytes_out"] > 0
    assert (src["rate_limited"], src["faults_injected"]) == (0, 0)
    ns = src["namespaces"]["ns"]
    # describe_index_stats is index-wide, so the namespace saw one request fewer.
    assert ns["requests_total"] == 6 and ns["writes_received"] == 3
    assert ns["vectors_read"] == 10
    assert "namespaces" not in ns
    assert stats["indexes"]["dst"]["requests_total"] == 0


def test_the_http_endpoint_matches_and_needs_no_key(pinecone_emulator: PineconeEmulator) -> None:
    pinecone_index_for(pinecone_emulator).upsert(vectors=[("a", ONES)])

    from_control = httpx.get(pinecone_emulator.control_url + "/_emulator/stats").json()
    from_data = httpx.get(pinecone_emulator.index_host("dst") + "/_emulator/stats").json()

    assert from_control == from_data == pinecone_emulator.stats()
    assert from_control["indexes"]["src"]["namespaces"]["__default__"]["writes_received"] == 1
    # Observability requests are not counted themselves.
    assert from_control["indexes"]["dst"]["requests_total"] == 0


def test_reset_over_http_and_in_python(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator)
    idx.upsert(vectors=[("a", ONES)])

    response = httpx.post(pinecone_emulator.index_host("src") + "/_emulator/reset")
    assert response.json() == {"reset": True}
    after_http = pinecone_emulator.stats()["indexes"]["src"]
    idx.fetch(ids=["a"])
    pinecone_emulator.reset_stats()

    assert after_http["requests_total"] == 0 and after_http["namespaces"] == {}
    assert pinecone_emulator.stats()["indexes"]["src"]["requests_total"] == 0
    # Resetting counters does not touch the data.
    assert pinecone_emulator.vector_count("src") == 1


def test_control_plane_counters(pinecone_emulator: PineconeEmulator) -> None:
    headers = {"Api-Key": "rw-key"}
    httpx.get(pinecone_emulator.control_url + "/indexes", headers=headers)
    httpx.get(pinecone_emulator.control_url + "/indexes/src", headers=headers)
    httpx.get(pinecone_emulator.control_url + "/indexes/nope", headers=headers)

    control = pinecone_emulator.stats()["control"]

    assert control["requests"] == {"list_indexes": 1, "describe_index": 2}
    assert control["responses"] == {"200": 2, "404": 1}
    assert control["bytes_out"] > 0
