"""API keys: 401 for a missing or unknown key, 403 for writes with a read-only key."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pinecone import Pinecone
from pinecone.errors import ForbiddenError, UnauthorizedError

from emulators.pinecone import PineconeEmulator
from tests.fixtures_pinecone import PINECONE_RO_KEY, pinecone_index_for

ONES = [1.0] * 8


def test_an_unknown_key_is_unauthorized_everywhere(pinecone_emulator: PineconeEmulator) -> None:
    idx = pinecone_index_for(pinecone_emulator, api_key="stolen")
    with pytest.raises(UnauthorizedError) as data_plane:
        idx.fetch(ids=["a"])
    with pytest.raises(UnauthorizedError) as control_plane:
        Pinecone(api_key="stolen", host=pinecone_emulator.control_url).describe_index("src")

    # The data plane's gateway answers plain text; the control plane its JSON ErrorResponse.
    assert data_plane.value.status_code == 401
    assert data_plane.value.message == "Unauthorized"
    assert data_plane.value.body is None
    assert control_plane.value.body == {
        "error": {"code": "UNAUTHENTICATED", "message": "Invalid API key."},
        "status": 401,
    }


def test_a_missing_key_is_unauthorized(pinecone_emulator: PineconeEmulator) -> None:
    response = httpx.get(pinecone_emulator.index_host("src") + "/vectors/list")

    assert response.status_code == 401
    assert response.text == "Unauthorized"
    assert response.headers["content-type"].startswith("text/plain")
    assert httpx.get(pinecone_emulator.control_url + "/indexes").status_code == 401


def test_a_read_only_key_reads_but_cannot_write(pinecone_emulator: PineconeEmulator) -> None:
    pinecone_index_for(pinecone_emulator).upsert(vectors=[("a", ONES, {"k": "v"})])
    pinecone_emulator.reset_stats()
    reader = pinecone_index_for(pinecone_emulator, api_key=PINECONE_RO_KEY)

    assert set(reader.fetch(ids=["a"]).vectors) == {"a"}
    assert [v.id for v in reader.list_paginated().vectors] == ["a"]
    assert reader.query(vector=ONES, top_k=1).matches[0].id == "a"
    assert reader.describe_index_stats().total_vector_count == 1
    writes: list[Callable[[], object]] = [
        lambda: reader.upsert(vectors=[("b", ONES)]),
        lambda: reader.update(id="a", set_metadata={"k": "changed"}),
        lambda: reader.delete(ids=["a"]),
        lambda: reader.delete(delete_all=True),
        lambda: reader.delete_namespace(name="__default__"),
    ]
    for write in writes:
        with pytest.raises(ForbiddenError) as caught:
            write()
        assert caught.value.status_code == 403
        assert caught.value.body["code"] == 7

    # Nothing changed, and every refused write was still seen arriving.
    assert pinecone_emulator.vector_count("src") == 1
    stats = pinecone_emulator.stats()["indexes"]["src"]
    assert stats["writes_received"] == 5
    assert stats["responses"]["403"] == 5
    assert stats["vectors_written"] == 0
    assert stats["namespaces"]["__default__"]["writes_received"] == 5
    assert pinecone_emulator.stats()["indexes"]["dst"]["writes_received"] == 0


def test_a_read_only_key_may_use_the_control_plane(pinecone_emulator: PineconeEmulator) -> None:
    pc = Pinecone(api_key=PINECONE_RO_KEY, host=pinecone_emulator.control_url)

    assert pc.describe_index("src").name == "src"
    assert pc.Index(name="dst").describe_index_stats().dimension == 16


def test_without_configured_keys_any_non_empty_key_is_accepted(
    make_pinecone_emulator: Callable[..., PineconeEmulator],
) -> None:
    emulator = make_pinecone_emulator(api_keys=None, read_only_api_keys=None)

    assert pinecone_index_for(emulator, api_key="anything").upsert(vectors=[("a", ONES)])
    assert httpx.get(emulator.index_host("src") + "/vectors/list").status_code == 401
