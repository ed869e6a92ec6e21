"""The Gemini emulator's command line and its lifecycle outside pytest fixtures."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from emulators.gemini import GeminiEmulator, add_arguments, from_args

ROOT = Path(__file__).resolve().parents[2]


def test_flags_take_a_prefix_for_a_combined_command() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, prefix="gemini-")

    args = parser.parse_args(
        ["--gemini-port", "0", "--gemini-api-key", "a", "--gemini-api-key", "b",
         "--gemini-tpm", "1000", "--gemini-fault-rate", "0.5", "--gemini-seed", "3"]
    )  # fmt: skip
    emulator = from_args(args, prefix="gemini-")

    assert (args.gemini_host, args.gemini_port) == ("127.0.0.1", 0)
    assert emulator.api_keys == frozenset({"a", "b"})
    assert (emulator.rpm, emulator.tpm) == (3000.0, 1000.0)  # paid tier 1 by default
    assert (emulator.fault_rate, emulator.seed) == (0.5, 3)


def test_zero_rpm_on_the_command_line_means_no_limit() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    emulator = from_args(parser.parse_args(["--rpm", "0"]))

    assert emulator.rpm is None and emulator.tpm is None
    assert emulator.api_keys == frozenset({"gem-key"})


def test_bad_settings_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="fault_rate"):
        GeminiEmulator(fault_rate=2)
    with pytest.raises(ValueError, match="rpm"):
        GeminiEmulator(rpm=0)


def test_the_async_api_serves_on_the_callers_loop() -> None:
    async def scenario() -> int:
        emulator = await GeminiEmulator().start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient() as client:
                response = await client.get(f"{emulator.base_url}/_emulator/stats")
            return response.status_code
        finally:
            await emulator.close()

    assert asyncio.run(scenario()) == 200


def test_main_prints_the_base_url_and_stops_cleanly_on_ctrl_c() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "emulators.gemini", "--port", "0", "--api-key", "k"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            base_url = line.split(" on ", 1)[1].split(" ", 1)[0]
            assert base_url.startswith("http://127.0.0.1:")
            assert httpx.get(f"{base_url}/_emulator/stats").json()["limits"]["rpm"] == 3000.0

            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
