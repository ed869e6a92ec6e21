"""Analysing a namespace takes memory bounded by batch size and concurrency, not by the
namespace's size: measured through the whole stack (services, SDK adapters, the pinecone SDK
over HTTP, the ORM), with the emulator in a separate process so its records are not counted.

`bench/analyze_memory.py` prints the numbers for larger namespaces (RSS and traced peaks).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from bench.analyze_memory import (
    NAMESPACE,
    EmulatorAddresses,
    analyse,
    pinecone_emulator_process,
    register,
    seed,
    traced_peak,
)
from tests.fixtures_pinecone import reset_pinecone_sdk_host_state

MIB = 1024 * 1024
WARMUP, LARGE = 500, 20_000
# Measured at 2.7-3.2 MiB for 5,000 to 100,000 records (the bench prints the numbers); what
# varies from run to run is how many batches are in flight at the peak (up to 2 x concurrency
# batches of 100 records, the target's with their vectors as Python floats). Holding every
# ID of both listings, the plan's "get all IDs, then compute set differences", would add
# 4-5 MiB at 20,000 records; fetching every record first, tens of MiB.
PEAK_BOUND = 6 * MIB


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorAddresses]:
    with pinecone_emulator_process() as addresses:
        seed(addresses.hosts, WARMUP, namespace="warmup")
        seed(addresses.hosts, LARGE, namespace=NAMESPACE)
        yield addresses


@pytest.mark.slow
@pytest.mark.django_db
def test_analysis_memory_stays_within_a_fixed_bound(
    emulator: EmulatorAddresses, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_pinecone_sdk_host_state()
    monkeypatch.setattr(settings, "DEBUG", False)  # DEBUG would keep every query in memory
    for variable in ("PINECONE_API_KEY", "PINECONE_SOURCE_API_KEY"):
        monkeypatch.delenv(variable, raising=False)  # register() sets them; undone at teardown
    rows = register(emulator.control_url, namespaces=("warmup", NAMESPACE))
    assert_analysed(analyse(rows["warmup"]), WARMUP)  # imports, SDK clients, first queries

    peak, run = traced_peak(lambda: analyse(rows[NAMESPACE]))

    assert_analysed(run, LARGE)
    assert peak < PEAK_BOUND, f"peak of {peak / MIB:.1f} MiB analysing {LARGE:,} records"


def assert_analysed(run: Any, records: int) -> None:
    assert run.total_source_vectors == records
    assert run.missing_in_target == records // 2
    changed = len(range(0, records, 200))  # see bench.analyze_memory.seed
    assert run.metadata_differs == changed
    assert run.diffs.count() == records // 2 + changed
