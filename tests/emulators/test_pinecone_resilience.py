"""Rate limits (429 + Retry-After), injected faults and latency, as the SDK experiences them."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from pinecone.errors import RateLimitError

from emulators.pinecone import DEFAULT_RATE_LIMITS, PineconeEmulator
from emulators.pinecone.emulator import resolve_rate_limits
from tests.fixtures_pinecone import PINECONE_RW_KEY, pinecone_index_for

ONES = [1.0] * 8


def test_the_sdk_honours_retry_after_and_succeeds(
    make_pinecone_emulator: Callable[..., PineconeEmulator],
) -> None:
    emulator = make_pinecone_emulator(rate_limits={"upsert": 1.0})
    idx = pinecone_index_for(emulator)
    idx.upsert(vectors=[("a", ONES)])

    started = time.monotonic()
    idx.upsert(vectors=[("b", ONES)])  # 429 first, then retried after Retry-After
    elapsed = time.monotonic() - started

    assert elapsed >= 0.9
    assert emulator.vector_count("src") == 2
    stats = emulator.stats()["indexes"]["src"]
    assert stats["rate_limited"] == 1
    assert stats["responses"] == {"200": 2, "429": 1}
    assert stats["writes_received"] == 3


def test_the_429_is_plain_text_with_an_integer_retry_after(
    make_pinecone_emulator: Callable[..., PineconeEmulator],
) -> None:
    emulator = make_pinecone_emulator(rate_limits={"fetch": 0.5})
    url = emulator.index_host("src") + "/vectors/fetch?ids=a"
    headers = {"Api-Key": PINECONE_RW_KEY}

    assert httpx.get(url, headers=headers).status_code == 200
    limited = httpx.get(url, headers=headers)

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.headers["content-type"].startswith("text/plain")
    assert "fetch is limited to 0.5 requests per second per index" in limited.text


def test_rate_limit_error_when_retries_are_exhausted(
    make_pinecone_emulator: Callable[..., PineconeEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK's documented seam for its retry sleeps: skip the waits, keep the 4 attempts.
    monkeypatch.setattr("pinecone._internal.http_client._retry_sleep", lambda seconds: None)
    emulator = make_pinecone_emulator(rate_limits={"query": 0.5})
    idx = pinecone_index_for(emulator)
    idx.upsert(vectors=[("a", ONES)])
    idx.query(vector=ONES, top_k=1)

    with pytest.raises(RateLimitError) as caught:
        idx.query(vector=ONES, top_k=1)

    assert caught.value.status_code == 429
    assert caught.value.retry_after == 2.0
    assert emulator.stats()["indexes"]["src"]["rate_limited"] == 4
    # reset_stats() also refills the buckets.
    emulator.reset_stats()
    assert idx.query(vector=ONES, top_k=1).matches[0].id == "a"


def test_per_namespace_and_per_index_limits(
    make_pinecone_emulator: Callable[..., PineconeEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pinecone._internal.http_client._retry_sleep", lambda seconds: None)
    emulator = make_pinecone_emulator(rate_limits={"upsert": 0.5, "list": 0.5})
    idx = pinecone_index_for(emulator)

    # Upsert is limited per namespace: one each in two namespaces is fine...
    idx.upsert(vectors=[("a", ONES)], namespace="one")
    idx.upsert(vectors=[("a", ONES)], namespace="two")
    with pytest.raises(RateLimitError):
        idx.upsert(vectors=[("b", ONES)], namespace="one")
    # ...list is limited per index, across namespaces.
    idx.list_paginated(namespace="one")
    with pytest.raises(RateLimitError):
        idx.list_paginated(namespace="two")


def test_the_upsert_byte_rate_limit(
    make_pinecone_emulator: Callable[..., PineconeEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pinecone._internal.http_client._retry_sleep", lambda seconds: None)
    emulator = make_pinecone_emulator(rate_limits={"upsert_bytes": 2000})
    idx = pinecone_index_for(emulator)

    idx.upsert(vectors=[(f"v{i}", ONES) for i in range(20)])  # ~1.4 KB
    with pytest.raises(RateLimitError, match="MB of request bodies per second"):
        idx.upsert(vectors=[(f"w{i}", ONES) for i in range(20)])


def test_rate_limit_settings() -> None:
    assert resolve_rate_limits(None) == DEFAULT_RATE_LIMITS
    assert DEFAULT_RATE_LIMITS["fetch"] == 100 and DEFAULT_RATE_LIMITS["list"] == 200
    assert DEFAULT_RATE_LIMITS["upsert_bytes"] == 50 * 1024 * 1024
    assert set(resolve_rate_limits(False).values()) == {None}
    overridden = resolve_rate_limits({"query": 5, "fetch": None, "list": 0})
    assert (overridden["query"], overridden["fetch"], overridden["list"]) == (5.0, None, None)
    assert overridden["upsert"] == 100
    with pytest.raises(ValueError, match="unknown rate-limit operation"):
        resolve_rate_limits({"search": 1})


def test_traffic_succeeds_through_sdk_retries_despite_faults(
    make_pinecone_emulator: Callable[..., PineconeEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keep the backoff real but short, so the test stays quick.
    monkeypatch.setattr(
        "pinecone._internal.http_client._retry_sleep", lambda seconds: time.sleep(0.01)
    )
    emulator = make_pinecone_emulator(fault_rate=0.15, seed=11)
    idx = pinecone_index_for(emulator)

    for n in range(30):
        idx.upsert(vectors=[(f"v{n}", [float(n + 1)] * 8, {"n": n})])
    for n in range(30):
        assert idx.fetch(ids=[f"v{n}"]).vectors[f"v{n}"].metadata == {"n": float(n)}

    assert emulator.vector_count("src") == 30
    stats = emulator.stats()["indexes"]["src"]
    assert stats["faults_injected"] >= 3
    responses = stats["responses"]
    injected = responses.get("500", 0) + responses.get("503", 0) + responses.get("429", 0)
    # Dropped connections have no response; all other faults are 500/503/429 answers.
    assert injected <= stats["faults_injected"]
    assert stats["writes_received"] >= 30
    # Faults are for the data plane only.
    assert emulator.stats()["control"]["requests_total"] == 0


def test_faults_are_reproducible_with_a_seed(
    make_pinecone_emulator: Callable[..., PineconeEmulator],
) -> None:
    def statuses(seed: int) -> list[int]:
        emulator = make_pinecone_emulator(fault_rate=0.5, seed=seed)
        url = emulator.index_host("src") + "/describe_index_stats"
        out = []
        with httpx.Client(headers={"Api-Key": PINECONE_RW_KEY}) as client:
            for _ in range(20):
                try:
                    out.append(client.post(url, json={}).status_code)
                except httpx.TransportError:
                    out.append(0)  # dropped connection
        return out

    first = statuses(42)
    assert first == statuses(42)
    assert {0, 200, 429, 500, 503} >= set(first) and len(set(first)) >= 3


def test_latency_is_added_to_every_request(
    make_pinecone_emulator: Callable[..., PineconeEmulator],
) -> None:
    emulator = make_pinecone_emulator(latency_ms=150, seed=1)
    idx = pinecone_index_for(emulator)
    idx.describe_index_stats()  # connection set up

    started = time.monotonic()
    for _ in range(3):
        idx.describe_index_stats()
    per_request = (time.monotonic() - started) / 3

    assert 0.11 <= per_request < 1.0  # 150 ms +/- 25% jitter
    # The observability endpoint is exempt.
    started = time.monotonic()
    httpx.get(emulator.index_host("src") + "/_emulator/health")
    assert time.monotonic() - started < 0.11
