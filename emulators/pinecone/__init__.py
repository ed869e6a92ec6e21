"""Local emulator of Pinecone serverless, for the real `pinecone` SDK over real HTTP.

* Control plane: `GET /indexes`, `GET /indexes/{name}` in the API 2026-07 shape the SDK 10.x
  parses (or the 2026-04 shape when that version is asked for), with `http://` hosts so
  `Pinecone(host=emu.control_url).Index(name=...)` talks plain HTTP to the data plane.
* One data plane per index, on its own port: list, fetch, fetch_by_metadata, upsert, update,
  delete, query, describe_index_stats, namespaces; the service's limits, error shapes, rate
  limits (`Retry-After`), optional latency, injected faults and persistence.
* Observability under `/_emulator/` on every plane (shape documented in
  `emulators.pinecone.stats`).

    from emulators.pinecone import IndexSpec, PineconeEmulator

    emu = PineconeEmulator(indexes=[IndexSpec("src", 8)], api_keys=["rw-key"]).start_background()
    pc = Pinecone(api_key="rw-key", host=emu.control_url)
    idx = pc.Index(name="src")
    ...
    emu.stop()

This package imports nothing from Django.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from emulators.pinecone.emulator import (
    NO_RATE_LIMITS,
    IndexSpec,
    PineconeEmulator,
    resolve_rate_limits,
)
from emulators.pinecone.server import DEFAULT_RATE_LIMITS

# The command-line entry points are imported on call, so that `python -m
# emulators.pinecone.cli` does not find its own module already imported by the package.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's flags to `parser` (see `emulators.pinecone.cli`)."""
    from emulators.pinecone import cli

    cli.add_arguments(parser)


def from_args(args: argparse.Namespace) -> PineconeEmulator:
    """Build (not start) the emulator that flags parsed by `add_arguments` describe."""
    from emulators.pinecone import cli

    return cli.from_args(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, serve until Ctrl-C/SIGTERM, print one line per plane."""
    from emulators.pinecone import cli

    return cli.main(argv)


__all__ = [
    "DEFAULT_RATE_LIMITS",
    "NO_RATE_LIMITS",
    "IndexSpec",
    "PineconeEmulator",
    "add_arguments",
    "from_args",
    "main",
    "resolve_rate_limits",
]
