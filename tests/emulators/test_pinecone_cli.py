"""The command line: flag parsing, composition into a parent parser, port layout."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from emulators.pinecone import IndexSpec, PineconeEmulator, add_arguments, from_args
from emulators.pinecone.cli import build_parser, parse_index, parse_rate_limit
from tests.ports import free_port_run


def test_index_and_rate_limit_flags() -> None:
    assert parse_index("src:8") == IndexSpec("src", 8, "cosine")
    assert parse_index("dst:3072:dotproduct") == IndexSpec("dst", 3072, "dotproduct")
    for bad in ("src", "src:x", "src:8:manhattan", "Src:8", "a:8:cosine:x"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_index(bad)
    assert parse_rate_limit("upsert=5") == ("upsert", 5.0)
    assert parse_rate_limit("query=off") == ("query", None)
    assert parse_rate_limit("fetch=0") == ("fetch", None)
    for bad in ("upsert", "search=1", "upsert=fast"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_rate_limit(bad)


def test_from_args_builds_the_emulator_the_flags_describe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PINECONE_EMULATOR_READ_ONLY_API_KEYS", "ro1, ro2")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--index", "src:8", "--index", "dst:16:euclidean", "--api-key", "k1",
         "--api-key", "k2", "--latency-ms", "5", "--fault-rate", "0.1",
         "--rate-limit", "upsert=3", "--rate-limit", "query=off", "--seed", "7"]
    )  # fmt: skip

    emulator = from_args(args)

    assert (args.host, args.port) == ("127.0.0.1", 5080)
    assert emulator.index_names() == ["src", "dst"]
    settings = emulator._settings
    assert settings.access.read_write == {"k1", "k2"}
    assert settings.access.read_only == {"ro1", "ro2"}
    assert (settings.latency_ms, settings.fault_rate) == (5.0, 0.1)
    assert settings.rate_limits["upsert"] == 3.0 and settings.rate_limits["query"] is None
    assert settings.rate_limits["fetch"] == 100.0
    no_limits = from_args(build_parser().parse_args(["--index", "a:2", "--no-rate-limits"]))
    assert set(no_limits._settings.rate_limits.values()) == {None}


def test_flags_are_validated() -> None:
    parser = build_parser()
    for argv in (
        [],
        ["--index", "a:2", "--fault-rate", "1.5"],
        ["--index", "a:2", "--latency-ms", "-1"],
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)


def test_a_fixed_port_puts_index_i_on_port_plus_one_plus_i() -> None:
    base = free_port_run(3)
    emulator = PineconeEmulator([IndexSpec("a", 2), IndexSpec("b", 2)], rate_limits=False)

    async def scenario() -> tuple[str, str, str]:
        await emulator.start("127.0.0.1", base)
        try:
            return emulator.control_url, emulator.index_host("a"), emulator.index_host("b")
        finally:
            await emulator.close()

    assert asyncio.run(scenario()) == (
        f"http://127.0.0.1:{base}",
        f"http://127.0.0.1:{base + 1}",
        f"http://127.0.0.1:{base + 2}",
    )


def test_binding_all_interfaces_advertises_loopback() -> None:
    with PineconeEmulator([IndexSpec("a", 2)]).start_background("0.0.0.0", 0) as emulator:
        assert emulator.index_host("a").startswith("http://127.0.0.1:")
    with PineconeEmulator([IndexSpec("a", 2)], public_host="pc.localhost") as emulator:
        assert emulator.control_url.startswith("http://pc.localhost:")
