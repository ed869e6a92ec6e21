"""Command line: `python -m emulators.gemini --port 5090 --api-key gem-key`.

`add_arguments` / `from_args` take a `prefix` so that a combined command can host several
emulators in one parser: `prefix="gemini-"` gives `--gemini-port`, `--gemini-api-key`, ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .server import GeminiEmulator

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5090
DEFAULT_API_KEY = "gem-key"
DEFAULT_RPM = 3000.0
"""Google's paid tier 1 allows about 3,000 embedding requests a minute per project."""


def _non_negative(value: str) -> float:
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return number


def _fraction(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {value}")
    return number


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Add the emulator's options to `parser`, each named `--{prefix}<option>`."""
    group = parser.add_argument_group("Gemini embeddings emulator")
    dest = prefix.replace("-", "_")
    group.add_argument(
        f"--{prefix}host",
        dest=f"{dest}host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST})",
    )
    group.add_argument(
        f"--{prefix}port",
        dest=f"{dest}port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on, 0 for any free port (default {DEFAULT_PORT})",
    )
    group.add_argument(
        f"--{prefix}api-key",
        dest=f"{dest}api_key",
        action="append",
        metavar="KEY",
        help=f"accepted API key, repeatable (default {DEFAULT_API_KEY!r})",
    )
    group.add_argument(
        f"--{prefix}rpm",
        dest=f"{dest}rpm",
        type=_non_negative,
        default=DEFAULT_RPM,
        help=f"requests per minute per model, 0 for no limit (default {DEFAULT_RPM:g})",
    )
    group.add_argument(
        f"--{prefix}tpm",
        dest=f"{dest}tpm",
        type=_non_negative,
        default=0.0,
        help="estimated input tokens per minute per model, 0 for no limit (default 0)",
    )
    group.add_argument(
        f"--{prefix}latency-ms",
        dest=f"{dest}latency_ms",
        type=_non_negative,
        default=0.0,
        help="added delay per API call in milliseconds, +/- 25%% (default 0)",
    )
    group.add_argument(
        f"--{prefix}fault-rate",
        dest=f"{dest}fault_rate",
        type=_fraction,
        default=0.0,
        help="fraction of API calls answered 500/503/429 or dropped (default 0)",
    )
    group.add_argument(
        f"--{prefix}seed",
        dest=f"{dest}seed",
        type=int,
        default=None,
        help="seed for the fault sequence, for reproducible runs",
    )


def from_args(args: argparse.Namespace, prefix: str = "") -> GeminiEmulator:
    """Build an (unstarted) emulator from options added by `add_arguments(parser, prefix)`.

    The host and port stay on `args` (`{prefix}host`, `{prefix}port`) for `start()`.
    """
    dest = prefix.replace("-", "_")

    def option(name: str) -> Any:
        return getattr(args, f"{dest}{name}")

    rpm = float(option("rpm"))
    tpm = float(option("tpm"))
    seed = option("seed")
    return GeminiEmulator(
        api_keys=list(option("api_key") or [DEFAULT_API_KEY]),
        rpm=rpm or None,
        tpm=tpm or None,
        latency_ms=float(option("latency_ms")),
        fault_rate=float(option("fault_rate")),
        seed=None if seed is None else int(seed),
    )


async def _serve(emulator: GeminiEmulator, host: str, port: int) -> None:
    await emulator.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows' default loop; Ctrl-C then arrives as KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    keys = "any key" if emulator.api_keys is None else f"{len(emulator.api_keys)} API key(s)"
    print(
        f"Gemini embeddings emulator on {emulator.base_url} "
        f"(rpm={emulator.rpm or 'unlimited'}, tpm={emulator.tpm or 'unlimited'}, {keys}); "
        "Ctrl-C to stop",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await emulator.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.gemini",
        description="Local emulator of the Gemini embeddings API (gemini-embedding-001) for "
        "google-genai. Vectors are deterministic pseudo-random, not semantic.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    emulator = from_args(args)
    try:
        asyncio.run(_serve(emulator, args.host, args.port))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        print(f"cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
