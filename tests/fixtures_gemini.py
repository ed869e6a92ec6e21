"""Pytest fixtures that run the Gemini embeddings emulator in-process for the real SDK.

`tests/conftest.py` star-imports this module. The emulator answers on a free loopback port from
a background thread, so tests talk to it over real HTTP exactly as production code talks to
Google; no database is involved.

    def test_something(genai_client):
        response = genai_client.models.embed_content(model="gemini-embedding-001", contents="hi")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google import genai
from google.genai import types

from emulators.gemini import GeminiEmulator

__all__ = [
    "GEMINI_TEST_KEY",
    "gemini_emulator",
    "genai_client",
    "genai_client_for",
    "make_gemini_emulator",
]

GEMINI_TEST_KEY = "gem-key"


def genai_client_for(
    emulator: GeminiEmulator,
    *,
    api_key: str = GEMINI_TEST_KEY,
    api_version: str = "v1",
    **http_options: Any,
) -> genai.Client:
    """A `genai.Client` aimed at `emulator`. Extra keywords go to `types.HttpOptions`
    (e.g. `timeout=` in milliseconds, `retry_options=`)."""
    return genai.Client(
        # Explicit, so GOOGLE_GENAI_USE_VERTEXAI in a developer's shell cannot reroute the tests.
        vertexai=False,
        api_key=api_key,
        http_options=types.HttpOptions(
            base_url=emulator.base_url, api_version=api_version, **http_options
        ),
    )


@pytest.fixture
def make_gemini_emulator() -> Iterator[Callable[..., GeminiEmulator]]:
    """Factory: `make_gemini_emulator(rpm=2, ...)` starts an emulator (key `gem-key` unless
    `api_keys=` is given); every one started is stopped at teardown."""
    started: list[GeminiEmulator] = []

    def make(**kwargs: Any) -> GeminiEmulator:
        kwargs.setdefault("api_keys", [GEMINI_TEST_KEY])
        emulator = GeminiEmulator(**kwargs).start_background()
        started.append(emulator)
        return emulator

    yield make
    for emulator in reversed(started):
        emulator.stop()


@pytest.fixture
def gemini_emulator(make_gemini_emulator: Callable[..., GeminiEmulator]) -> GeminiEmulator:
    """A fresh emulator for one test: key `gem-key`, no rate limit, no latency, no faults."""
    return make_gemini_emulator()


@pytest.fixture
def genai_client(gemini_emulator: GeminiEmulator) -> Iterator[genai.Client]:
    """The real google-genai client, API version v1, pointed at `gemini_emulator`."""
    client = genai_client_for(gemini_emulator)
    yield client
    client.close()
