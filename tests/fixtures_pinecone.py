"""Pytest fixtures that run the Pinecone emulator in-process for the real `pinecone` SDK.

`tests/conftest.py` star-imports this module. Each emulator serves its control plane and one
data plane per index on free loopback ports from a background thread, so tests talk to it over
real HTTP exactly as production code talks to Pinecone; no database is involved.

    def test_something(pinecone_emulator, pinecone_client):
        idx = pinecone_client.Index(name="src")        # resolved through describe_index
        idx.upsert(vectors=[("a", [0.1] * 8)])

The default emulator has rate limits OFF (so tests are not slowed by the serverless limits),
indexes `src` (8-d) and `dst` (16-d), both cosine, and keys `rw-key` / `ro-key` (read-only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pinecone import Index, Pinecone

from emulators.pinecone import IndexSpec, PineconeEmulator

__all__ = [
    "PINECONE_RO_KEY",
    "PINECONE_RW_KEY",
    "make_pinecone_emulator",
    "pinecone_client",
    "pinecone_emulator",
    "pinecone_index_for",
    "reset_pinecone_sdk_host_state",
]

PINECONE_RW_KEY = "rw-key"
PINECONE_RO_KEY = "ro-key"


def reset_pinecone_sdk_host_state() -> None:
    """Forget the SDK's per-host retry budget and admission gate.

    pinecone 10.2 keeps both process-wide, keyed by the bare host name without the port. Every
    emulator is `127.0.0.1`, so the 429s and faults one test provokes on purpose would otherwise
    drain the budget (retries stop below half of 100 tokens) and silently turn off retries in
    later tests. Private SDK API, hence the guards.
    """
    try:
        from pinecone._internal.http_client import get_budget_registry

        get_budget_registry()._reset()
    except (ImportError, AttributeError):  # pragma: no cover - other SDK versions
        pass
    try:
        from pinecone._internal.bulk import get_registry

        get_registry()._reset()
    except (ImportError, AttributeError):  # pragma: no cover - other SDK versions
        pass


def pinecone_index_for(
    emulator: PineconeEmulator, name: str = "src", *, api_key: str = PINECONE_RW_KEY
) -> Index:
    """An SDK `Index` on one of the emulator's data planes, by host (no describe call)."""
    return Index(host=emulator.index_host(name), api_key=api_key)


@pytest.fixture
def make_pinecone_emulator() -> Iterator[Callable[..., PineconeEmulator]]:
    """Factory: `make_pinecone_emulator(rate_limits={"upsert": 1}, ...)` starts an emulator
    (defaults as for `pinecone_emulator`, each overridable); all are stopped at teardown."""
    started: list[PineconeEmulator] = []

    def make(**kwargs: Any) -> PineconeEmulator:
        kwargs.setdefault("indexes", [IndexSpec("src", 8), IndexSpec("dst", 16)])
        kwargs.setdefault("api_keys", [PINECONE_RW_KEY])
        kwargs.setdefault("read_only_api_keys", [PINECONE_RO_KEY])
        kwargs.setdefault("rate_limits", False)
        emulator = PineconeEmulator(**kwargs).start_background()
        started.append(emulator)
        return emulator

    reset_pinecone_sdk_host_state()
    yield make
    for emulator in reversed(started):
        emulator.stop()
    reset_pinecone_sdk_host_state()


@pytest.fixture
def pinecone_emulator(make_pinecone_emulator: Callable[..., PineconeEmulator]) -> PineconeEmulator:
    """A fresh emulator for one test: `src` (8-d) and `dst` (16-d), cosine; keys `rw-key` and
    `ro-key` (read-only); no rate limits, latency or faults; in memory."""
    return make_pinecone_emulator()


@pytest.fixture
def pinecone_client(pinecone_emulator: PineconeEmulator) -> Iterator[Pinecone]:
    """The real `Pinecone` client (key `rw-key`) on `pinecone_emulator`'s control plane."""
    client = Pinecone(api_key=PINECONE_RW_KEY, host=pinecone_emulator.control_url)
    yield client
    client.close()
