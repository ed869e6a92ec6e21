"""Command line of the Pinecone emulator.

`python -m emulators pinecone ...` (composed in `emulators/__main__.py` from `add_arguments`
and `from_args`) and `python -m emulators.pinecone[.cli] ...` (`main`) take the same flags::

    python -m emulators.pinecone --port 5080 --index src:8 --index dst:3072:dotproduct \\
        --api-key rw-key --read-only-api-key ro-key --data-dir var/pinecone

The control plane listens on --port, index i (in --index order) on --port + 1 + i; --port 0
puts every plane on a free port. Each started plane is printed on its own line. API keys may
also come from PINECONE_EMULATOR_API_KEYS / PINECONE_EMULATOR_READ_ONLY_API_KEYS (comma
separated) when no flag gives them; with no key configured at all any non-empty key is
accepted (a missing one is still 401).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from emulators._runtime import serve_forever
from emulators.pinecone.emulator import IndexSpec, PineconeEmulator
from emulators.pinecone.server import DEFAULT_RATE_LIMITS
from emulators.pinecone.validation import METRICS

DEFAULT_PORT = 5080
API_KEYS_ENV = "PINECONE_EMULATOR_API_KEYS"
READ_ONLY_API_KEYS_ENV = "PINECONE_EMULATOR_READ_ONLY_API_KEYS"


def parse_index(text: str) -> IndexSpec:
    """`NAME:DIMENSION[:METRIC]`, metric cosine by default."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(
            f"expected NAME:DIMENSION[:METRIC], got {text!r} (metric: {', '.join(METRICS)})"
        )
    try:
        dimension = int(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"dimension must be an integer in {text!r}") from None
    try:
        return IndexSpec(parts[0], dimension, parts[2] if len(parts) == 3 else "cosine")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_rate_limit(text: str) -> tuple[str, float | None]:
    """`OP=N`: N requests per second (bytes per second for upsert_bytes); 0 or `off` disables."""
    op, sep, value = text.partition("=")
    if not sep or op not in DEFAULT_RATE_LIMITS:
        raise argparse.ArgumentTypeError(
            f"expected OP=N with OP one of {', '.join(DEFAULT_RATE_LIMITS)}, got {text!r}"
        )
    if value.strip().lower() in ("off", "none", "0"):
        return op, None
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"rate must be a number in {text!r}") from None
    return op, rate if rate > 0 else None


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the Pinecone emulator's flags to `parser` (dests: host, port, indexes, ...)."""
    group = parser.add_argument_group("Pinecone emulator")
    group.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    group.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"control-plane port; index i listens on PORT+1+i; 0 = free ports "
        f"(default {DEFAULT_PORT})",
    )
    group.add_argument(
        "--index",
        dest="indexes",
        action="append",
        type=parse_index,
        required=True,
        metavar="NAME:DIMENSION[:METRIC]",
        help=f"an index to serve (repeatable); METRIC one of {', '.join(METRICS)}, default cosine",
    )
    group.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        default=None,
        metavar="KEY",
        help=f"read-write API key (repeatable; default from ${API_KEYS_ENV})",
    )
    group.add_argument(
        "--read-only-api-key",
        dest="read_only_api_keys",
        action="append",
        default=None,
        metavar="KEY",
        help=f"API key that may read but gets 403 on writes (repeatable; default from "
        f"${READ_ONLY_API_KEYS_ENV})",
    )
    group.add_argument(
        "--latency-ms",
        type=_non_negative,
        default=0.0,
        metavar="MS",
        help="added to every request, +/- 25%% jitter (default 0)",
    )
    group.add_argument(
        "--fault-rate",
        type=_fraction,
        default=0.0,
        metavar="F",
        help="fraction of data-plane requests answered 500/503/429 or dropped (default 0)",
    )
    group.add_argument(
        "--rate-limit",
        dest="rate_limit_overrides",
        action="append",
        type=parse_rate_limit,
        default=[],
        metavar="OP=N",
        help="override one rate limit (repeatable); OP one of "
        f"{', '.join(DEFAULT_RATE_LIMITS)}; N per second, 0/off to disable",
    )
    group.add_argument("--no-rate-limits", action="store_true", help="disable every rate limit")
    group.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="persist indexes in DIR (one SQLite file per index); default in memory",
    )
    group.add_argument(
        "--flush-interval",
        type=_non_negative,
        default=0.05,
        metavar="SECONDS",
        help="persistence write-behind interval: the most a kill can lose (default 0.05)",
    )
    group.add_argument(
        "--seed", type=int, default=None, help="seed for fault injection and latency jitter"
    )
    group.add_argument(
        "--public-host",
        default=None,
        metavar="HOST",
        help="host name put in index URLs (default --host; 127.0.0.1 when binding 0.0.0.0)",
    )


def _keys(flag: Sequence[str] | None, env: str) -> list[str]:
    if flag:
        return list(flag)
    return [key.strip() for key in os.environ.get(env, "").split(",") if key.strip()]


def from_args(args: argparse.Namespace) -> PineconeEmulator:
    """Build (not start) the emulator the parsed flags describe."""
    if args.no_rate_limits:
        rate_limits: dict[str, float | None] | bool = False
    else:
        rate_limits = dict(args.rate_limit_overrides)
    return PineconeEmulator(
        indexes=args.indexes,
        api_keys=_keys(args.api_keys, API_KEYS_ENV),
        read_only_api_keys=_keys(args.read_only_api_keys, READ_ONLY_API_KEYS_ENV),
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        rate_limits=rate_limits,
        data_dir=args.data_dir,
        seed=args.seed,
        public_host=args.public_host,
        flush_interval=args.flush_interval,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.pinecone",
        description="Local Pinecone emulator: control plane plus one data plane per index.",
    )
    add_arguments(parser)
    return parser


async def serve(emulator: PineconeEmulator, host: str, port: int) -> None:
    """Start, announce every plane on stdout, and serve until cancelled; always closes
    (and so flushes persistence)."""
    try:
        await emulator.start(host, port)
        print(f"pinecone control plane  {emulator.control_url}", flush=True)
        for name in emulator.index_names():
            print(f"pinecone index {name:<10} {emulator.index_host(name)}", flush=True)
        await serve_forever()
    finally:
        await emulator.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    emulator = from_args(args)
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(serve(emulator, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
