"""`data_dir`: indexes survive a clean stop, and a kill loses at most the latest writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from emulators.pinecone import IndexSpec, PineconeEmulator
from emulators.pinecone.persistence import PersistenceError
from tests.fixtures_pinecone import PINECONE_RW_KEY, pinecone_index_for

REPO = Path(__file__).resolve().parents[2]


def test_everything_survives_a_clean_restart(
    make_pinecone_emulator: Callable[..., PineconeEmulator], tmp_path: Path
) -> None:
    first = make_pinecone_emulator(data_dir=tmp_path)
    idx = pinecone_index_for(first)
    idx.upsert(vectors=[(f"id-{n}", [n + 1.0] * 8, {"n": n}) for n in range(20)])
    idx.upsert(vectors=[("B9", [0.5] * 8), ("B10", [0.25] * 8)], namespace="other")
    idx.update(id="id-3", set_metadata={"tag": "updated"}, values=[9.0] * 8)
    idx.delete(ids=["id-0", "id-1"])
    idx.create_namespace(name="created-empty")
    idx.upsert(vectors=[("gone", [1.0] * 8)], namespace="dropped")
    idx.delete_namespace(name="dropped")
    pinecone_index_for(first, "dst").upsert(vectors=[("d", [1.0] * 16)])
    first.stop()

    second = make_pinecone_emulator(data_dir=tmp_path)
    again = pinecone_index_for(second)

    stats = again.describe_index_stats()
    assert {name: s.vector_count for name, s in stats.namespaces.items()} == {
        "__default__": 18,
        "created-empty": 0,
        "other": 2,
    }
    record = again.fetch(ids=["id-3"]).vectors["id-3"]
    assert record.values == [9.0] * 8
    assert record.metadata == {"n": 3.0, "tag": "updated"}
    assert again.fetch(ids=["id-0"]).vectors == {}
    assert [v.id for v in again.list_paginated(namespace="other").vectors] == ["B10", "B9"]
    assert again.query(vector=[1.0] * 8, top_k=1, namespace="other").matches[0].id in {
        "B9",
        "B10",
    }
    assert second.vector_count("dst") == 1
    # Writes after a restart are persisted too.
    again.upsert(vectors=[("late", [1.0] * 8)])
    second.stop()
    third = make_pinecone_emulator(data_dir=tmp_path)
    assert third.vector_count("src") == 19


def test_a_data_dir_for_another_shape_is_refused(
    make_pinecone_emulator: Callable[..., PineconeEmulator], tmp_path: Path
) -> None:
    make_pinecone_emulator(data_dir=tmp_path).stop()

    with pytest.raises(PersistenceError, match="dimension='8'"):
        make_pinecone_emulator(data_dir=tmp_path, indexes=[IndexSpec("src", 12)])


def _start_cli(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.pinecone", "--port", "0", "--index", "src:8",
         "--api-key", PINECONE_RW_KEY, "--data-dir", str(data_dir), *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines = [process.stdout.readline(), process.stdout.readline()]
    assert lines[0].startswith("pinecone control plane"), lines
    assert lines[1].startswith("pinecone index src"), lines
    return process, lines[1].split()[-1]


def _stop(process: subprocess.Popen[str], sig: int) -> None:
    os.kill(process.pid, sig)
    try:
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_sigkill_loses_at_most_the_last_flush_interval(tmp_path: Path) -> None:
    from pinecone import Index

    process, host = _start_cli(tmp_path, "--flush-interval", "0.05")
    try:
        idx = Index(host=host, api_key=PINECONE_RW_KEY)
        for n in range(10):
            idx.upsert(vectors=[(f"v{n}", [n + 1.0] * 8)])
        time.sleep(0.5)  # ten write-behind intervals
    finally:
        _stop(process, signal.SIGKILL)

    with PineconeEmulator([IndexSpec("src", 8)], data_dir=tmp_path) as emulator:
        assert emulator.vector_count("src") == 10


def test_sigterm_flushes_before_exiting(tmp_path: Path) -> None:
    from pinecone import Index

    # A write-behind interval far longer than the test: only the shutdown flush can save it.
    process, host = _start_cli(tmp_path, "--flush-interval", "60")
    try:
        Index(host=host, api_key=PINECONE_RW_KEY).upsert(vectors=[("kept", [1.0] * 8)])
    finally:
        _stop(process, signal.SIGTERM)

    assert process.returncode == 0
    with PineconeEmulator([IndexSpec("src", 8)], data_dir=tmp_path) as emulator:
        assert emulator.vector_count("src") == 1
