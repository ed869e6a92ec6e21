"""Quotas, injected faults, latency and the counters of the Gemini emulator."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import aiohttp
import httpx
import httpx2
import pytest
from google import genai
from google.genai import errors, types

from emulators.gemini import GeminiEmulator, estimate_tokens
from tests.fixtures_gemini import GEMINI_TEST_KEY, genai_client_for

MODEL = "gemini-embedding-001"


def embed(client: genai.Client, contents: str | list[str]) -> None:
    client.models.embed_content(model=MODEL, contents=contents)


def raw_embed(emulator: GeminiEmulator, text: str = "x") -> httpx.Response:
    return httpx.post(
        f"{emulator.base_url}/v1/models/{MODEL}:batchEmbedContents",
        headers={"x-goog-api-key": GEMINI_TEST_KEY},
        json={"requests": [{"model": f"models/{MODEL}", "content": {"parts": [{"text": text}]}}]},
    )


def test_requests_beyond_the_rpm_quota_are_429_resource_exhausted(
    make_gemini_emulator: Callable[..., GeminiEmulator],
) -> None:
    emulator = make_gemini_emulator(rpm=2)
    client = genai_client_for(emulator)
    embed(client, "one")
    embed(client, "two")

    with pytest.raises(errors.ClientError) as caught:
        embed(client, "three")

    assert caught.value.code == 429
    assert caught.value.status == "RESOURCE_EXHAUSTED"
    assert caught.value.message == "Resource has been exhausted (e.g. check quota)."
    # The SDK does not retry by default: exactly three requests reached the server.
    assert emulator.stats()["requests"]["total"] == 3


def test_a_429_carries_retry_after_and_retry_info(
    make_gemini_emulator: Callable[..., GeminiEmulator],
) -> None:
    emulator = make_gemini_emulator(rpm=1)
    assert raw_embed(emulator).status_code == 200

    response = raw_embed(emulator)

    assert response.status_code == 429
    # One request a minute: the bucket needs a whole minute to hold a request again.
    assert 58 <= int(response.headers["Retry-After"]) <= 60
    details = response.json()["error"]["details"]
    retry = next(d for d in details if d["@type"].endswith("google.rpc.RetryInfo"))
    assert retry["retryDelay"] == f"{response.headers['Retry-After']}s"


def test_the_tpm_quota_counts_estimated_input_tokens(
    make_gemini_emulator: Callable[..., GeminiEmulator],
) -> None:
    emulator = make_gemini_emulator(tpm=10)
    assert raw_embed(emulator, "x" * 40).status_code == 200  # 10 tokens: the whole minute

    response = raw_embed(emulator, "y")

    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert emulator.stats()["requests"]["rate_limited"] == 1


def test_reset_refills_the_quotas(make_gemini_emulator: Callable[..., GeminiEmulator]) -> None:
    emulator = make_gemini_emulator(rpm=1)
    assert raw_embed(emulator).status_code == 200
    assert raw_embed(emulator).status_code == 429

    emulator.reset_stats()

    assert raw_embed(emulator).status_code == 200


def test_the_sdk_retries_a_429_only_when_asked_and_ignores_retry_after(
    make_gemini_emulator: Callable[..., GeminiEmulator],
) -> None:
    emulator = make_gemini_emulator(rpm=1)
    retry = types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.02)
    client = genai_client_for(emulator, retry_options=retry)
    embed(client, "first")

    with pytest.raises(errors.ClientError):
        embed(client, "second")

    # Three attempts within milliseconds although Retry-After asked for a minute.
    assert emulator.stats()["requests"]["rate_limited"] == 3


def test_injected_faults_surface_as_server_errors_429s_and_transport_errors(
    make_gemini_emulator: Callable[..., GeminiEmulator],
) -> None:
    emulator = make_gemini_emulator(fault_rate=1.0, seed=7)
    client = genai_client_for(emulator)
    seen: Counter[str] = Counter()

    for _ in range(40):
        try:
            embed(client, "unlucky")
        except errors.ServerError as error:
            seen[f"ServerError {error.code} {error.status}"] += 1
        except errors.ClientError as error:
            seen[f"ClientError {error.code} {error.status}"] += 1
        except httpx2.TransportError as error:
            # A dropped connection is not an APIError: it escapes as httpx2's own exception.
            seen[type(error).__name__] += 1

    assert set(seen) == {
        "ServerError 500 INTERNAL",
        "ServerError 503 UNAVAILABLE",
        "ClientError 429 RESOURCE_EXHAUSTED",
        "RemoteProtocolError",
    }
    faults = emulator.stats()["faults_by_kind"]
    assert sum(faults.values()) == 40
    assert faults["drop"] == seen["RemoteProtocolError"]


def test_the_control_endpoints_are_never_faulted(
    make_gemini_emulator: Callable[..., GeminiEmulator],
) -> None:
    emulator = make_gemini_emulator(fault_rate=1.0)

    with httpx.Client(base_url=emulator.base_url) as http:
        for _ in range(10):
            assert http.get("/_emulator/stats").status_code == 200


def test_latency_beyond_the_client_timeout_raises_httpx2_read_timeout(
    make_gemini_emulator: Callable[..., GeminiEmulator],
) -> None:
    emulator = make_gemini_emulator(latency_ms=300)
    client = genai_client_for(emulator, timeout=50)  # milliseconds

    with pytest.raises(httpx2.ReadTimeout):
        embed(client, "slow")


def test_the_async_client_uses_aiohttp_so_its_transport_errors_are_aiohttps(
    make_gemini_emulator: Callable[..., GeminiEmulator],
) -> None:
    """With aiohttp installed, `client.aio` sends through aiohttp, not httpx2: a dropped
    connection raises aiohttp's ServerDisconnectedError and a timeout the builtin TimeoutError.

    Without `retry_options` that path also replays a request once after a dropped connection,
    sleeping a random 1-10 s first; `HttpRetryOptions(attempts=1)` turns that off.
    """
    faulty = make_gemini_emulator(fault_rate=1.0, seed=7)
    slow = make_gemini_emulator(latency_ms=300)
    no_retry = types.HttpRetryOptions(attempts=1)

    async def scenario() -> set[object]:
        seen: set[object] = set()
        async with genai_client_for(faulty, retry_options=no_retry).aio as client:
            for _ in range(40):
                try:
                    await client.models.embed_content(model=MODEL, contents="unlucky")
                except errors.APIError as error:
                    seen.add(error.code)
                except aiohttp.ClientError as error:
                    seen.add(type(error).__name__)
        async with genai_client_for(slow, timeout=50, retry_options=no_retry).aio as client:
            try:
                await client.models.embed_content(model=MODEL, contents="slow")
            except TimeoutError:
                seen.add("TimeoutError")
        return seen

    assert asyncio.run(scenario()) == {500, 503, 429, "ServerDisconnectedError", "TimeoutError"}


def test_stats_count_outcomes_texts_tokens_models_and_sizes(
    gemini_emulator: GeminiEmulator, genai_client: genai.Client
) -> None:
    texts = ["a", "four", "seventeen chars!!"]
    genai_client.models.embed_content(
        model=MODEL, contents=texts, config=types.EmbedContentConfig(output_dimensionality=768)
    )
    embed(genai_client, "b")
    with pytest.raises(errors.ClientError):
        embed(genai_client, [""])

    stats = httpx.get(f"{gemini_emulator.base_url}/_emulator/stats").json()

    assert stats["requests"] == {
        "total": 3,
        "ok": 2,
        "rejected": 1,
        "rate_limited": 0,
        "faults": 0,
    }
    assert stats["rejected_by_status"] == {"400": 1}
    assert stats["texts"] == 4
    assert stats["tokens"] == sum(estimate_tokens(t) for t in [*texts, "b"]) == 1 + 1 + 5 + 1
    assert stats["by_model"] == {MODEL: {"requests": 2, "texts": 4, "tokens": 8}}
    assert stats["by_dimension"] == {"768": 3, "3072": 1}
    assert stats == gemini_emulator.stats()


def test_post_reset_zeroes_the_counters(
    gemini_emulator: GeminiEmulator, genai_client: genai.Client
) -> None:
    embed(genai_client, "counted")

    response = httpx.post(f"{gemini_emulator.base_url}/_emulator/reset")

    assert response.status_code == 200
    assert response.json()["requests"]["total"] == 0
    assert gemini_emulator.stats()["texts"] == 0
