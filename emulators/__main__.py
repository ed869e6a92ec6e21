"""`python -m emulators pinecone|gemini|all ...`: run the emulators from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from emulators import gemini as gemini_emulator
from emulators import pinecone as pinecone_emulator
from emulators._runtime import serve_forever


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulators",
        description="Local emulators of the Pinecone and Gemini APIs for development and tests.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    pinecone_parser = commands.add_parser(
        "pinecone", help="Pinecone control plane plus one data plane per index"
    )
    pinecone_emulator.add_arguments(pinecone_parser)
    gemini_parser = commands.add_parser("gemini", help="Gemini batchEmbedContents")
    gemini_emulator.add_arguments(gemini_parser)
    all_parser = commands.add_parser(
        "all", help="both: Pinecone flags as for `pinecone`, Gemini flags prefixed --gemini-"
    )
    pinecone_emulator.add_arguments(all_parser)
    gemini_emulator.add_arguments(all_parser, prefix="gemini-")
    return parser


async def run(args: argparse.Namespace) -> None:
    started: list[pinecone_emulator.PineconeEmulator | gemini_emulator.GeminiEmulator] = []
    try:
        if args.command in ("pinecone", "all"):
            pinecone = pinecone_emulator.from_args(args)
            await pinecone.start(args.host, args.port)
            started.append(pinecone)
            print(f"pinecone control plane  {pinecone.control_url}", flush=True)
            for name in pinecone.index_names():
                print(f"pinecone index {name:<10} {pinecone.index_host(name)}", flush=True)
        if args.command == "gemini":
            gemini = gemini_emulator.from_args(args)
            await gemini.start(args.host, args.port)
            started.append(gemini)
            print(f"gemini                  {gemini.base_url}", flush=True)
        elif args.command == "all":
            gemini = gemini_emulator.from_args(args, prefix="gemini-")
            await gemini.start(args.gemini_host, args.gemini_port)
            started.append(gemini)
            print(f"gemini                  {gemini.base_url}", flush=True)
        await serve_forever()
    finally:
        for emulator in reversed(started):
            await emulator.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
